"""bff_mobile's settings: the shared process settings plus its own keys."""

from __future__ import annotations

from typing import Literal

from shared import ProcessSettings

StockRegion = Literal["eu", "us", "apac"]


class MobileSettings(ProcessSettings):
    #: Stock region used when a request names none (``?region=``).
    default_stock_region: StockRegion = "eu"
    #: How many recommended products the home screen shows.
    home_recommendations: int = 10
    #: How many recent orders the home screen shows.
    home_orders: int = 3
