"""Authentication: bearer JWTs verified against a JWKS, as pure ASGI middleware."""

from shared.auth.middleware import AuthMiddleware
from shared.auth.verifier import DeferredJwks, JwksFetcher, TokenVerifier

__all__ = ["AuthMiddleware", "DeferredJwks", "JwksFetcher", "TokenVerifier"]
