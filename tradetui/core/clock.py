"""Time sources. Live and paper trading run on the wall clock; backtests and tests on a
virtual clock advanced by events, so they never sleep and stay deterministic."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int:
        """Current time, nanoseconds since the epoch."""
        ...


class WallClock:
    """The machine's real-time clock."""

    def now_ns(self) -> int:
        return time.time_ns()


class VirtualClock:
    """A clock that only moves when told to; time never goes backwards."""

    __slots__ = ("_now_ns",)

    def __init__(self, start_ns: int = 0) -> None:
        self._now_ns = start_ns

    def now_ns(self) -> int:
        return self._now_ns

    def advance_to(self, t_ns: int) -> None:
        """Move to ``t_ns`` (ns); earlier times are ignored so the clock stays monotonic."""
        if t_ns > self._now_ns:
            self._now_ns = t_ns
