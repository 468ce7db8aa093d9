"""The accounts service's answers. Personal data is marked ``PII`` field by field."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel

from shared.pii import PII

StockRegion = Literal["eu", "us", "apac"]


class Address(BaseModel):
    street: Annotated[str, PII]
    city: str
    postal_code: Annotated[str, PII]
    country: str


class User(BaseModel):
    id: int
    name: Annotated[str, PII]
    email: Annotated[str, PII]
    phone: Annotated[str, PII]
    birth_date: Annotated[date, PII]
    address: Address
    home_region: StockRegion
    member_since: date
