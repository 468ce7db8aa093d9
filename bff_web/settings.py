"""bff_web's settings: the shared process settings plus GraphQL protection."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal, Self

from pydantic import Field, model_validator

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
    #: Field comparisons validation may make: fields landing on one response key are
    #: compared pairwise (``{ id id id … }`` costs the square of its length), so a small
    #: document could hold the event loop; past this it is refused before validation.
    max_overlap_checks: int = Field(default=1000, ge=100, le=1_000_000)
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


class SessionSettings(FrozenModel):
    """Browser sessions (the BFF pattern): sign-in through the identity provider's
    authorization-code flow with PKCE; the browser keeps only an HttpOnly cookie."""

    enabled: bool = True
    #: ``__Host-`` makes browsers insist on Secure, Path=/ and no Domain.
    cookie_name: str = Field(default="__Host-bff_session", pattern=r"^[A-Za-z0-9_-]+$")
    #: Browsers treat http://localhost and 127.0.0.1 as secure contexts, so this stays on in dev.
    cookie_secure: bool = True
    same_site: Literal["lax", "strict"] = "lax"
    #: A session unused this long ends.
    idle_seconds: float = Field(default=1800, gt=0, le=7 * 86400)
    #: And every session ends this long after sign-in (or when its access token expires).
    max_age_seconds: float = Field(default=8 * 3600, gt=0, le=30 * 86400)
    #: Budget of one session store operation; past it the request gets 503.
    store_timeout_seconds: float = Field(default=0.25, gt=0, le=5)
    #: The browser-facing authorization endpoint of the identity provider.
    authorize_url: str = "http://127.0.0.1:9190/authorize"
    client_id: str = "bff_web"
    #: Where the provider sends the browser back: this process's /auth/callback.
    redirect_uri: str = "http://127.0.0.1:8081/auth/callback"
    #: Where a finished sign-in lands when the login named no ``return_to``.
    post_login_path: str = Field(default="/", pattern=r"^/([^/\\].*)?$")
    #: How long a started sign-in may take.
    login_timeout_seconds: float = Field(default=600, gt=0, le=3600)

    @model_validator(mode="after")
    def _host_cookie_is_secure(self) -> Self:
        if self.cookie_name.startswith("__Host-") and not self.cookie_secure:
            raise ValueError("a cookie_name starting with __Host- needs cookie_secure: true (browsers refuse it)")
        return self


class WebAdminSettings(AdminSettings):
    # A class default, not AdminSettings(port=9081): a file or BFF_ADMIN__TOKEN that sets
    # only the token must not move bff_web's admin listener onto bff_mobile's port.
    port: int | None = Field(default=9081, ge=0, le=65535)


class WebSettings(ProcessSettings):
    RESTART_ONLY: ClassVar[tuple[str, ...]] = (*ProcessSettings.RESTART_ONLY, "sessions")

    server: ServerSettings = ServerSettings(port=8081)
    admin: WebAdminSettings = WebAdminSettings()
    graphql: GraphQLSettings = GraphQLSettings()
    sessions: SessionSettings = SessionSettings()
    #: Stock region used when a request names none.
    default_stock_region: StockRegion = "eu"
