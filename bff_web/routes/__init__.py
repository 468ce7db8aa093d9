"""bff_web's REST endpoints under /v1; handlers parse input and call a screen service."""

from bff_web.routes.me import ENDPOINTS as ME
from bff_web.routes.orders import ENDPOINTS as ORDERS
from bff_web.routes.products import ENDPOINTS as PRODUCTS

ENDPOINTS = [*PRODUCTS, *ORDERS, *ME]

__all__ = ["ENDPOINTS"]
