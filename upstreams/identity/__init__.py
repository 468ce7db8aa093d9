"""identity: the OpenID provider whose JWKS verifies callers' tokens. Its stand-in signs
development tokens (``bff-dev-token``)."""

from shared import UpstreamSpec
from upstreams._local import local_regions
from upstreams.identity.client import EXCHANGE_CODE, GET_JWKS, IdentityClient

SPEC = UpstreamSpec(
    name="identity",
    description="OpenID provider: the JWKS that verifies bearer tokens; tokens for browser sign-in codes",
    operations=(GET_JWKS, EXCHANGE_CODE),
    local_regions=local_regions(9190),
    standin_module="upstreams.identity.standin",
)

__all__ = ["EXCHANGE_CODE", "GET_JWKS", "SPEC", "IdentityClient"]
