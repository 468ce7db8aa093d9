"""Where bff_web shows personal data (read by ``bff pii report`` and its test)."""

from __future__ import annotations

from shared.pii import Exposure
from upstreams.accounts.exposure import profile_exposures


def exposures() -> list[Exposure]:
    return [*profile_exposures("GET /v1/me"), *profile_exposures("graphql Viewer.profile", prefix="")]
