"""OpenAPI descriptions of the parameters several endpoints share."""

from shared import Param

REGION = Param(
    "region",
    "query",
    {"type": "string", "enum": ["eu", "us", "apac"]},
    "Stock region; defaults to the process's default_stock_region",
    allow_empty=True,
)
