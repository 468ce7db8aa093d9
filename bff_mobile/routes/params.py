"""OpenAPI descriptions of the parameters several endpoints share."""

from shared import Param
from shared.identity import USER_ID_MAX

USER_ID = Param(
    "X-User-Id",
    "header",
    {"type": "integer", "minimum": 1, "maximum": USER_ID_MAX},
    "The calling user (replaced by a bearer token in a later version)",
    required=True,
)
REGION = Param(
    "region",
    "query",
    {"type": "string", "enum": ["eu", "us", "apac"]},
    "Stock region; defaults to the process's default_stock_region",
    allow_empty=True,
)
