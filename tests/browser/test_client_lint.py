"""The reference client's JavaScript passes ESLint (pinned in tests/browser/eslint/'s
package-lock.json; the client itself has no dependencies to pin)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
LINT = Path(__file__).with_name("eslint")
ESLINT = LINT / "node_modules" / ".bin" / "eslint"


@pytest.fixture(scope="module")
def eslint() -> Path:
    """ESLint at its locked version, installed into tests/browser/eslint/ once."""
    if not ESLINT.exists():
        npm = shutil.which("npm")
        if npm is None:
            if os.environ.get("CI"):
                raise RuntimeError("npm is needed to lint the reference client (.ci/run installs it)")
            pytest.skip("no npm: apt-get install npm")
        subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=LINT,
            check=True,
            timeout=300,
        )
    return ESLINT


def test_the_reference_client_passes_eslint(eslint: Path) -> None:
    config = LINT / "eslint.config.js"
    result = subprocess.run(
        [str(eslint), "--max-warnings", "0", "--config", str(config), "bff_web/reference_client/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
