"""Live estimates of σ and of the order-arrival intensity λ(δ) = A·e^(−kδ).

Both fall back to priors on thin data instead of stalling the quoter. The default priors are
for Binance USD-M BTCUSDT (tick 0.1 USD), from the reference figures in
/work/shared/data/README.md (344 s of recorded bookTicker and trades, 2024-08-08):

- std of 1 s mid changes 7.49 USD ≈ 75 ticks, so σ ≈ 75 ticks/√s;
- 61.9 trades/s, of which 51% / 57% / 65% / 72% print within 0.05 / 0.5 / 2 / 5 USD of the
  prior mid. Distances are multiples of half a tick, so the rates of trades beyond
  1 / 5.5 / 20.5 / 50.5 ticks are 30.3 / 26.6 / 21.7 / 17.3 per second; a least-squares fit of
  ln λ on δ through those gives A ≈ 28.8 /s and k ≈ 0.0107 /tick.
"""

from __future__ import annotations

import math
import sys
from bisect import bisect_right
from collections import deque

BTCUSDT_SIGMA_TICKS = 75.0  # ticks/√s, README: std of 1 s mid changes 7.49 USD
BTCUSDT_A = 28.8  # 1/s, README fit (see module docstring)
BTCUSDT_K = 0.0107  # 1/ticks, README fit (see module docstring)
# Depths in ticks at which λ is measured: the README's 0.5–50 tick range, denser near the touch
# where most trades print.
DEFAULT_GRID_TICKS: tuple[float, ...] = (1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 20.0, 30.0, 50.0)

_NS_PER_S = 1_000_000_000
_LN2 = math.log(2.0)


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


