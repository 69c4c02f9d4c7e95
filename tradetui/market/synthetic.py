"""A synthetic L2 market for any instrument, emitted as venue events.

The default parameters are measured on Binance USD-M BTCUSDT; ``params_for`` scales them (or a
calibration measured from any recording by ``bench/calibrate_synthetic.py --out``) to another
instrument: volatility kept relative to the price, sizes kept as quote notional and expressed
in the instrument's order units (contracts for inverse contracts), the tick-level shape
(spreads, touch moves, depth profile) kept in ticks of the instrument.

The model, in ticks and lots of the instrument:

- A latent anchor price moves by compound-Poisson jumps whose sizes follow the measured touch
  moves; the jump rate is set so the 1 s mid change has the calibrated standard deviation.
  Jumps are symmetric, so the price is a driftless random walk.
- Taker orders arrive as a Poisson process. Each prints a number of trades (measured table) of
  measured sizes, consuming the touch and walking deeper levels when it runs out. The largest
  orders are sweeps: they also move the anchor, which is how real sweeps print far from the mid.
- Makers re-quote the touch around the anchor (spread drawn from the measured distribution,
  touch size from the measured table); behind the touch the book follows a banded depth profile
  (occupancy and size by distance) and is refreshed at random distances on a fixed diff interval.

Every change to the touch is published at once as a BookDelta followed by a BestBidOffer, so a
book rebuilt from the deltas agrees with every BBO; deeper changes are batched per diff interval.
Delta ids chain like USD-M (``prev_id`` == previous ``last_id``, one id per level change).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import numpy.typing as npt

from tradetui.core.instrument import Instrument
from tradetui.core.types import (
    BestBidOffer,
    BookDelta,
    BookSnapshot,
    Level,
    MarketEvent,
    Side,
    Trade,
)

# Quantile tables are (cumulative probability, value) knots sampled by inverse CDF with
# log-linear interpolation between knots, so heavy right tails are kept without a fitted form.
QuantileTable = tuple[tuple[float, float], ...]
# Depth bands: (first distance from the own touch in ticks, occupied share, median size in
# order units).
DepthBands = tuple[tuple[int, float, float], ...]

_CHUNK = 4096
_NS_PER_S = 1_000_000_000
_FIRST_UPDATE_ID = 1_000_000
_FIRST_TRADE_ID = 1

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
T = TypeVar("T", int, float)


@dataclass(frozen=True, slots=True)
class SyntheticParams:
    """Model parameters; the defaults are measured from a real recording (see each comment).

    Prices are in the quote currency of the instrument measured (``venue``:``symbol``), sizes
    in its order units (base for spot and linear contracts, contracts for inverse ones),
    distances in its ticks.
    """

    # The instrument the figures were measured on, and what one of its order units is worth
    # (base per unit when linear, quote per contract when inverse).
    venue: str = "binanceusdm"
    symbol: str = "BTCUSDT"
    base: str = "BTC"
    quote: str = "USDT"
    inverse: bool = False
    contract_size: float = 1.0
    # Mid of the recording's REST snapshot (61800.20 / 61800.30).
    start_price_quote: float = 61_800.0
    # Std of 1 s mid changes 7.46 USD (≈75 ticks; reference 7.49).  BTCUSDT USD-M 2024-08-08,
    # bench/calibrate_synthetic.py
    mid_std_1s_quote: float = 7.46
    # Touch moves (absolute best-bid change, ticks), 3.9/s; only their shape is used, the rate
    # follows from mid_std_1s_quote.  BTCUSDT USD-M 2024-08-08, bench/calibrate_synthetic.py
    jump_quantiles_ticks: QuantileTable = (
        (0.0, 1),
        (0.2, 2),
        (0.3, 3),
        (0.4, 5),
        (0.5, 8),
        (0.6, 10),
        (0.7, 14),
        (0.8, 19),
        (0.9, 32),
        (0.95, 56),
        (0.98, 86),
        (0.99, 129),
        (0.995, 180),
        (0.999, 557),
        (1.0, 671),
    )
    # Trades (prints) 61.9/s.  BTCUSDT USD-M 2024-08-08, bench/calibrate_synthetic.py
    trade_rate_per_s: float = 61.9
    # Print size, BTC: median 0.016, p90 0.265, p99 1.146, mean 0.114.  BTCUSDT USD-M
    # 2024-08-08, bench/calibrate_synthetic.py
    trade_size_quantiles_units: QuantileTable = (
        (0.0, 0.001),
        (0.1, 0.002),
        (0.2, 0.002),
        (0.3, 0.004),
        (0.4, 0.008),
        (0.5, 0.016),
        (0.6, 0.03),
        (0.7, 0.056),
        (0.8, 0.11),
        (0.9, 0.265),
        (0.95, 0.486),
        (0.98, 0.8),
        (0.99, 1.146),
        (0.995, 1.965),
        (0.999, 5.9),
        (1.0, 46.0),
    )
    # Prints per taker order (same ms and side): 15.8 orders/s, mean 3.9 prints.  BTCUSDT
    # USD-M 2024-08-08, bench/calibrate_synthetic.py
    prints_per_order_quantiles: QuantileTable = (
        (0.0, 1),
        (0.6, 1),
        (0.7, 2),
        (0.8, 3),
        (0.9, 7),
        (0.95, 12),
        (0.98, 25),
        (0.99, 45),
        (0.995, 68),
        (0.999, 315),
        (1.0, 348),
    )
    # Orders with at least this many prints are sweeps that move the anchor (real: the 85
    # orders spanning > 50 ticks carried 33% of prints).  BTCUSDT USD-M 2024-08-08,
    # bench/calibrate_synthetic.py
    sweep_min_prints: int = 30
    # Sweeps draw their move from the jump table above this cumulative probability (≥ 32 ticks).
    sweep_jump_quantile: float = 0.9
    # Share of prints whose buyer is the maker (aggressor SELL) 0.549.  BTCUSDT USD-M
    # 2024-08-08, bench/calibrate_synthetic.py
    buyer_maker_share: float = 0.549
    # Spread: one tick in 94.2% of bookTickers; the rest follow the wide table (p99 29 ticks
    # overall).  BTCUSDT USD-M 2024-08-08, bench/calibrate_synthetic.py
    one_tick_spread_share: float = 0.942
    wide_spread_quantiles_ticks: QuantileTable = (
        (0.0, 2),
        (0.2, 3),
        (0.3, 4),
        (0.4, 5),
        (0.5, 8),
        (0.6, 11),
        (0.7, 17),
        (0.8, 24),
        (0.9, 41),
        (0.95, 71),
        (0.98, 131),
        (1.0, 243),
    )
    # Touch size, BTC: median 2.68 a side.  BTCUSDT USD-M 2024-08-08,
    # bench/calibrate_synthetic.py
    touch_size_quantiles_units: QuantileTable = (
        (0.0, 0.001),
        (0.1, 0.08),
        (0.2, 0.362),
        (0.3, 0.996),
        (0.4, 1.837),
        (0.5, 2.677),
        (0.6, 3.432),
        (0.7, 4.3),
        (0.8, 5.714),
        (0.9, 8.467),
        (0.95, 11.157),
        (0.98, 16.28),
        (0.99, 23.459),
        (1.0, 50.0),
    )
    # Behind the touch: ticks 1-9 occupied ~20% (book sampled each second), then the
    # snapshot's bands 10-49 / 50-199 / 200-999 ticks; about 640 levels a side.  BTCUSDT USD-M
    # 2024-08-08, bench/calibrate_synthetic.py
    depth_bands: DepthBands = (
        (1, 0.15, 0.06),
        (10, 0.19, 0.054),
        (50, 0.5, 0.055),
        (200, 0.69, 0.092),
    )
    # Log-size spread of non-touch levels (diff sizes: p25 0.019, p75 0.64 BTC).  BTCUSDT
    # USD-M 2024-08-08, bench/calibrate_synthetic.py
    depth_size_log_sigma: float = 1.6
    # Levels farther than this from the own touch are dropped, which bounds the book.
    book_half_width_ticks: int = 1000
    # Depth diffs ran 19.0/s on the @0ms stream.  BTCUSDT USD-M 2024-08-08,
    # bench/calibrate_synthetic.py
    depth_diff_interval_ns: int = 52_600_000
    # Level changes behind the touch; with the touch changes the total is ≈1,290/s (real
    # 1,288/s).  BTCUSDT USD-M 2024-08-08, bench/calibrate_synthetic.py
    deep_updates_per_s: float = 1_000.0
    # bookTicker 191.9/s: makers re-quote the touch at this rate minus orders and jumps.
    # BTCUSDT USD-M 2024-08-08, bench/calibrate_synthetic.py
    book_ticker_rate_per_s: float = 191.9
    # Not measurable from the recording (its clock ran 1.27 s behind the exchange); a typical
    # one-way delay to a nearby host.
    feed_latency_ns: int = 5_000_000


def _inverse_cdf(table: QuantileTable) -> Callable[[FloatArray], FloatArray]:
    probs = np.array([p for p, _ in table], dtype=np.float64)
    logs = np.log(np.array([v for _, v in table], dtype=np.float64))

    def sample(u: FloatArray) -> FloatArray:
        return np.exp(np.interp(u, probs, logs))

    return sample


def _grid(lo: float = 0.0, hi: float = 1.0, n: int = 100_000) -> FloatArray:
    """Midpoints of ``n`` equal cells of [lo, hi]: quadrature for a table's moments."""
    return lo + (hi - lo) * (np.arange(n, dtype=np.float64) + 0.5) / n


