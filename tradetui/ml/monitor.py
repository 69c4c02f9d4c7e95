"""Live check of the model: hit rate and calibration over the latest resolved predictions.

Each prediction waits until its horizon has passed; it is then scored against the mid of the
first decision at or after t + horizon (decisions come every few hundred ms, so the outcome is
read up to one decision interval late; a prediction read more than ``max_late_ns`` late, e.g.
after quoting was stopped for a while, is dropped unscored). Over the last ``window`` resolved
predictions it keeps:

- the hit rate: how often the most likely class came true, in [0, 1];
- the Brier score (Σ over classes of (p − outcome)², in [0, 2]) and the Brier score of a
  constant forecast of the window's own class frequencies, 1 − Σ f²;
- calibration: mean predicted p_up and p_down against the realized up and down rates.

The model is *drifting* once at least ``thresholds.min_predictions`` are resolved and any of
the configured limits is crossed (hit rate too low, Brier too far above the constant forecast,
calibration gap too wide); ``MonitorStats.drift_reasons`` names the limits that fired.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass

from tradetui.ml.dataset import DOWN, FLAT, UP


@dataclass(frozen=True, slots=True)
class DriftThresholds:
    """Limits of the live check (rates in [0, 1]; Brier excess in Brier units)."""

    min_predictions: int = 100
    min_hit_rate: float = 0.34
    max_brier_excess: float = 0.0
    max_calibration_gap: float = 0.10


@dataclass(frozen=True, slots=True)
class MonitorStats:
    """Rolling figures over ``n`` resolved predictions (rates in [0, 1], Brier in [0, 2])."""

    n: int
    hit_rate: float
    brier: float
    brier_constant: float
    mean_p_up: float
    up_rate: float
    mean_p_down: float
    down_rate: float
    drift_reasons: tuple[str, ...] = ()

    @property
    def drifting(self) -> bool:
        return bool(self.drift_reasons)

    @property
    def calibration_gap(self) -> float:
        """Largest |mean predicted − realized| of the up and down classes, [0, 1]."""
        return max(abs(self.mean_p_up - self.up_rate), abs(self.mean_p_down - self.down_rate))


_EMPTY = MonitorStats(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


class Monitor:
    """Pending predictions and running sums over the resolved window; O(1) per decision."""

    def __init__(
        self,
        horizon_ns: int,
        threshold_bps: float,
        window: int = 600,
        thresholds: DriftThresholds | None = None,
        max_late_ns: int | None = None,
    ) -> None:
        self.horizon_ns = horizon_ns
        self.threshold_bps = threshold_bps
        self.window = window
        self.thresholds = thresholds or DriftThresholds()
        # Default: an outcome read over 20 % more than the horizon (at least 1 s) is not scored.
        self.max_late_ns = (
            max(1_000_000_000, horizon_ns // 5) if max_late_ns is None else max_late_ns
        )
        self.dropped = 0
        self._pending: deque[tuple[int, float, float, float, float]] = deque()
        # Resolved: (outcome class, hit 0/1, Brier term, p_up, p_down).
        self._done: deque[tuple[int, int, float, float, float]] = deque()
        self._hits = 0
        self._brier = 0.0
        self._p_up = 0.0
        self._p_down = 0.0
        self._counts = [0, 0, 0]

    def record(
        self, now_ns: int, log_mid_bps: float, p_down: float, p_flat: float, p_up: float
    ) -> None:
        """Resolve what is due at ``now_ns`` with ``log_mid_bps`` (10⁴ · ln mid, so a difference
        is the move in bps, as in training's labels), then queue this prediction."""
        pending = self._pending
        thr = self.threshold_bps
        due = now_ns - self.horizon_ns
        while pending and pending[0][0] <= due:
            t0, log_mid0, pd, pf, pu = pending.popleft()
            if due - t0 > self.max_late_ns:
                self.dropped += 1
                continue
            move = log_mid_bps - log_mid0
            outcome = UP if move > thr else DOWN if move < -thr else FLAT
            best = DOWN if pd >= pf and pd >= pu else FLAT if pf >= pu else UP
            brier = (
                (pd - (outcome == DOWN)) ** 2
                + (pf - (outcome == FLAT)) ** 2
                + (pu - (outcome == UP)) ** 2
            )
            self._add(outcome, int(best == outcome), brier, pu, pd)
        pending.append((now_ns, log_mid_bps, p_down, p_flat, p_up))

    def _add(self, outcome: int, hit: int, brier: float, p_up: float, p_down: float) -> None:
        done = self._done
        if len(done) == self.window:
            o, h, b, pu, pd = done.popleft()
            self._counts[o] -= 1
            self._hits -= h
            self._brier -= b
            self._p_up -= pu
            self._p_down -= pd
        done.append((outcome, hit, brier, p_up, p_down))
        self._counts[outcome] += 1
        self._hits += hit
        self._brier += brier
        self._p_up += p_up
        self._p_down += p_down

    @property
    def resolved(self) -> int:
        """Predictions in the window now."""
        return len(self._done)

    def stats(self) -> MonitorStats:
        n = len(self._done)
        if n == 0:
            return _EMPTY
        freq = [c / n for c in self._counts]
        st = MonitorStats(
            n=n,
            hit_rate=self._hits / n,
            brier=self._brier / n,
            # Brier of always forecasting the window's own frequencies: 1 − Σ f².
            brier_constant=1.0 - sum(f * f for f in freq),
            mean_p_up=self._p_up / n,
            up_rate=freq[UP],
            mean_p_down=self._p_down / n,
            down_rate=freq[DOWN],
        )
        reasons = drift_reasons(st, self.thresholds)
        return dataclasses.replace(st, drift_reasons=reasons) if reasons else st


def drift_reasons(st: MonitorStats, th: DriftThresholds) -> tuple[str, ...]:
    """The limits of ``th`` that ``st`` crosses (empty below ``th.min_predictions``)."""
    if st.n < th.min_predictions:
        return ()
    out: list[str] = []
    if st.hit_rate < th.min_hit_rate:
        out.append(f"hit rate {st.hit_rate:.2f} < {th.min_hit_rate:g}")
    if st.brier - st.brier_constant > th.max_brier_excess:
        out.append(f"Brier {st.brier:.3f} > constant forecast {st.brier_constant:.3f}")
    if st.calibration_gap > th.max_calibration_gap:
        out.append(f"calibration gap {st.calibration_gap:.2f} > {th.max_calibration_gap:g}")
    return tuple(out)
