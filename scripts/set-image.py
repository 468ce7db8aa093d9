#!/usr/bin/env python3
"""Pin the BFF image in one overlay: `scripts/set-image.py KUSTOMIZATION VERSION DIGEST`.

Sets `newTag` and `digest` of the `bff` entry under `images:` in place, keeping every
comment (the release pipeline, .github/workflows/promote-stage.yml, runs it; so can a person).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def pin(text: str, version: str, digest: str) -> str:
    if not _TAG.fullmatch(version):
        raise ValueError(f"not an image tag: {version!r}")
    if not _DIGEST.fullmatch(digest):
        raise ValueError(f"not an image digest (sha256:<64 hex>): {digest!r}")
    entry = re.search(r"(?m)^images:\n(?:(?:  .*|#.*)?\n)*?  - name: bff\n((?:    .*\n)*)", text)
    if entry is None:
        raise ValueError("no `images:` entry named bff")
    fields = [line for line in entry.group(1).splitlines() if not line.strip().startswith(("newTag:", "digest:"))]
    fields += [f'    newTag: "{version}"', f"    digest: {digest}"]
    return text[: entry.start(1)] + "\n".join(fields) + "\n" + text[entry.end(1) :]


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, version, digest = Path(argv[0]), argv[1], argv[2]
    try:
        path.write_text(pin(path.read_text(), version, digest))
    except ValueError as exc:
        print(f"set-image: {path}: {exc}", file=sys.stderr)
        return 2
    print(f"{path}: bff {version}@{digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
