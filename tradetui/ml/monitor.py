"""Live check of the model: hit rate and calibration over the latest resolved predictions.

Each prediction waits until its horizon has passed; it is then scored against the mid of the
first decision at or after t + horizon (decisions come every few hundred ms, so the outcome is
read up to one decision interval late). Over the last ``window`` resolved predictions it keeps
the hit rate (most likely class = outcome), the Brier score and the Brier score of the window's
own class frequencies (a constant forecaster that knew them). ``drifting`` is True while the
model scores worse than that constant: its probabilities no longer carry information.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from tradetui.ml.dataset import DOWN, FLAT, UP

_MIN_RESOLVED = 100


@dataclass(frozen=True, slots=True)
class MonitorStats:
    """Rolling figures over ``n`` resolved predictions (rates in [0, 1], Brier in [0, 2])."""

    n: int
    hit_rate: float
    brier: float
    brier_constant: float
    mean_p_up: float
    up_rate: float
    drifting: bool


class Monitor:
    """Pending predictions and running sums over the resolved window; O(1) per decision."""

    def __init__(self, horizon_ns: int, threshold_ticks: float, window: int = 600) -> None:
        self.horizon_ns = horizon_ns
        self.threshold_ticks = threshold_ticks
        self.window = window
        self._pending: deque[tuple[int, float, float, float, float]] = deque()
        # Resolved: (outcome class, hit 0/1, Brier term, p_up).
        self._done: deque[tuple[int, int, float, float]] = deque()
        self._hits = 0
        self._brier = 0.0
        self._p_up = 0.0
        self._counts = [0, 0, 0]

    def record(
        self, now_ns: int, mid_ticks: float, p_down: float, p_flat: float, p_up: float
    ) -> None:
        """Resolve what is due at ``now_ns`` with ``mid_ticks``, then queue this prediction."""
        pending = self._pending
        thr = self.threshold_ticks
        while pending and pending[0][0] + self.horizon_ns <= now_ns:
            _, mid0, pd, pf, pu = pending.popleft()
            move = mid_ticks - mid0
            outcome = UP if move > thr else DOWN if move < -thr else FLAT
            probs = (pd, pf, pu)
            best = DOWN if pd >= pf and pd >= pu else FLAT if pf >= pu else UP
            self._add(
                outcome,
                int(best == outcome),
                sum((p - (k == outcome)) ** 2 for k, p in enumerate(probs)),
                pu,
            )
        pending.append((now_ns, mid_ticks, p_down, p_flat, p_up))

    def _add(self, outcome: int, hit: int, brier: float, p_up: float) -> None:
        done = self._done
        if len(done) == self.window:
            o, h, b, pu = done.popleft()
            self._counts[o] -= 1
            self._hits -= h
            self._brier -= b
            self._p_up -= pu
        done.append((outcome, hit, brier, p_up))
        self._counts[outcome] += 1
        self._hits += hit
        self._brier += brier
        self._p_up += p_up

    def stats(self) -> MonitorStats:
        n = len(self._done)
        if n == 0:
            return MonitorStats(0, 0.0, 0.0, 0.0, 0.0, 0.0, False)
        freq = [c / n for c in self._counts]
        # Brier of always forecasting the window's own frequencies: 1 − Σ f².
        constant = 1.0 - sum(f * f for f in freq)
        brier = self._brier / n
        return MonitorStats(
            n=n,
            hit_rate=self._hits / n,
            brier=brier,
            brier_constant=constant,
            mean_p_up=self._p_up / n,
            up_rate=freq[UP],
            drifting=n >= _MIN_RESOLVED and brier > constant,
        )
