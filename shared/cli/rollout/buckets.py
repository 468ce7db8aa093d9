"""The user buckets of cohort routing, computed as the gateway computes them.

HAProxy (shared/cli/rollout/gateway.py) puts each user in a bucket in [0, 100) with
``xxh32(user + salt) % 100``; a user is on the canary at a step whose cohort holds it when
its bucket is below the step's weight. ``user_bucket`` is the same function, for tests and
for an SRE asking "is this user on the canary?" (the salt is in the gateway's labels map)::

    user_bucket("42", "abc")   # 16: on the canary from a weight of 17 % on
"""

from __future__ import annotations

_P1, _P2, _P3, _P4, _P5 = 2654435761, 2246822519, 3266489917, 668265263, 374761393
_MASK = 0xFFFFFFFF


def _rotl(value: int, bits: int) -> int:
    return ((value << bits) | (value >> (32 - bits))) & _MASK


def xxh32(data: bytes, seed: int = 0) -> int:
    """XXH32, as HAProxy's ``xxh32`` converter computes it (seed 0)."""
    length, offset = len(data), 0
    if length >= 16:
        lanes = [(seed + _P1 + _P2) & _MASK, (seed + _P2) & _MASK, seed & _MASK, (seed - _P1) & _MASK]
        while offset + 16 <= length:
            for i in range(4):
                word = int.from_bytes(data[offset + 4 * i : offset + 4 * i + 4], "little")
                lanes[i] = (_rotl((lanes[i] + word * _P2) & _MASK, 13) * _P1) & _MASK
            offset += 16
        hashed = (_rotl(lanes[0], 1) + _rotl(lanes[1], 7) + _rotl(lanes[2], 12) + _rotl(lanes[3], 18)) & _MASK
    else:
        hashed = (seed + _P5) & _MASK
    hashed = (hashed + length) & _MASK
    while offset + 4 <= length:
        word = int.from_bytes(data[offset : offset + 4], "little")
        hashed = (_rotl((hashed + word * _P3) & _MASK, 17) * _P4) & _MASK
        offset += 4
    for byte in data[offset:]:
        hashed = (_rotl((hashed + byte * _P5) & _MASK, 11) * _P1) & _MASK
    hashed = ((hashed ^ (hashed >> 15)) * _P2) & _MASK
    hashed = ((hashed ^ (hashed >> 13)) * _P3) & _MASK
    return hashed ^ (hashed >> 16)


def user_bucket(user: str, salt: str) -> int:
    """The bucket in [0, 100) the gateway puts ``user`` in under ``salt``: the user is on
    the canary at a step whose cohort it is in when this is below the step's weight.
    (For an SRE asking "is this user on the canary?": ``show map`` gives the salt.)"""
    return xxh32((user + salt).encode()) % 100


__all__ = ["user_bucket", "xxh32"]
