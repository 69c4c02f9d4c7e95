"""σ, A and k of the quoting model measured on recorded market data, with a held-out check.

σ is the standard deviation of the mid's change over one second of exchange time (the mid of
each best bid/offer, sampled at every whole second), in ticks/√s. A and k come from the
strategy's own estimator (``IntensityEstimator``): a trade printing δ ticks from the mid just
before it reaches every quote resting nearer, so λ(δ), the rate of trades reaching depth δ,
is counted on a grid of depths and ln λ = ln A − kδ fitted by least squares, as Avellaneda and
Stoikov (2008) and Guéant et al. (2013) do. The held-out check measures the same on data the
fit did not see and reports how far the fitted line misses it: the root mean square of
ln λ_measured − ln λ_fitted over the grid depths with enough trades (0.1 ≈ 10 %), and σ's
relative difference.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from tradetui.core.types import BestBidOffer, MarketEvent, Trade
from tradetui.strategy.estimators import DEFAULT_GRID_TICKS, IntensityEstimator

_NS_PER_S = 1_000_000_000
# Grid depths need this many trades to count in a fit or a check (the estimator's default).
MIN_COUNT = 10
# The counting window: any recording whole (a year).
_WHOLE_S = 365 * 86_400.0


class CalibrationDataError(ValueError):
    """Data too thin to calibrate on (one line naming what is missing)."""


@dataclass(frozen=True, slots=True)
class MarketSample:
    """What one stretch of data shows: its length, σ, trades and λ at each grid depth."""

    seconds: float
    sigma_ticks: float
    trades: int
    depths_ticks: tuple[float, ...]
    rates_per_s: tuple[float, ...]
    counts: tuple[int, ...]
    a: float
    k: float
    fitted: bool


def measure(events: Iterable[MarketEvent], tick_ratio: int = 1) -> MarketSample:
    """σ, λ(δ) and the A, k fit of ``events`` (exchange time; mids from best bid/offers).

    With ``tick_ratio`` n, the result is in ticks n times the events' tick (a fit on a finer
    grid, e.g. spot's 0.01 for a market quoted in 0.1): the depth grid is the engine's grid in
    those coarser ticks, σ and k are converted to them, A (a rate) is unchanged.
    """
    # Counts over the whole stretch, one fit at the end (``refresh``).
    intensity = IntensityEstimator(
        window_s=_WHOLE_S,
        min_trades=MIN_COUNT,
        min_count=MIN_COUNT,
        fit_interval_ns=2**62,
        grid_ticks=tuple(d * tick_ratio for d in DEFAULT_GRID_TICKS),
    )
    mid = 0.0
    second = -1
    sampled: list[float] = []  # the mid in force at each whole second
    trades = 0
    first_trade_ns = last_ns = 0
    for ev in events:
        t = ev.exch_ns
        last_ns = max(last_ns, t)
        if type(ev) is BestBidOffer and 0 < ev.bid_ticks < ev.ask_ticks:
            s = t // _NS_PER_S
            if second >= 0 and s > second:
                sampled.extend([mid] * (s - second))
            second = s
            mid = (ev.bid_ticks + ev.ask_ticks) * 0.5
        elif type(ev) is Trade and mid:
            if not trades:
                first_trade_ns = t
            trades += 1
            intensity.on_trade(t, ev.price_ticks, ev.qty_lots, mid)
    if trades < MIN_COUNT:
        raise CalibrationDataError(
            f"{trades} trades after the first best bid/offer; need {MIN_COUNT} or more"
        )
    if len(sampled) < 3:
        raise CalibrationDataError(f"{len(sampled)} s of best bid/offers; need 3 or more")
    intensity.refresh(last_ns)
    seconds = (last_ns - first_trade_ns) / _NS_PER_S
    rates = intensity.rates_per_s(last_ns)
    return MarketSample(
        seconds=seconds,
        sigma_ticks=statistics.pstdev(b - a for a, b in itertools.pairwise(sampled)) / tick_ratio,
        trades=trades,
        depths_ticks=DEFAULT_GRID_TICKS,
        rates_per_s=tuple(rates),
        counts=tuple(round(r * seconds) for r in rates),
        a=intensity.a,
        k=intensity.k * tick_ratio,
        fitted=intensity.fitted,
    )


def log_rate_rmse(sample: MarketSample, a: float, k: float) -> tuple[float, int]:
    """RMS of ln λ_measured − ln(A·e^(−kδ)) over depths with ``MIN_COUNT`` trades, and how
    many depths that is (nan, 0 when none)."""
    errs = [
        math.log(rate) - (math.log(a) - k * depth)
        for depth, rate, n in zip(
            sample.depths_ticks, sample.rates_per_s, sample.counts, strict=True
        )
        if n >= MIN_COUNT
    ]
    if not errs:
        return math.nan, 0
    return math.sqrt(sum(e * e for e in errs) / len(errs)), len(errs)
