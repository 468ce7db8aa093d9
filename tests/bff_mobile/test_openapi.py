"""The committed OpenAPI snapshot guards the /v1 contract: old app versions live for years."""

import json
from pathlib import Path

from bff_mobile.app import openapi
from shared.openapi_diff import breaking_changes

SNAPSHOT = Path(__file__).parents[2] / "docs" / "api" / "bff_mobile.openapi.json"


def test_current_api_makes_no_breaking_change_to_the_snapshot() -> None:
    problems = breaking_changes(json.loads(SNAPSHOT.read_text()), openapi())
    assert problems == [], "breaking change(s) to /v1; add a new version instead:\n" + "\n".join(problems)


def test_snapshot_is_up_to_date() -> None:
    # Additive changes are fine but must be recorded: run `make openapi` and commit.
    assert json.loads(SNAPSHOT.read_text()) == openapi(), "run `make openapi` to refresh the snapshot"
