"""One reconnect and retry policy: capped exponential backoff with jitter."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Delays for attempt 0, 1, 2, …: ``min_s × 2**n`` capped at ``max_s``, of which the upper
    half is random (so reconnecting clients spread out and never retry instantly); seconds."""

    min_s: float = 0.1
    max_s: float = 10.0

    def delay_s(self, attempt: int, rng: random.Random | None = None) -> float:
        """The wait before retry number ``attempt`` (0-based), in seconds."""
        base = min(self.max_s, self.min_s * 2 ** min(attempt, 30))
        draw = (rng or random).random()
        return float(base / 2 + draw * base / 2)
