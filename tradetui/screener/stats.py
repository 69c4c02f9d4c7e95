"""The screener's figures per symbol, from touch updates, aggregate trades and 24 h tickers.

Pure: no I/O, no clock of its own (``sample(now_s)`` is called once a second by the caller).
Floats throughout: these are statistics for choosing a market, never order prices.

Definitions (docs/screener.md has the same, for users):

- spread: the touch's width, sampled once a second, averaged over the trailing minute, in
  ticks and in bps of the mid (before the first sample: the current touch);
- vol_1m_bps / vol_1h_bps: realized volatility of the mid over a 1-minute and a 1-hour
  horizon, from 1-second log returns in the trailing minute / hour: sqrt(mean(r²) × horizon
  in seconds), in bps (a window not yet full is scaled up the same way);
- quote_volume: the exchange's 24 h quote volume (``!ticker@arr``, field ``q``; COIN-M's
  ``q`` is in the coin, so there: the contracts ``v`` × contract size, USD);
- trades_per_min: trades (not aggregates: ``l - f + 1`` of each aggTrade) in the trailing
  minute, per minute (scaled while less than a minute was watched); before any, the 24 h
  count / 1440;
- mm_net_bps: what a maker earns per round trip at the touch after fees: the spread in bps
  minus two maker fees (one per fill). An upper bound: it ignores adverse selection (the mid
  moving against a fill) and queue position (fills at the touch take their turn).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

_WINDOW_1M_S = 60
_WINDOW_1H_S = 3600
_MINUTES_PER_DAY = 1440

SORT_KEYS = ("spread", "vol", "volume", "trades", "edge")


@dataclass(frozen=True, slots=True)
class ScreenRow:
    """One symbol's figures (units in the names; NaN where nothing was seen yet)."""

    symbol: str
    bid: float
    ask: float
    spread_ticks: float
    spread_bps: float
    vol_1m_bps: float
    vol_1h_bps: float
    quote_volume: float
    trades_per_min: float
    mm_net_bps: float
    updates: int  # bookTicker updates seen

    def sort_value(self, key: str) -> float:
        """The figure ``--sort key`` orders by, larger first (NaN last)."""
        value = {
            "spread": self.spread_bps,
            "vol": self.vol_1m_bps,
            "volume": self.quote_volume,
            "trades": self.trades_per_min,
            "edge": self.mm_net_bps,
        }[key]
        return -math.inf if math.isnan(value) else value


class _Symbol:
    __slots__ = (
        "ask",
        "bid",
        "last_mid",
        "quote_volume",
        "r2_1h",
        "r2_1h_sum",
        "r2_1m",
        "seconds",
        "spreads",
        "tick",
        "trades_1m",
        "trades_24h",
        "trades_now",
        "updates",
    )

    def __init__(self, tick: float) -> None:
        self.tick = tick
        self.bid = self.ask = 0.0
        self.updates = 0
        self.last_mid = 0.0
        self.r2_1m: deque[float] = deque(maxlen=_WINDOW_1M_S)
        self.r2_1h: deque[float] = deque(maxlen=_WINDOW_1H_S)
        self.r2_1h_sum = 0.0
        self.spreads: deque[int] = deque(maxlen=_WINDOW_1M_S)
        self.trades_now = 0
        self.trades_1m: deque[int] = deque(maxlen=_WINDOW_1M_S)
        self.seconds = 0
        self.quote_volume = math.nan
        self.trades_24h = -1


