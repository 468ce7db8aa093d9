"""Sampling a server under load with py-spy, and reading the samples.

py-spy is a developer tool, not a project dependency: ``.venv/bin/pip install py-spy``.
It samples with ``--nonblocking`` (never pauses the target), so the profile shows where
time goes without slowing the very thing it watches.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from harness import BenchError, pinned

SAMPLE_RATE_HZ = 250
_REPO = str(Path(__file__).resolve().parent.parent) + "/"
_STDLIB = f"/lib/python{sys.version_info.major}.{sys.version_info.minor}/"


def start_recording(pid: int, seconds: int, raw_path: Path, cpus: str | None) -> subprocess.Popen[bytes]:
    """Start sampling ``pid`` for ``seconds`` into ``raw_path`` (collapsed stacks)."""
    binary = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if binary is None:
        raise BenchError("py-spy is not installed; run `.venv/bin/pip install py-spy` (a dev tool, not a dependency)")
    command = [binary, "record", "--pid", str(pid), "--duration", str(seconds), "--rate", str(SAMPLE_RATE_HZ)]
    command += ["--nonblocking", "--format", "raw", "--output", str(raw_path)]
    return subprocess.Popen(pinned(cpus, command), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def summarize(raw_path: Path, top: int = 25) -> str:
    """Where the samples fall: self time by package, and inclusive time by function.

    Raw lines look like ``outer (path.py:12);inner (path.py:34) 17``: a stack, then how
    many samples had it.
    """
    self_by_area: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw_path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        self_by_area[_area(frames[-1])] += count
        # Each function once per stack, so recursion does not count twice.
        for name in {_function(frame) for frame in frames}:
            inclusive[name] += count
    if not total:
        return f"{raw_path}: no samples (was the target busy?)\n"
    lines = [f"{total} samples at {SAMPLE_RATE_HZ} Hz (idle time excluded)", "", "self time by package/module:"]
    lines += [f"  {100 * n / total:5.1f}%  {area}" for area, n in self_by_area.most_common(top)]
    lines += ["", "inclusive time by function:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines) + "\n"


def _location(frame: str) -> tuple[str, str]:
    """(function, file path) of a frame written as ``function (path:line)``."""
    function, _, rest = frame.partition(" (")
    return function, rest.rsplit(":", 1)[0]


def _short_path(path: str) -> str:
    for marker in ("site-packages/", _STDLIB, _REPO):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def _area(frame: str) -> str:
    """The package (third-party), module (project) or stdlib package of a frame."""
    _, path = _location(frame)
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0]
    if _STDLIB in path:
        module = path.split(_STDLIB, 1)[1]
        return "stdlib " + module.split("/", 1)[0].removesuffix(".py")
    return _short_path(path)


def _function(frame: str) -> str:
    function, path = _location(frame)
    return f"{function} ({_short_path(path)})"
