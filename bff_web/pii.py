"""Where bff_web shows personal data (read by ``bff pii report`` and its test)."""

from __future__ import annotations

from dataclasses import replace

from strawberry.utils.str_converters import to_camel_case

from shared.pii import Exposure
from upstreams.accounts.exposure import profile_exposures


def exposures() -> list[Exposure]:
    # GraphQL names fields in camelCase (``address.postalCode``): declare them as clients see them.
    graphql = [
        replace(exposure, field=".".join(to_camel_case(part) for part in exposure.field.split(".")))
        for exposure in profile_exposures("graphql Viewer.profile")
    ]
    return [*profile_exposures("GET /v1/me"), *graphql]
