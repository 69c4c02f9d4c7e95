"""The Venue protocol: the only boundary the engine sees between itself and an exchange."""

from __future__ import annotations

from typing import Protocol

from tradetui.core.instrument import Instrument
from tradetui.core.types import OrderIntent


class Venue(Protocol):
    """Accepts order intents without blocking; results come back later as account events."""

    @property
    def instrument(self) -> Instrument: ...

    @property
    def name(self) -> str: ...

    @property
    def clock_offset_ns(self) -> int:
        """The exchange's clock − ours (ns), as the venue measured it: exchange times less
        this are on our clock. 0 when there is one clock (a simulated exchange)."""
        ...

    def submit(self, intent: OrderIntent) -> None:
        """Queue a place or cancel; the outcome arrives as OrderAccepted/Rejected/Fill/..."""
        ...
