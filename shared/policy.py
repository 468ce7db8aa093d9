"""Call policies as data.

A policy is a frozen pydantic model. Upstream packages declare defaults in code; the
process config overrides them per upstream and per operation. Only the fields an SRE
actually wrote in the YAML override the code default (pydantic's ``model_fields_set``),
so one model serves both as the default and as the override, with no second schema.
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator


class FrozenModel(BaseModel):
    """Base for policy and settings models: immutable, unknown keys refused."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class CallPolicy(FrozenModel):
    """How one upstream operation is called.

    ``connect_timeout`` bounds establishing a connection; ``attempt_timeout`` bounds one
    whole attempt (connect, send, and reading the full body, so a slow-dripping upstream
    still ends). Both are further capped by what is left of the inbound request's deadline.
    """

    connect_timeout: float = Field(default=0.25, gt=0, le=30)
    attempt_timeout: float = Field(default=1.0, gt=0, le=60)
    #: Try the next region in the failover order after a system failure (only for
    #: idempotent operations or writes carrying an Idempotency-Key).
    failover: bool = True

    @model_validator(mode="after")
    def _connect_within_attempt(self) -> Self:
        if self.connect_timeout > self.attempt_timeout:
            raise ValueError(
                f"connect_timeout ({self.connect_timeout}) must not exceed attempt_timeout ({self.attempt_timeout})"
            )
        return self

    def overlaid(self, override: CallPolicy | None) -> CallPolicy:
        """Return this policy with the fields explicitly set in ``override`` replaced."""
        if override is None or not override.model_fields_set:
            return self
        changes = {name: getattr(override, name) for name in override.model_fields_set}
        # Re-validate the merged result so cross-field rules hold for the combination.
        return CallPolicy.model_validate(self.model_dump() | changes)


__all__ = ["CallPolicy", "FrozenModel"]
