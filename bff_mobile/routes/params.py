"""OpenAPI descriptions of the parameters several endpoints share."""

from shared import Param

USER_ID = Param(
    "X-User-Id",
    "header",
    {"type": "integer", "minimum": 1},
    "The calling user (replaced by a bearer token in a later version)",
    required=True,
)
REGION = Param(
    "region",
    "query",
    {"type": "string", "enum": ["eu", "us", "apac"]},
    "Stock region; defaults to the process's default_stock_region",
)
