"""bff_web's settings: the shared process settings plus GraphQL protection."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from shared import FrozenModel, ProcessSettings
from shared.settings import AdminSettings, ServerSettings

StockRegion = Literal["eu", "us", "apac"]


class GraphQLSettings(FrozenModel):
    """Limits on what one GraphQL request may ask for; each refusal names the limit."""

    #: Deepest selection nesting allowed.
    max_depth: int = Field(default=8, ge=1, le=50)
    #: Aliased fields allowed in one document.
    max_aliases: int = Field(default=15, ge=0, le=1000)
    #: Lexical tokens allowed in one document.
    max_tokens: int = Field(default=1500, ge=10, le=100_000)
    #: Estimated cost allowed: every field costs 1, and a list field's selection is
    #: multiplied by its ``first`` argument (or its default page size).
    max_cost: int = Field(default=5000, ge=1, le=10_000_000)
    #: Operations in one batched (JSON array) request.
    max_batch: int = Field(default=5, ge=1, le=100)
    #: Bytes of one document.
    max_document_bytes: int = Field(default=16_384, ge=64)
    introspection: bool = True
    graphiql: bool = True
    #: Accept only documents in the persisted store (the allowlist file, plus those
    #: registered through automatic persisted queries when this is off).
    persisted_only: bool = False
    #: JSON object of sha256 hex → document: the allowlist.
    persisted_queries_file: Path | None = None


class WebAdminSettings(AdminSettings):
    # A class default, not AdminSettings(port=9081): a file or BFF_ADMIN__TOKEN that sets
    # only the token must not move bff_web's admin listener onto bff_mobile's port.
    port: int | None = Field(default=9081, ge=0, le=65535)


class WebSettings(ProcessSettings):
    server: ServerSettings = ServerSettings(port=8081)
    admin: WebAdminSettings = WebAdminSettings()
    graphql: GraphQLSettings = GraphQLSettings()
    #: Stock region used when a request names none.
    default_stock_region: StockRegion = "eu"
