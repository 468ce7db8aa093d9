"""What a stand-in does wrong, switchable at run time.

``Faults`` is the data (validated, frozen, what ``PUT /_faults`` accepts); ``FaultSwitch``
holds the faults currently in force for one stand-in region, plus the random source that
decides which requests an ``error_rate`` hits.
"""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["NO_FAULTS", "FaultSwitch", "Faults"]


class Faults(BaseModel):
    """Faults applied to every request of one stand-in region (none by default).

    Several may be combined; they apply in this order: ``down`` (drop at once), ``hang``,
    ``latency_ms`` + ``jitter_ms``, ``drop``, ``error_rate``, ``garbage``,
    ``wrong_shape``; ``slow_body_ms`` drips whatever body is finally sent.

    Example: half the requests get 429 with ``Retry-After: 1``, all take 200 ms more::

        Faults(latency_ms=200, error_rate=0.5, error_status=429, retry_after_s=1)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    latency_ms: float = Field(0, ge=0, le=600_000, description="delay added to every request")
    jitter_ms: float = Field(0, ge=0, le=600_000, description="extra delay, uniform in [0, jitter_ms]")
    error_rate: float = Field(0, ge=0, le=1, description="probability of answering with error_status")
    error_status: int = Field(503, description="status of injected errors: 5xx, 408 or 429")
    retry_after_s: int | None = Field(None, ge=0, description="Retry-After header on injected errors")
    hang: bool = Field(False, description="never answer, until cleared or the client leaves")
    drop: bool = Field(False, description="start a response, then close the connection")
    garbage: bool = Field(False, description="answer 200 with a body that is not JSON")
    wrong_shape: bool = Field(False, description="answer 200 with JSON of the wrong shape")
    down: bool = Field(False, description="region down: drop every connection at once")
    slow_body_ms: float = Field(0, ge=0, le=60_000, description="delay between small chunks of the body")

    @field_validator("error_status")
    @classmethod
    def _is_failure_status(cls, status: int) -> int:
        if not (500 <= status <= 599 or status in (408, 429)):
            raise ValueError(f"must be 500-599, 408 or 429, got {status}")
        return status

    @property
    def active(self) -> bool:
        """Whether any fault is switched on."""
        return self != NO_FAULTS


NO_FAULTS = Faults()


class FaultSwitch:
    """The faults in force for one stand-in region.

    Replacing ``current`` is a single assignment, so tests may flip faults from another
    thread while the server runs. ``rng`` decides ``error_rate`` and ``jitter_ms``; pass a
    seeded ``random.Random`` for repeatable runs.
    """

    def __init__(self, rng: random.Random, faults: Faults = NO_FAULTS) -> None:
        self.rng = rng
        self.current = faults

    def set(self, faults: Faults) -> None:
        """Put ``faults`` in force, replacing the previous ones entirely."""
        self.current = faults

    def clear(self) -> None:
        """Switch every fault off."""
        self.current = NO_FAULTS
