"""What web screen services and resolvers depend on: every upstream client, live settings."""

from __future__ import annotations

from typing import TypeAlias

from starlette.requests import Request

from bff_web.settings import WebSettings
from upstreams.clients import UpstreamClients

WebDeps: TypeAlias = UpstreamClients[WebSettings]


def deps_of(request: Request) -> WebDeps:
    deps: WebDeps = request.state.deps
    return deps
