"""Money as clients see it: a decimal string and a currency, never a float."""

from __future__ import annotations

from pydantic import BaseModel


class Money(BaseModel):
    #: Decimal string, e.g. "89.99", so no client rounds through a float.
    amount: str
    currency: str

    @classmethod
    def of(cls, cents: int, currency: str) -> Money:
        """``Money.of(8999, "EUR")`` → ``{"amount": "89.99", "currency": "EUR"}``."""
        sign = "-" if cents < 0 else ""
        whole, part = divmod(abs(cents), 100)
        return cls(amount=f"{sign}{whole}.{part:02d}", currency=currency)


__all__ = ["Money"]