class VolatilityEstimator:
    """EWMA volatility of the mid sampled on a fixed time grid; σ in ticks/√s.

    The mid is a step function: at each grid point (multiples of ``sample_interval_ns``) the
    sample is the last mid seen before it, so bursts of updates inside one interval count once.
    A stretch without updates that spans n grid intervals yields one return over n·interval
    seconds, normalised to a per-second variance and weighted by its duration; a stretch
    longer than ``max_gap_s`` (a feed outage, say) restarts the warm-up, since the old estimate
    is stale and one long return is a poor estimate. The EWMA starts at the prior variance, so
    the first estimates after warm-up are shrunk towards the prior and the shrinkage decays
    with the half-life; before ``min_samples`` grid samples, ``sigma_ticks`` is the prior.
    """

    __slots__ = (
        "_alpha1",
        "_bucket",
        "_interval_ns",
        "_interval_s",
        "_k_decay",
        "_max_gap_buckets",
        "_mid",
        "_min_samples",
        "_prior_var",
        "_sample_mid",
        "_samples",
        "_var",
    )

    def __init__(
        self,
        prior_sigma_ticks: float = BTCUSDT_SIGMA_TICKS,
        halflife_s: float = 60.0,
        sample_interval_ns: int = _NS_PER_S,
        min_samples: int = 30,
        max_gap_s: float | None = None,
    ) -> None:
        _require(
            prior_sigma_ticks > 0 and math.isfinite(prior_sigma_ticks),
            f"prior_sigma_ticks must be > 0 (got {prior_sigma_ticks}); "
            "set it to a typical σ in ticks/√s",
        )
        _require(halflife_s > 0, f"halflife_s must be > 0 (got {halflife_s}); try 60")
        _require(
            sample_interval_ns > 0,
            f"sample_interval_ns must be > 0 (got {sample_interval_ns}); try 1_000_000_000",
        )
        _require(min_samples >= 1, f"min_samples must be >= 1 (got {min_samples}); try 30")
        gap_s = halflife_s if max_gap_s is None else max_gap_s
        self._interval_ns = sample_interval_ns
        self._interval_s = sample_interval_ns / _NS_PER_S
        self._k_decay = _LN2 / halflife_s
        self._alpha1 = -math.expm1(-self._k_decay * self._interval_s)
        self._max_gap_buckets = max(1, int(gap_s * _NS_PER_S // sample_interval_ns))
        self._min_samples = min_samples
        self._prior_var = prior_sigma_ticks * prior_sigma_ticks
        self._var = self._prior_var
        self._samples = 0
        self._bucket: int | None = None
        self._mid = 0.0
        self._sample_mid = 0.0

    @property
    def sigma_ticks(self) -> float:
        """σ in ticks/√s: the prior until ``min_samples`` grid samples, then the EWMA."""
        if self._samples < self._min_samples:
            return math.sqrt(self._prior_var)
        return math.sqrt(self._var)

    @property
    def sample_interval_ns(self) -> int:
        """Spacing of the sampling grid (ns)."""
        return self._interval_ns

    @property
    def samples(self) -> int:
        """Grid intervals observed since the last (re)start."""
        return self._samples

    @property
    def warmed_up(self) -> bool:
        return self._samples >= self._min_samples

    def update(self, t_ns: int, mid_ticks: float) -> None:
        """Record the mid (ticks) in effect from ``t_ns`` on; non-finite mids are ignored."""
        if not math.isfinite(mid_ticks):
            return
        bucket = t_ns // self._interval_ns
        last = self._bucket
        if last is None:
            self._bucket = bucket
            self._sample_mid = self._mid = mid_ticks
            return
        n = bucket - last
        if n > 0:
            if n > self._max_gap_buckets:
                self._var = self._prior_var
                self._samples = 0
                self._sample_mid = self._mid
            else:
                ret = self._mid - self._sample_mid
                if n == 1:
                    alpha = self._alpha1
                    var_per_s = ret * ret / self._interval_s
                else:
                    span_s = n * self._interval_s
                    alpha = -math.expm1(-self._k_decay * span_s)
                    var_per_s = ret * ret / span_s
                self._var += alpha * (var_per_s - self._var)
                self._samples += n
                self._sample_mid = self._mid
            self._bucket = bucket
        self._mid = mid_ticks


class IntensityEstimator:
    """Fit of the order-arrival intensity λ(δ) = A·e^(−kδ) from where trades print.

    A quote resting δ ticks from the mid is reached by every trade printing at least δ from the
    mid, so λ(δ) is the rate of trades with distance ≥ δ, measured over a rolling window on a
    grid of depths. ln λ = ln A − kδ is fitted by ordinary least squares over grid points with
    at least ``min_count`` trades; k is clamped to [k_min, k_max] and A then refitted with k
    fixed, so the pair stays consistent. Until the window holds ``min_trades`` trades and
    ``min_points`` usable grid points, and again whenever it thins out (a quiet market), ``a``
    and ``k`` are the priors. Trades count once each, not per lot: the model is one of order
    arrivals; trades below ``min_trade_lots`` are ignored as dust that would not fill a quote.
    The fit runs at most every ``fit_interval_ns`` (on ``on_trade`` or ``refresh``).
    """

    __slots__ = (
        "_a",
        "_events",
        "_first_ns",
        "_fit_interval_ns",
        "_fitted",
        "_grid",
        "_hist",
        "_k",
        "_k_max",
        "_k_min",
        "_last_fit_ns",
        "_min_count",
        "_min_points",
        "_min_trade_lots",
        "_min_trades",
        "_prior_a",
        "_prior_k",
        "_window_ns",
        "_window_s",
    )

    def __init__(
        self,
        prior_a: float = BTCUSDT_A,
        prior_k: float = BTCUSDT_K,
        window_s: float = 60.0,
        grid_ticks: tuple[float, ...] = DEFAULT_GRID_TICKS,
        min_trades: int = 100,
        min_count: int = 10,
        min_points: int = 3,
        k_min: float = 1e-3,
        k_max: float = 10.0,
        fit_interval_ns: int = _NS_PER_S,
        min_trade_lots: int = 0,
    ) -> None:
        _require(prior_a > 0, f"prior_a must be > 0 (got {prior_a}); set it in trades/s")
        _require(
            0 < k_min <= prior_k <= k_max,
            f"need 0 < k_min <= prior_k <= k_max (got {k_min}, {prior_k}, {k_max}); "
            "widen the k bounds",
        )
        _require(window_s > 0, f"window_s must be > 0 (got {window_s}); try 60")
        _require(
            len(grid_ticks) >= 2 and list(grid_ticks) == sorted(set(grid_ticks)),
            f"grid_ticks must be at least 2 increasing depths (got {grid_ticks})",
        )
        _require(
            2 <= min_points <= len(grid_ticks),
            f"min_points must be in [2, {len(grid_ticks)}] (got {min_points})",
        )
        _require(min_count >= 1, f"min_count must be >= 1 (got {min_count}); try 10")
        _require(fit_interval_ns >= 0, f"fit_interval_ns must be >= 0 (got {fit_interval_ns})")
        self._prior_a = prior_a
        self._prior_k = prior_k
        self._a = prior_a
        self._k = prior_k
        self._fitted = False
        self._window_s = window_s
        self._window_ns = int(window_s * _NS_PER_S)
        self._grid = grid_ticks
        self._min_trades = min_trades
        self._min_count = min_count
        self._min_points = min_points
        self._k_min = k_min
        self._k_max = k_max
        self._fit_interval_ns = fit_interval_ns
        self._min_trade_lots = min_trade_lots
        # _hist[j]: trades in the window that reach exactly j grid depths.
        self._hist = [0] * (len(grid_ticks) + 1)
        self._events: deque[tuple[int, int]] = deque()
        self._first_ns: int | None = None
        self._last_fit_ns: int | None = None

    @property
    def a(self) -> float:
        """A in 1/s (rate of trades at the mid)."""
        return self._a

    @property
    def k(self) -> float:
        """k in 1/ticks (decay of the rate with distance from the mid)."""
        return self._k

    @property
    def fitted(self) -> bool:
        """True when ``a`` and ``k`` come from data rather than the priors."""
        return self._fitted

    def on_trade(self, t_ns: int, price_ticks: int, qty_lots: int, mid_ticks: float) -> None:
        """Record a public trade at ``price_ticks`` against the mid just before it (ticks)."""
        if qty_lots < self._min_trade_lots or not math.isfinite(mid_ticks):
            return
        if self._first_ns is None:
            self._first_ns = t_ns
        level = bisect_right(self._grid, abs(price_ticks - mid_ticks))
        events = self._events
        events.append((t_ns, level))
        self._hist[level] += 1
        if events[0][0] <= t_ns - self._window_ns:  # most trades expire nothing
            self._expire(t_ns)
        if self._last_fit_ns is None or t_ns - self._last_fit_ns >= self._fit_interval_ns:
            self._fit(t_ns)

    def refresh(self, now_ns: int) -> None:
        """Expire old trades and refit now (for timers when no trades arrive)."""
        self._expire(now_ns)
        self._fit(now_ns)

    def rates_per_s(self, now_ns: int) -> list[float]:
        """λ at each grid depth in 1/s over the current window (for display and checks)."""
        span_s = self._span_s(now_ns)
        if span_s <= 0:
            return [0.0] * len(self._grid)
        return [c / span_s for c in self._reach_counts()]

    def _expire(self, now_ns: int) -> None:
        cutoff = now_ns - self._window_ns
        events = self._events
        hist = self._hist
        while events and events[0][0] <= cutoff:
            hist[events.popleft()[1]] -= 1

    def _span_s(self, now_ns: int) -> float:
        if self._first_ns is None:
            return 0.0
        return min(self._window_s, (now_ns - self._first_ns) / _NS_PER_S)

    def _reach_counts(self) -> list[int]:
        """Trades reaching each grid depth (count with level > i), deepest accumulated first."""
        counts = [0] * len(self._grid)
        total = 0
        for i in range(len(self._grid) - 1, -1, -1):
            total += self._hist[i + 1]
            counts[i] = total
        return counts

    def _fit(self, now_ns: int) -> None:
        self._last_fit_ns = now_ns
        span_s = self._span_s(now_ns)
        xs: list[float] = []
        ys: list[float] = []
        if len(self._events) >= self._min_trades and span_s > 0:
            for depth, count in zip(self._grid, self._reach_counts(), strict=True):
                if count >= self._min_count:
                    xs.append(depth)
                    ys.append(math.log(count / span_s))
        if len(xs) < self._min_points:
            self._a, self._k, self._fitted = self._prior_a, self._prior_k, False
            return
        n = len(xs)
        mx = sum(xs) / n
        my = sum(ys) / n
        sxx = sum((x - mx) * (x - mx) for x in xs)
        sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
        k = min(self._k_max, max(self._k_min, -sxy / sxx))
        # ln A = mean(ln λ + kδ): the OLS intercept when k is unclamped, the best A for a
        # clamped k otherwise.
        self._a = math.exp(my + k * mx)
        self._k = k
        self._fitted = True


class AdverseSelectionEstimator:
    """How far the mid moves against our own fills within a horizon: an EWMA in bps.

    For a fill of side s (+1 buy, −1 sell) with the mid at m₀ when the engine learns of it and
    m_H one horizon later, the adverse move is s·(m₀ − m_H)/m₀ × 1e4 bps: positive when the
    market went on through our price (a buy followed by a fall). It is the price-impact part
    of a fill's markout (markout = effective half-spread − adverse move), measured from the
    mid at the fill rather than from the mid we quoted against, so it does not grow by itself
    as quotes widen. The EWMA starts at ``prior_bps`` and each resolved fill moves it by
    1 − 2^(−1/halflife_fills); ``allowance_bps`` is the EWMA floored at 0 (a favourable
    drift never lets quotes inside the fee). Fills are resolved by ``resolve`` at the first
    call at or after their horizon, with the mid of that call; ``due_ns`` is the time of the
    next one (``sys.maxsize`` with none pending), so callers test it before calling.
    """

    __slots__ = ("_alpha", "_ewma", "_horizon_ns", "_max_pending", "_pending", "due_ns", "resolved")

    def __init__(
        self, prior_bps: float, horizon_s: float, halflife_fills: float, max_pending: int = 4096
    ) -> None:
        _require(
            math.isfinite(prior_bps) and prior_bps >= 0,
            f"prior_bps must be >= 0 (got {prior_bps}); "
            "set strategy.adverse_allowance_prior_bps to 0 or more",
        )
        _require(
            math.isfinite(horizon_s) and horizon_s > 0,
            f"horizon_s must be > 0 (got {horizon_s}); set strategy.adverse_horizon_s, e.g. 1",
        )
        _require(
            math.isfinite(halflife_fills) and halflife_fills > 0,
            f"halflife_fills must be > 0 (got {halflife_fills}); "
            "set strategy.adverse_halflife_fills, e.g. 20",
        )
        self._ewma = prior_bps
        self._horizon_ns = int(horizon_s * _NS_PER_S)
        self._alpha = -math.expm1(-_LN2 / halflife_fills)
        self._max_pending = max_pending
        self._pending: deque[tuple[int, int, float]] = deque()
        self.due_ns = sys.maxsize
        self.resolved = 0

    @property
    def allowance_bps(self) -> float:
        """The adverse-selection allowance in bps of the mid: the EWMA, at least 0."""
        return self._ewma if self._ewma > 0.0 else 0.0

    @property
    def ewma_bps(self) -> float:
        """The EWMA itself (negative when fills were followed by moves in our favour)."""
        return self._ewma

    def on_fill(self, t_ns: int, side: int, mid_ticks: float) -> None:
        """Note a fill of ``side`` (+1 buy, −1 sell) seen at ``t_ns`` with the mid in ticks."""
        if not mid_ticks > 0.0 or len(self._pending) >= self._max_pending:
            return
        due = t_ns + self._horizon_ns
        self._pending.append((due, side, mid_ticks))
        if due < self.due_ns:
            self.due_ns = due

    def resolve(self, now_ns: int, mid_ticks: float) -> None:
        """Fold every fill whose horizon has passed into the EWMA, against ``mid_ticks``."""
        pending = self._pending
        alpha = self._alpha
        while pending and pending[0][0] <= now_ns:
            _, side, m0 = pending.popleft()
            adverse = side * (m0 - mid_ticks) / m0 * 1e4
            self._ewma += alpha * (adverse - self._ewma)
            self.resolved += 1
        self.due_ns = pending[0][0] if pending else sys.maxsize
