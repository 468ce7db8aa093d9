"""bff_mobile's REST endpoints, versioned under /v1. Handlers are thin: they parse
input and call a screen service."""

from bff_mobile.routes.home import ENDPOINTS as HOME
from bff_mobile.routes.me import ENDPOINTS as ME
from bff_mobile.routes.orders import ENDPOINTS as ORDERS
from bff_mobile.routes.products import ENDPOINTS as PRODUCTS

ENDPOINTS = [*HOME, *PRODUCTS, *ORDERS, *ME]

__all__ = ["ENDPOINTS"]
