"""The flatten procedure as a small pure state machine: it decides, the engine acts.

Flatten = cancel every working order, wait for the cancels to confirm, then close the position
with reduce-only taker orders, retrying with capped exponential backoff and jitter until flat.
A remainder below the venue's minimum close size is dust: reported and finished, never retried.
An overall deadline guarantees the procedure ends.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum


class FlattenOutcome(StrEnum):
    FLAT = "flat"
    DUST = "dust"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True)
class CloseOrder:
    """Send a reduce-only taker order of ``qty_lots``; sign of the position decides the side."""

    qty_lots: int


@dataclass(frozen=True, slots=True)
class Wait:
    """Nothing to send now; call again at ``until_ns`` or on the next account event."""

    until_ns: int


@dataclass(frozen=True, slots=True)
class Finished:
    outcome: FlattenOutcome
    detail: str


FlattenStep = CloseOrder | Wait | Finished


class Flattener:
    """Tracks one flatten run: attempts, backoff and the deadline (all times in ns)."""

    __slots__ = ("_backoff_max_ns", "_backoff_ns", "_rng", "attempts", "deadline_ns", "next_try_ns")

    def __init__(
        self, now_ns: int, timeout_ns: int, backoff_ns: int, backoff_max_ns: int, seed: int = 0
    ) -> None:
        self.deadline_ns = now_ns + timeout_ns
        self.next_try_ns = now_ns
        self.attempts = 0
        self._backoff_ns = backoff_ns
        self._backoff_max_ns = backoff_max_ns
        self._rng = random.Random(seed)

    def step(
        self, now_ns: int, position_lots: int, working_orders: int, min_close_lots: int
    ) -> FlattenStep:
        """What to do now given the position and how many of our orders are still working."""
        if position_lots == 0 and working_orders == 0:
            return Finished(FlattenOutcome.FLAT, f"flat after {self.attempts} close attempt(s)")
        if now_ns >= self.deadline_ns:
            return Finished(
                FlattenOutcome.TIMEOUT,
                f"position {position_lots} lots, {working_orders} order(s) still working "
                f"after {self.attempts} attempt(s)",
            )
        if working_orders:
            # Cancels or a close order are in flight; their reports will call us again.
            return Wait(self.deadline_ns)
        if abs(position_lots) < min_close_lots:
            return Finished(
                FlattenOutcome.DUST,
                f"{position_lots} lots left is below the minimum close size of {min_close_lots}",
            )
        if now_ns < self.next_try_ns:
            return Wait(self.next_try_ns)
        delay = min(self._backoff_max_ns, self._backoff_ns << min(self.attempts, 30))
        # Full jitter on the upper half keeps retries spread without ever retrying instantly.
        self.next_try_ns = now_ns + delay // 2 + int(self._rng.random() * (delay // 2))
        self.attempts += 1
        return CloseOrder(abs(position_lots))