def _as_ticks(x: FloatArray) -> IntArray:
    return np.maximum(1, np.rint(x)).astype(np.int64)


class _Pool(Generic[T]):
    """Random draws made in vectorized chunks, handed out one at a time."""

    __slots__ = ("_buf", "_draw", "_i")

    def __init__(self, draw: Callable[[int], list[T]]) -> None:
        self._draw: Callable[[int], list[T]] = draw
        self._buf: list[T] = []
        self._i = 0

    def next(self) -> T:
        if self._i == len(self._buf):
            self._buf = self._draw(_CHUNK)
            self._i = 0
        v = self._buf[self._i]
        self._i += 1
        return v


@dataclass(frozen=True, slots=True)
class _Rates:
    """Event rates (per second) that make the stream hit the calibrated targets."""

    order_per_s: float
    quiet_jump_per_s: float
    requote_per_s: float
    p_sell_ordinary: float

    @property
    def total_per_s(self) -> float:
        return self.order_per_s + self.quiet_jump_per_s + self.requote_per_s

    @classmethod
    def from_params(cls, p: SyntheticParams, tick: float) -> _Rates:
        """Orders from the print rate, quiet jumps from the variance sweeps leave, re-quotes
        from the bookTicker rate; moments come from the same tables the sampler uses."""
        jump = _inverse_cdf(p.jump_quantiles_ticks)
        prints = _as_ticks(_inverse_cdf(p.prints_per_order_quantiles)(_grid()))
        is_sweep = prints >= p.sweep_min_prints
        order = p.trade_rate_per_s / float(prints.mean())
        sweep_print_share = float(prints[is_sweep].sum() / prints.sum())
        k2_all = float((_as_ticks(jump(_grid())) ** 2).mean())
        k2_sweep = float((_as_ticks(jump(_grid(p.sweep_jump_quantile))) ** 2).mean())
        var_ticks2 = (p.mid_std_1s_quote / tick) ** 2
        quiet = max(0.0, var_ticks2 - order * float(is_sweep.mean()) * k2_sweep) / k2_all
        # Sweeps are side-neutral (no drift), so ordinary orders carry the seller imbalance.
        p_sell = (p.buyer_maker_share - 0.5 * sweep_print_share) / (1.0 - sweep_print_share)
        return cls(
            order_per_s=order,
            quiet_jump_per_s=quiet,
            requote_per_s=max(0.0, p.book_ticker_rate_per_s - order - quiet),
            p_sell_ordinary=min(1.0, max(0.0, p_sell)),
        )


