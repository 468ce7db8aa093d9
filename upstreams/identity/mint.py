"""``bff-dev-token --user 7``: print a development token the local stack accepts."""

from __future__ import annotations

import argparse

from upstreams.identity.keys import mint


def main() -> None:
    parser = argparse.ArgumentParser(prog="bff-dev-token", description="mint a dev token for the local stack")
    parser.add_argument("--user", type=int, required=True, help="user id (1-1000 exist in the stand-ins)")
    parser.add_argument("--minutes", type=int, default=60)
    args = parser.parse_args()
    print(mint(args.user, lifetime=args.minutes * 60))


if __name__ == "__main__":
    main()
