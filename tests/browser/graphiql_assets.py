"""GraphiQL's scripts and styles, for a browser on a closed network.

bff_web's GraphiQL page (Strawberry's) loads React, GraphiQL and its plugin from unpkg,
each pinned by version and by Subresource Integrity hash in the page itself. These tests
fetch the same npm packages through the npm registry (``npm pack``, once, into pytest's
cache) and answer the page's unpkg requests from them; the browser still checks every
file against the page's integrity hash, so nothing but the pinned bytes can run.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

from playwright.sync_api import BrowserContext, Route

UNPKG = "https://unpkg.com/"
#: ``https://unpkg.com/<package>@<version>/<path>``, the package maybe scoped.
_ASSET = re.compile(r"https://unpkg\.com/((?:@[\w.-]+/)?[\w.-]+)@([\w.-]+)/([^\"'\s]+)")


def pinned_assets(html: str) -> set[tuple[str, str, str]]:
    """Every ``(package, version, path)`` the page loads from unpkg."""
    return {(match[1], match[2], match[3]) for match in _ASSET.finditer(html)}


def unpack_packages(assets: set[tuple[str, str, str]], cache: Path) -> None:
    """``npm pack`` each package at its version into ``cache/<package>@<version>/``, once."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("GraphiQL's assets come from the npm registry: install npm (.ci/run does)")
    for package, version in sorted({(package, version) for package, version, _ in assets}):
        target = cache / f"{package}@{version}"
        if (target / "package.json").exists():
            continue
        cache.mkdir(parents=True, exist_ok=True)
        packed = subprocess.run(
            [npm, "pack", f"{package}@{version}", "--json", "--pack-destination", str(cache)],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        tarball = cache / json.loads(packed.stdout)[0]["filename"]
        with tarfile.open(tarball) as archive:
            archive.extractall(cache / "extract", filter="data")
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        (cache / "extract" / "package").rename(target)
        tarball.unlink()


def serve_from(context: BrowserContext, cache: Path) -> None:
    """Answer ``context``'s unpkg requests from ``cache``; anything not there is a 404."""

    def answer(route: Route) -> None:
        match = _ASSET.match(route.request.url)
        file = cache / f"{match[1]}@{match[2]}" / match[3] if match else None
        if file is None or not file.is_file():
            route.fulfill(status=404, body="not among the pinned packages")
            return
        media = "text/css" if file.suffix == ".css" else "text/javascript"
        route.fulfill(
            status=200, body=file.read_bytes(), headers={"Content-Type": media, "Access-Control-Allow-Origin": "*"}
        )

    context.route(f"{UNPKG}**", answer)
