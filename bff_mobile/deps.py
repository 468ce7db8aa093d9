"""What mobile screen services depend on: every upstream client, and the live settings."""

from __future__ import annotations

from typing import TypeAlias

from starlette.requests import Request

from bff_mobile.settings import MobileSettings
from upstreams.clients import UpstreamClients

MobileDeps: TypeAlias = UpstreamClients[MobileSettings]


def deps_of(request: Request) -> MobileDeps:
    deps: MobileDeps = request.state.deps
    return deps