class SyntheticMarket:
    """An endless, seeded market stream for one instrument (see the module docstring)."""

    def __init__(
        self,
        instrument: Instrument,
        params: SyntheticParams = SyntheticParams(),
        seed: int = 0,
        start_ns: int = 0,
    ) -> None:
        self.instrument = instrument
        self.params = params
        self.seed = seed
        self.start_ns = start_ns
        self._rng = np.random.default_rng(seed)
        p, rng, lot = params, self._rng, instrument.lot

        jump = _inverse_cdf(p.jump_quantiles_ticks)
        prints = _inverse_cdf(p.prints_per_order_quantiles)
        size = _inverse_cdf(p.trade_size_quantiles_units)
        touch = _inverse_cdf(p.touch_size_quantiles_units)
        wide = _inverse_cdf(p.wide_spread_quantiles_ticks)
        q_sweep = p.sweep_jump_quantile

        rates = _Rates.from_params(p, instrument.tick)
        self._p_order = rates.order_per_s / rates.total_per_s
        self._p_jump = (rates.order_per_s + rates.quiet_jump_per_s) / rates.total_per_s
        self._mean_gap_ns = _NS_PER_S / rates.total_per_s
        self._p_sell = rates.p_sell_ordinary

        self._u = _Pool[float](lambda n: rng.random(n).tolist())
        self._gap_ns = _Pool[float](lambda n: rng.exponential(self._mean_gap_ns, n).tolist())
        self._jump = _Pool[int](lambda n: _as_ticks(jump(rng.random(n))).tolist())
        self._sweep_jump = _Pool[int](
            lambda n: _as_ticks(jump(q_sweep + (1 - q_sweep) * rng.random(n))).tolist()
        )
        self._prints = _Pool[int](lambda n: _as_ticks(prints(rng.random(n))).tolist())
        self._print_lots = _Pool[int](lambda n: _as_ticks(size(rng.random(n)) / lot).tolist())
        self._touch_lots = _Pool[int](lambda n: _as_ticks(touch(rng.random(n)) / lot).tolist())
        one = p.one_tick_spread_share

        def spreads(n: int) -> list[int]:
            u = rng.random(n)
            wide_u = np.clip((u - one) / (1 - one), 0.0, 1.0)
            drawn: list[int] = np.where(u < one, 1, _as_ticks(wide(wide_u))).tolist()
            return drawn

        self._spread = _Pool[int](spreads)

        # Depth profile per distance d = 0..W from the own touch (index 0 unused).
        w = p.book_half_width_ticks
        self._w = w
        self._occ = np.zeros(w + 1)
        self._log_med = np.zeros(w + 1)
        for start, occupied, median_units in p.depth_bands:
            self._occ[start:] = occupied
            self._log_med[start:] = math.log(median_units / lot)
        # A picked level flips presence with these odds, which keeps its occupancy stationary.
        scale = 1.0 / np.maximum(self._occ[1:], 1.0 - self._occ[1:])
        self._p_add = np.r_[0.0, self._occ[1:] * scale]
        self._p_remove = np.r_[1.0, (1.0 - self._occ[1:]) * scale]
        self._deep_mean = p.deep_updates_per_s * p.depth_diff_interval_ns / _NS_PER_S

        # Dense ladders indexed by price_ticks - base; re-based when the touch nears an end.
        self._n = 8 * w
        self._base = 0
        self._bids: IntArray = np.zeros(self._n, dtype=np.int64)
        self._asks: IntArray = np.zeros(self._n, dtype=np.int64)
        self._bid = 0
        self._ask = 0
        self._anchor = 0
        self._pend_b: dict[int, int] = {}
        self._pend_a: dict[int, int] = {}
        self._update_id = _FIRST_UPDATE_ID
        self._trade_id = _FIRST_TRADE_ID
        self._last_bbo = (0, 0, 0, 0)
        self._started = False

    # ---- the stream ---------------------------------------------------------------------------

    def events(self) -> Iterator[MarketEvent]:
        """Snapshot, then deltas, BBOs and trades in exchange-time order, without end.

        One stream per market: the state it describes is the market's own.
        """
        if self._started:
            raise RuntimeError("SyntheticMarket.events() can be iterated only once")
        self._started = True
        yield from self._start()
        interval = self.params.depth_diff_interval_ns
        next_tick = self.start_ns + interval
        t = float(self.start_ns)
        out: list[MarketEvent] = []
        gap, u = self._gap_ns, self._u
        p_order, p_jump = self._p_order, self._p_jump
        while True:
            t += gap.next()
            t_ns = int(t)
            while next_tick <= t_ns:
                self._deep_refresh(next_tick, out)
                next_tick += interval
            kind = u.next()
            if kind < p_order:
                self._taker_order(t_ns, out)
            elif kind < p_jump:
                self._move_anchor(self._signed(self._jump.next()))
                self._requote(None)
            else:
                self._requote(Side.BUY if u.next() < 0.5 else Side.SELL)
            self._publish(t_ns, out)
            yield from out
            out.clear()

    def _start(self) -> list[MarketEvent]:
        inst, w = self.instrument, self._w
        self._anchor = max(w + 2, inst.quantize_price(self.params.start_price_quote, Side.BUY))
        self._rebase()
        spread = self._spread.next()
        self._bid, self._ask = self._touch_targets(spread)
        self._fill(Side.BUY, self._bid - w - 1, self._bid)
        self._fill(Side.SELL, self._ask + w + 1, self._ask)
        self._bids[self._bid - self._base] = self._touch_lots.next()
        self._asks[self._ask - self._base] = self._touch_lots.next()
        self._pend_b.clear()
        self._pend_a.clear()
        t, lat = self.start_ns, self.params.feed_latency_ns
        bid_idx = np.flatnonzero(self._bids)[::-1]
        ask_idx = np.flatnonzero(self._asks)
        snap = BookSnapshot(
            exch_ns=t,
            local_ns=t + lat,
            update_id=self._update_id,
            bids=tuple(
                zip((bid_idx + self._base).tolist(), self._bids[bid_idx].tolist(), strict=True)
            ),
            asks=tuple(
                zip((ask_idx + self._base).tolist(), self._asks[ask_idx].tolist(), strict=True)
            ),
        )
        return [snap, self._bbo(t)]

    # ---- actions ------------------------------------------------------------------------------

    def _signed(self, ticks: int) -> int:
        return ticks if self._u.next() < 0.5 else -ticks

    def _move_anchor(self, ticks: int) -> None:
        # Reflect at the floor so prices stay positive with a full ladder below the bid.
        floor = self._w + 2
        a = self._anchor + ticks
        self._anchor = a if a >= floor else 2 * floor - a

    def _taker_order(self, t_ns: int, out: list[MarketEvent]) -> None:
        """One aggressive order: prints at the touch, walking levels as each one empties."""
        n = self._prints.next()
        sweep = n >= self.params.sweep_min_prints
        u = self._u.next()
        sell = u < 0.5 if sweep else u < self._p_sell
        lat = self.params.feed_latency_ns
        if sell:
            aggressor, ladder, pend, price = Side.SELL, self._bids, self._pend_b, self._bid
        else:
            aggressor, ladder, pend, price = Side.BUY, self._asks, self._pend_a, self._ask
        base = self._base
        carry = 0
        for _ in range(n):
            i = price - base
            avail = int(ladder[i])
            # What a level could not fill is the next print, so orders keep their volume.
            want = carry or self._print_lots.next()
            qty = min(want, avail)
            carry = want - qty
            out.append(
                Trade(
                    exch_ns=t_ns,
                    local_ns=t_ns + lat,
                    trade_id=self._trade_id,
                    price_ticks=price,
                    qty_lots=qty,
                    aggressor=aggressor,
                )
            )
            self._trade_id += 1
            ladder[i] = avail - qty
            pend[price] = avail - qty
            if avail == qty:
                price = self._next_level(aggressor, price)
                if price == 0:
                    break
        if sell:
            self._bid = price
        else:
            self._ask = price
        if sweep:
            jump = self._sweep_jump.next()
            self._move_anchor(-jump if sell else jump)
            self._requote(None)
        elif price == 0:
            self._requote(None)

    def _next_level(self, aggressor: Side, price_ticks: int) -> int:
        """The next non-empty price behind ``price_ticks`` on the hit side, 0 when none."""
        i = price_ticks - self._base
        if aggressor is Side.SELL:
            below = np.flatnonzero(self._bids[:i])
            return int(below[-1]) + self._base if len(below) else 0
        above = np.flatnonzero(self._asks[i + 1 :])
        return int(above[0]) + i + 1 + self._base if len(above) else 0

    def _requote(self, refresh: Side | None) -> None:
        """Makers re-centre the touch on the anchor; ``refresh`` also re-sizes that touch."""
        bid_t, ask_t = self._touch_targets(self._spread.next())
        margin = 2 * self._w
        if bid_t - margin <= self._base or ask_t + margin >= self._base + self._n:
            self._rebase()
        base = self._base
        bid, ask = self._bid, self._ask
        # Clear what the new touch must not have in front of it, on both sides, before filling.
        if bid == 0 or bid > bid_t:
            self._clear(Side.BUY, bid_t + 1, (bid or bid_t) + 1)
        if ask == 0 or ask < ask_t:
            self._clear(Side.SELL, ask or ask_t, ask_t)
        if bid == 0:
            bid = bid_t - self._w - 1
        if ask == 0:
            ask = ask_t + self._w + 1
        if bid < bid_t:
            self._fill(Side.BUY, bid, bid_t)
        if ask > ask_t:
            self._fill(Side.SELL, ask, ask_t)
        if bid != bid_t or refresh is Side.BUY or self._bids[bid_t - base] == 0:
            lots = self._touch_lots.next()
            self._bids[bid_t - base] = lots
            self._pend_b[bid_t] = lots
        if ask != ask_t or refresh is Side.SELL or self._asks[ask_t - base] == 0:
            lots = self._touch_lots.next()
            self._asks[ask_t - base] = lots
            self._pend_a[ask_t] = lots
        self._bid, self._ask = bid_t, ask_t

    def _touch_targets(self, spread_ticks: int) -> tuple[int, int]:
        """Best bid and ask (ticks) for a spread centred on the anchor."""
        bid = self._anchor - (spread_ticks - 1) // 2
        return bid, bid + spread_ticks

    # ---- ladder maintenance --------------------------------------------------------------------

    def _clear(self, side: Side, lo_ticks: int, hi_ticks: int) -> None:
        """Remove every level with lo_ticks <= price < hi_ticks on one side."""
        ladder, pend = (
            (self._bids, self._pend_b) if side is Side.BUY else (self._asks, self._pend_a)
        )
        lo, hi = max(0, lo_ticks - self._base), min(self._n, hi_ticks - self._base)
        if hi <= lo:
            return
        idx = np.flatnonzero(ladder[lo:hi]) + lo
        if len(idx):
            ladder[idx] = 0
            pend.update(dict.fromkeys((idx + self._base).tolist(), 0))

    def _fill(self, side: Side, old_ticks: int, touch_ticks: int) -> None:
        """Re-draw the profile from an old touch (inclusive) up to a new, better one.

        The old touch level joins the book behind the new touch at a profile size, as when a
        maker improves the price and the old queue thins out.
        """
        dist = np.arange(1, min(abs(touch_ticks - old_ticks), self._w) + 1)
        if not len(dist):
            return
        rng = self._rng
        lots = np.where(rng.random(len(dist)) < self._occ[dist], self._level_lots(dist), 0)
        if side is Side.BUY:
            prices, ladder, pend = touch_ticks - dist, self._bids, self._pend_b
        else:
            prices, ladder, pend = touch_ticks + dist, self._asks, self._pend_a
        idx = prices - self._base
        changed = lots != ladder[idx]
        ladder[idx] = lots
        pend.update(zip(prices[changed].tolist(), lots[changed].tolist(), strict=True))

    def _level_lots(self, dist: IntArray) -> IntArray:
        noise = self._rng.standard_normal(len(dist)) * self.params.depth_size_log_sigma
        return _as_ticks(np.exp(self._log_med[dist] + noise))

    def _deep_refresh(self, t_ns: int, out: list[MarketEvent]) -> None:
        """Makers add, resize and cancel behind the touch; far levels drop out; one delta."""
        rng, w = self._rng, self._w
        n = int(rng.poisson(self._deep_mean))
        # One change per level per batch: duplicates would make the delta ambiguous.
        keys = np.unique(rng.integers(2, 2 * w + 2, n))
        dist, on_bid = keys >> 1, (keys & 1) == 1
        flip = rng.random(len(keys))
        lots = self._level_lots(dist)
        for side in (Side.BUY, Side.SELL):
            mask = on_bid if side is Side.BUY else ~on_bid
            d = dist[mask]
            if side is Side.BUY:
                prices, ladder, pend = self._bid - d, self._bids, self._pend_b
            else:
                prices, ladder, pend = self._ask + d, self._asks, self._pend_a
            idx = prices - self._base
            present = ladder[idx] > 0
            f = flip[mask]
            new = np.where(
                present,
                np.where(f < self._p_remove[d], 0, lots[mask]),
                np.where(f < self._p_add[d], lots[mask], 0),
            )
            changed = new != ladder[idx]
            ladder[idx[changed]] = new[changed]
            pend.update(zip(prices[changed].tolist(), new[changed].tolist(), strict=True))
        self._clear(Side.BUY, self._base, self._bid - w)
        self._clear(Side.SELL, self._ask + w + 1, self._base + self._n)
        self._publish(t_ns, out)

    def _rebase(self) -> None:
        """Re-centre the dense ladders on the anchor; levels beyond the window are dropped."""
        new_base = self._anchor - self._n // 2
        shift = new_base - self._base
        if self._base and self._bid:
            self._clear(Side.BUY, self._base, self._bid - self._w)
            self._clear(Side.SELL, self._ask + self._w + 1, self._base + self._n)
        for ladder in (self._bids, self._asks):
            moved = np.zeros_like(ladder)
            if 0 < shift < self._n:
                moved[: self._n - shift] = ladder[shift:]
            elif -self._n < shift <= 0:
                moved[-shift:] = ladder[: self._n + shift]
            ladder[:] = moved
        self._base = new_base

    # ---- publishing -----------------------------------------------------------------------------

    def _publish(self, t_ns: int, out: list[MarketEvent]) -> None:
        """Emit pending level changes as one delta, then a BBO if the touch changed."""
        n = len(self._pend_b) + len(self._pend_a)
        if n:
            lat = self.params.feed_latency_ns
            prev = self._update_id
            self._update_id = prev + n
            bids: tuple[Level, ...] = tuple(sorted(self._pend_b.items(), reverse=True))
            asks: tuple[Level, ...] = tuple(sorted(self._pend_a.items()))
            self._pend_b.clear()
            self._pend_a.clear()
            out.append(
                BookDelta.of(
                    exch_ns=t_ns,
                    local_ns=t_ns + lat,
                    first_id=prev + 1,
                    last_id=prev + n,
                    prev_id=prev,
                    bids=bids,
                    asks=asks,
                )
            )
        base = self._base
        touch = (
            self._bid,
            int(self._bids[self._bid - base]),
            self._ask,
            int(self._asks[self._ask - base]),
        )
        if touch != self._last_bbo:
            out.append(self._bbo(t_ns))

    def _bbo(self, t_ns: int) -> BestBidOffer:
        base = self._base
        bid_lots = int(self._bids[self._bid - base])
        ask_lots = int(self._asks[self._ask - base])
        self._last_bbo = (self._bid, bid_lots, self._ask, ask_lots)
        return BestBidOffer(
            exch_ns=t_ns,
            local_ns=t_ns + self.params.feed_latency_ns,
            update_id=self._update_id,
            bid_ticks=self._bid,
            bid_lots=bid_lots,
            ask_ticks=self._ask,
            ask_lots=ask_lots,
        )
