"""The response cache: Redis shared by every replica, in-process when none is configured.

Sits in front of the resilience pipeline (see ``shared.upstream_client``): fresh entries
are served without calling the upstream; stale ones while one background refresh runs,
or when the upstream fails; identical concurrent misses make one call.
"""

from shared.cache.keys import CacheKeys
from shared.cache.response_cache import CacheResult, ResponseCache, build_response_cache
from shared.cache.sealing import Sealer

__all__ = ["CacheKeys", "CacheResult", "ResponseCache", "Sealer", "build_response_cache"]
