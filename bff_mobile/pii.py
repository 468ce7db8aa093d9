"""Where bff_mobile shows personal data (read by ``bff pii report`` and its test)."""

from __future__ import annotations

from shared.pii import Exposure
from upstreams.accounts.exposure import OPERATION, profile_exposures


def exposures() -> list[Exposure]:
    return [
        *profile_exposures("GET /v1/me"),
        Exposure("GET /v1/home", "greeting", OPERATION, "name", "first name only"),
    ]
