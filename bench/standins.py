"""``bff standins`` on uvloop, as the benchmarks run it::

    python bench/standins.py      # same servers, ports and control API as `bff standins`

The stand-ins are the load's backend, not under test, and they share a core with wrk, so
they should cost as little CPU as possible: uvloop, as every target under test uses.
It also sidesteps a problem of the stdlib loop here: ``shared/cli/servers.py`` binds its
sockets with protocol 0, so asyncio never sets TCP_NODELAY on accepted connections and
every response after the first on a keep-alive connection waits ~40 ms for a delayed ACK
(``run_home.py`` checks the round trip before it measures anything).
"""

from __future__ import annotations

import asyncio
import sys

import uvloop

from shared.cli import main

if __name__ == "__main__":
    # asyncio.run() inside `bff standins` takes its loop from the policy (Python 3.11).
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    sys.exit(main(["standins", *sys.argv[1:]]))