class ScreenBook:
    """Every watched symbol's running figures."""

    def __init__(self, ticks: dict[str, float], maker_fee_bps: float) -> None:
        """``ticks``: tick size per symbol (exchange id); ``maker_fee_bps`` per fill."""
        self._symbols = {s: _Symbol(t) for s, t in ticks.items()}
        self.maker_fee_bps = maker_fee_bps
        self.unknown = 0  # messages about symbols not in the list

    def __len__(self) -> int:
        return len(self._symbols)

    def on_book(self, symbol: str, bid: float, ask: float) -> None:
        """A touch update."""
        s = self._symbols.get(symbol)
        if s is None:
            self.unknown += 1
            return
        s.bid, s.ask = bid, ask
        s.updates += 1

    def on_trades(self, symbol: str, trades: int) -> None:
        """``trades`` trades printed (one aggregate)."""
        s = self._symbols.get(symbol)
        if s is None:
            self.unknown += 1
            return
        s.trades_now += trades

    def on_ticker(self, symbol: str, quote_volume: float, trades_24h: int) -> None:
        """The exchange's 24 h figures."""
        s = self._symbols.get(symbol)
        if s is None:
            self.unknown += 1
            return
        s.quote_volume, s.trades_24h = quote_volume, trades_24h

    def sample(self) -> None:
        """Close one second: a mid return, a spread sample and a trade count per symbol."""
        for s in self._symbols.values():
            s.seconds += 1
            s.trades_1m.append(s.trades_now)
            s.trades_now = 0
            if s.bid <= 0 or s.ask <= 0:
                continue
            mid = (s.bid + s.ask) / 2
            s.spreads.append(round((s.ask - s.bid) / s.tick))  # whole ticks (float noise off)
            if s.last_mid > 0:
                r = math.log(mid / s.last_mid)
                r2 = r * r
                s.r2_1m.append(r2)
                if len(s.r2_1h) == _WINDOW_1H_S:
                    s.r2_1h_sum -= s.r2_1h[0]
                s.r2_1h.append(r2)
                s.r2_1h_sum += r2
            s.last_mid = mid

    def rows(self) -> list[ScreenRow]:
        """Every symbol's figures now, in symbol order."""
        return [self._row(name, s) for name, s in sorted(self._symbols.items())]

    def _row(self, name: str, s: _Symbol) -> ScreenRow:
        nan = math.nan
        mid = (s.bid + s.ask) / 2 if s.bid > 0 and s.ask > 0 else nan
        spread_ticks: float
        if s.spreads:
            spread_ticks = sum(s.spreads) / len(s.spreads)
        elif mid == mid:
            spread_ticks = round((s.ask - s.bid) / s.tick)
        else:
            spread_ticks = nan
        spread_bps = spread_ticks * s.tick / mid * 1e4 if mid == mid else nan
        vol_1m = _vol_bps(sum(s.r2_1m), len(s.r2_1m), _WINDOW_1M_S)
        vol_1h = _vol_bps(s.r2_1h_sum, len(s.r2_1h), _WINDOW_1H_S)
        if s.trades_1m:
            per_min = sum(s.trades_1m) * _WINDOW_1M_S / len(s.trades_1m)
        elif s.trades_24h >= 0:
            per_min = s.trades_24h / _MINUTES_PER_DAY
        else:
            per_min = nan
        return ScreenRow(
            symbol=name,
            bid=s.bid or nan,
            ask=s.ask or nan,
            spread_ticks=spread_ticks,
            spread_bps=spread_bps,
            vol_1m_bps=vol_1m,
            vol_1h_bps=vol_1h,
            quote_volume=s.quote_volume,
            trades_per_min=per_min,
            mm_net_bps=spread_bps - 2 * self.maker_fee_bps,
            updates=s.updates,
        )


def _vol_bps(sum_r2: float, n: int, horizon_s: int) -> float:
    """Realized volatility over ``horizon_s`` from ``n`` one-second squared returns, bps."""
    if n == 0:
        return math.nan
    return math.sqrt(max(sum_r2, 0.0) / n * horizon_s) * 1e4


def ranked(rows: list[ScreenRow], key: str, top: int = 0) -> list[ScreenRow]:
    """``rows`` largest ``key`` first (ties by symbol); the first ``top`` (0 = all)."""
    if key not in SORT_KEYS:
        raise ValueError(f"sort key must be one of {', '.join(SORT_KEYS)}, not {key!r}")
    out = sorted(rows, key=lambda r: (-r.sort_value(key), r.symbol))
    return out[:top] if top > 0 else out
