"""Many symbols for the sandbox: a synthetic Binance USD-M listing beyond the traded market,
and the public streams of every symbol at realistic rates.

The traded symbol keeps its matching-engine market (sandbox/account.py); the others are light
models: a mid that random-walks at the symbol's volatility, a touch whose spread is a whole
number of ticks, and trades at the touch. Rates scale from the busiest symbol's, measured on
Binance (BTCUSDT USD-M in ../shared/data: ≈190 bookTicker updates/s, ≈62 trades/s): the k-th
busiest runs at ``rate / k**decay``. Listing entries take the shape of the listed ones
(venues/listings/usdm.json, Binance's own exchangeInfo format) with realistic filters: a tick
of 1 to 10 bps or 0.1 to 1 bps of the price (Binance lists prices to 4-5 significant digits), a
size step worth a few USDT, MIN_NOTIONAL 5 USDT as on Binance's smaller USD-M contracts. On
COIN-M the synthetic symbols are inverse perpetuals shaped as venues/listings/coinm.json's
(Binance's "Exchange Information", developers.binance.com/docs/derivatives/coin-margined-
futures/market-data/Exchange-Information): ``<BASE>USD_PERP``, pair ``<BASE>USD``, contract
type PERPETUAL, a contract of 10 USD (100 is BTCUSD_PERP's alone), margin in the base coin,
quantities in whole contracts and no MIN_NOTIONAL filter.

Streams, as Binance USD-M publishes them (developers.binance.com/docs/derivatives/
usds-margined-futures/websocket-market-streams/...): ``<s>@bookTicker`` real time;
``<s>@depth@0ms`` (the diff stream, "Diff. Book Depth Streams", ids ``U``..``u`` chained by
``pu``) and ``GET /fapi/v1/depth`` carry the light model's book, its touch: every symbol
Binance lists has a book, and a client syncs it as it does the traded one's;
``!bookTicker`` every 5 s ("All Book Tickers Stream", update speed 5s): each symbol whose touch
changed since the last push; ``<s>@aggTrade`` ("Aggregate Trade Streams", real time) and
``<s>@trade``; ``!ticker@arr`` every 1000 ms, the 24 h statistics of the symbols that changed
("All Market Tickers Streams": "only tickers that have changed will be present in the array").
The 24 h figures start from a day at the symbol's rates (the sandbox keeps no 24 h history)
and add every trade from then on. Messages are built only for streams someone subscribed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec
import numpy as np

from tradetui.core.instrument import Instrument
from tradetui.core.types import BestBidOffer, MarketEvent, Side, Trade
from tradetui.sandbox import formats
from tradetui.sandbox.formats import Ticker24h
from tradetui.sandbox.streams import DEPTH_SPEEDS, MARKET, PUBLIC, StreamHub
from tradetui.sandbox.tape import Tape
from tradetui.venues.sim_listing import reference_price

Json = dict[str, Any]

_DAY_S = 86_400
# Binance's push periods of the all-market streams (see the module docstring).
ALL_BOOK_TICKERS_PERIOD_S = 5.0
ALL_TICKERS_PERIOD_S = 1.0
# The busiest symbol's rates, measured on BTCUSDT USD-M (../shared/data/README.md).
BUSIEST_BBO_HZ = 190.0
BUSIEST_TRADE_HZ = 62.0
# A trade's notional, USDT: log-normal around a median that falls with the symbol's rank.
_TRADE_MEDIAN_USD = 3_000.0
_TRADE_LOG_SIGMA = 1.2
_MIN_NOTIONAL_USD = "5"
# A COIN-M perpetual's contract, USD, other than BTCUSD_PERP's 100 (../shared/docs/PROTOCOLS.md).
_COINM_CONTRACT_USD = 10
_MAX_EVENTS_PER_ADVANCE = 50_000  # a long pause is not replayed event by event
_SYLLABLES = [c + v for c in "BCDFGHKLMNPRSTVZ" for v in "AEIOU"]


@dataclass(frozen=True, slots=True)
class UniverseSpec:
    """How many symbols the sandbox lists in all and how busy they are.

    ``symbols``: the listing's size; beyond the built-in listing's symbols, synthetic ones
    (0, or no more than the built-in ones: the listing as it is). ``bbo_hz``/``trade_hz``:
    the busiest symbol's bookTicker updates and trades per second; the k-th busiest runs at
    ``rate / k**decay``. ``seed`` makes the listing and the market repeatable.
    """

    symbols: int = 0
    bbo_hz: float = BUSIEST_BBO_HZ
    trade_hz: float = BUSIEST_TRADE_HZ
    decay: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.symbols < 0:
            raise ValueError(f"universe: symbols must be 0 or more, not {self.symbols}")
        if not (self.bbo_hz >= 0 and self.trade_hz >= 0 and self.decay >= 0):
            raise ValueError("universe: rates and decay must be 0 or more")

    def rates(self, rank: int) -> tuple[float, float]:
        """(bookTicker updates/s, trades/s) of the ``rank``-th busiest symbol (1 = busiest)."""
        scale = rank**-self.decay
        return self.bbo_hz * scale, self.trade_hz * scale


def universe_entries(listed: list[Json], spec: UniverseSpec, *, inverse: bool) -> list[Json]:
    """Synthetic exchangeInfo entries that bring ``listed`` up to ``spec.symbols`` symbols,
    shaped as ``listed[0]`` (a USD-M perpetual, or a COIN-M one when ``inverse``) with their
    own names and filters."""
    rng = np.random.default_rng(spec.seed)
    taken = {str(e["symbol"]) for e in listed}
    template = listed[0]
    out: list[Json] = []
    while len(listed) + len(out) < spec.symbols:
        n = int(rng.integers(2, 4))
        base = "".join(_SYLLABLES[int(i)] for i in rng.integers(0, len(_SYLLABLES), n))
        symbol = f"{base}USD_PERP" if inverse else f"{base}USDT"
        if symbol in taken:
            continue
        taken.add(symbol)
        price = 10 ** float(rng.uniform(-3, 3.3))
        digits = int(rng.choice([4, 5]))
        tick = Decimal(1).scaleb(math.floor(math.log10(price)) - digits + 1)
        if inverse:
            out.append(_coinm_entry(template, base, tick, price))
            continue
        step_exp = min(3, max(-3, math.floor(math.log10(20 / price))))
        step = Decimal(1).scaleb(step_exp)
        out.append(_entry(template, base, tick, step, price))
    return out


def _filters(
    tick: Decimal, step: Decimal, price: float, max_qty: Decimal, market_max_qty: Decimal
) -> list[Json]:
    """The price, lot and order-count filters both kinds of perpetual list."""
    tick_text, step_text = _plain(tick), _plain(step)
    max_price = _plain(Decimal(1).scaleb(math.ceil(math.log10(price)) + 3))
    return [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": tick_text,
            "maxPrice": max_price,
            "tickSize": tick_text,
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": step_text,
            "maxQty": _plain(max_qty),
            "stepSize": step_text,
        },
        {
            "filterType": "MARKET_LOT_SIZE",
            "minQty": step_text,
            "maxQty": _plain(market_max_qty),
            "stepSize": step_text,
        },
        {"filterType": "MAX_NUM_ORDERS", "limit": 200},
        {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
    ]


_PERCENT_PRICE: Json = {
    "filterType": "PERCENT_PRICE",
    "multiplierUp": "1.0500",
    "multiplierDown": "0.9500",
    "multiplierDecimal": "4",
}


def _entry(template: Json, base: str, tick: Decimal, step: Decimal, price: float) -> Json:
    entry = dict(template)
    filters = _filters(tick, step, price, step * 10_000_000, step * 1_000_000)
    entry |= {
        "symbol": f"{base}USDT",
        "pair": f"{base}USDT",
        "baseAsset": base,
        "pricePrecision": _decimals(tick),
        "quantityPrecision": _decimals(step),
        "filters": [
            *filters,
            {"filterType": "MIN_NOTIONAL", "notional": _MIN_NOTIONAL_USD},
            _PERCENT_PRICE,
        ],
    }
    return entry


def _coinm_entry(template: Json, base: str, tick: Decimal, price: float) -> Json:
    """A COIN-M perpetual: whole contracts of 10 USD (lots of 1 up to 1,000,000, market orders
    up to 60,000, as ETHUSD_PERP's), margined in ``base``."""
    entry = dict(template)
    entry |= {
        "symbol": f"{base}USD_PERP",
        "pair": f"{base}USD",
        "contractType": "PERPETUAL",
        "contractSize": _COINM_CONTRACT_USD,
        "marginAsset": base,
        "baseAsset": base,
        "quoteAsset": "USD",
        "pricePrecision": _decimals(tick),
        "quantityPrecision": 0,
        "filters": [
            *_filters(tick, Decimal(1), price, Decimal(1_000_000), Decimal(60_000)),
            _PERCENT_PRICE,
        ],
    }
    return entry


def day_ticker(
    price: float, last_qty: str, usd: float, trades: int, contract_usd: float
) -> Ticker24h:
    """24 h statistics to start from: a day of ``trades`` trades worth ``usd`` in all around
    ``price``, in a linear or (``contract_usd`` > 0) an inverse contract's units."""
    if contract_usd:
        volume, second = usd / contract_usd, usd / price  # contracts, base asset
    else:
        volume, second = usd / price, usd  # base asset, quote asset
    return Ticker24h(
        open=price,
        high=price * 1.02,
        low=price * 0.98,
        last=price,
        last_qty=last_qty,
        volume=volume,
        quote_volume=second,
        first_id=1,
        last_id=trades,
        contract_size=contract_usd,
    )


def _plain(d: Decimal) -> str:
    """A decimal without exponent ('0.0001', '100')."""
    return f"{d:f}"


def _decimals(d: Decimal) -> int:
    exp = d.normalize().as_tuple().exponent
    assert isinstance(exp, int)
    return max(0, -exp)


def _filter(entry: Json, kind: str, key: str) -> Decimal:
    return next(Decimal(str(f[key])) for f in entry["filters"] if f["filterType"] == kind)


class _Symbol:
    """One synthetic symbol's market: its touch in ticks and lots, its counters."""

    __slots__ = (
        "ask",
        "ask_lots",
        "bbo_changed",
        "bid",
        "bid_lots",
        "contract_usd",
        "decimals",
        "depth_names",
        "lower",
        "mid",
        "name",
        "next_agg",
        "pair",
        "qty_decimals",
        "sigma",
        "spread_mean",
        "step",
        "tape",
        "tick",
        "ticker",
        "touch_lots",
        "trade_median_usd",
        "update_id",
    )

    def __init__(
        self,
        entry: Json,
        rank: int,
        spec: UniverseSpec,
        rng: np.random.Generator,
        inverse: bool,
    ):
        self.name = str(entry["symbol"])
        # COIN-M's market messages also name the contract's pair ("ps": "BTCUSD"), as its
        # listing entry does (developers.binance.com/docs/derivatives/coin-margined-futures/
        # websocket-market-streams: Diff. Book Depth Streams, Individual Symbol Book Ticker).
        self.pair = str(entry["pair"]) if inverse else None
        self.lower = self.name.lower()
        self.depth_names = tuple(f"{self.lower}@depth{speed}" for speed in DEPTH_SPEEDS)
        tick = _filter(entry, "PRICE_FILTER", "tickSize")
        step = _filter(entry, "LOT_SIZE", "stepSize")
        self.tick, self.step = float(tick), float(step)
        self.decimals, self.qty_decimals = _decimals(tick), _decimals(step)
        # A start price 1,000 to 100,000 ticks (a tick of 0.1 to 10 bps), or the real one.
        price = reference_price(self.name) or self.tick * 10 ** float(rng.uniform(3, 5))
        self.mid = price / self.tick  # in ticks
        # Volatility of the mid per √s, as a fraction (BTCUSDT USD-M: ≈1.2 bps per √s).
        self.sigma = float(rng.uniform(1.0, 4.0)) / 1e4
        # Mean spread: a few bps, wider down the list, never under one tick.
        spread_bps = float(rng.uniform(0.5, 3.0)) * (1 + rank / 100)
        tick_bps = 1e4 / self.mid
        self.spread_mean = max(1.0, spread_bps / tick_bps)
        self.trade_median_usd = _TRADE_MEDIAN_USD / math.sqrt(rank)
        # COIN-M: a contract is worth contractSize USD whatever the price (0: linear).
        self.contract_usd = float(entry.get("contractSize") or 0) if inverse else 0.0
        touch_lots = self.lots_of(5 * self.trade_median_usd, price)
        self.bid = round(self.mid - self.spread_mean / 2)
        self.ask = self.bid + max(1, round(self.spread_mean))
        self.touch_lots = touch_lots  # the typical size at the touch
        self.bid_lots = self.ask_lots = touch_lots
        self.update_id = 1
        self.bbo_changed = True
        # A day at the symbol's trade rate, as the 24 h figures' start.
        trades_day = max(1, int(spec.rates(rank)[1] * _DAY_S))
        mean_usd = self.trade_median_usd * math.exp(_TRADE_LOG_SIGMA**2 / 2)
        quote = trades_day * mean_usd
        self.ticker = day_ticker(price, self.qty(touch_lots), quote, trades_day, self.contract_usd)
        self.next_agg = 1
        # The recent trades and klines REST serves (trade ids continue the 24 h figures').
        self.tape = Tape(self.tick, self.step, self.decimals, self.qty_decimals, self.contract_usd)

    def lots_of(self, usd: float, price: float) -> int:
        """The lots (at least one) closest to ``usd`` worth at ``price``."""
        lot_usd = self.contract_usd * self.step if self.contract_usd else price * self.step
        return max(1, round(usd / lot_usd))

    def price(self, ticks: int) -> str:
        return f"{ticks * self.tick:.{self.decimals}f}"

    def qty(self, lots: int) -> str:
        return f"{lots * self.step:.{self.qty_decimals}f}"

    def fmt(self, price: float) -> str:
        return f"{price:.{self.decimals}f}"

    def move(self, z: float, dt_s: float, widen: float, size_noise: float) -> None:
        """One touch update ``dt_s`` after the last: the mid moves ``z`` standard deviations."""
        self.mid *= math.exp(self.sigma * math.sqrt(dt_s) * z)
        spread = max(1, round(self.spread_mean * widen))
        bid = max(1, round(self.mid - spread / 2))
        self.bid, self.ask = bid, bid + spread
        lots = max(1, round(self.touch_lots * size_noise))
        if z > 0:
            self.bid_lots = lots
        else:
            self.ask_lots = lots
        self.update_id += 1
        self.bbo_changed = True

    def book(self) -> tuple[list[list[str]], list[list[str]]]:
        """The touch as the depth's bid and ask levels."""
        return [[self.price(self.bid), self.qty(self.bid_lots)]], [
            [self.price(self.ask), self.qty(self.ask_lots)]
        ]

    def depth_update(self, t_ms: int, old_bid: int, old_ask: int) -> Json:
        """The diff of the last ``move`` (one update id): the old touch removed where it
        moved away, the new touch's size, as USD-M's ``depthUpdate``."""
        bids, asks = self.book()
        if old_bid != self.bid:
            bids.insert(0, [self.price(old_bid), self.qty(0)])
        if old_ask != self.ask:
            asks.insert(0, [self.price(old_ask), self.qty(0)])
        u = self.update_id
        out: Json = {"e": "depthUpdate", "E": t_ms, "T": t_ms, "s": self.name}
        if self.pair is not None:
            out["ps"] = self.pair
        return out | {"U": u, "u": u, "pu": u - 1, "b": bids, "a": asks}

    def book_ticker(self, t_ms: int) -> Json:
        out: Json = {"e": "bookTicker", "u": self.update_id, "s": self.name}
        if self.pair is not None:
            out["ps"] = self.pair
        return out | {
            "b": self.price(self.bid),
            "B": self.qty(self.bid_lots),
            "a": self.price(self.ask),
            "A": self.qty(self.ask_lots),
            "T": t_ms,
            "E": t_ms,
        }


class Universe:
    """The listing's symbols other than the traded one, their market, and the all-market
    streams (which include the traded symbol, fed by ``on_traded``)."""

    def __init__(
        self,
        traded: Instrument,
        entries: list[Json],
        spec: UniverseSpec,
        hub: StreamHub,
        now_ns: int,
    ) -> None:
        self._rng = np.random.default_rng(spec.seed + 1)
        self._hub = hub
        self._traded = traded
        self._traded_lower = traded.symbol.lower()
        others = [e for e in entries if e["symbol"] != traded.symbol]
        # COIN-M names the contract's pair in its market messages ("ps"), as _Symbol does.
        self._traded_pair = (
            next(str(e["pair"]) for e in entries if e["symbol"] == traded.symbol)
            if traded.inverse and entries
            else None
        )
        # The traded symbol is the busiest (rank 1); the others follow in listing order.
        self._symbols = [
            _Symbol(e, rank, spec, self._rng, traded.inverse) for rank, e in enumerate(others, 2)
        ]
        self._by_name = {s.name: s for s in self._symbols}
        bbo = np.array([spec.rates(r)[0] for r in range(2, len(others) + 2)], dtype=float)
        trade = np.array([spec.rates(r)[1] for r in range(2, len(others) + 2)], dtype=float)
        self._bbo_total, self._trade_total = float(bbo.sum()), float(trade.sum())
        self._bbo_p = bbo / self._bbo_total if self._bbo_total else bbo
        self._trade_p = trade / self._trade_total if self._trade_total else trade
        self._mean_gap_s = [1 / r if r else 1.0 for r in bbo]
        _, top_trade_hz = spec.rates(1)
        mean_usd = _TRADE_MEDIAN_USD * math.exp(_TRADE_LOG_SIGMA**2 / 2)
        self._traded_ticker: Ticker24h | None = None
        self._traded_trades_day = max(1, int(top_trade_hz * _DAY_S))
        self._traded_quote_day = self._traded_trades_day * mean_usd
        self._traded_bbo: BestBidOffer | None = None
        self._traded_bbo_changed = False
        self._traded_agg = 1
        self._traded_tape = Tape(
            traded.tick,
            float(traded.lot_size),
            _decimals(traded.tick_size),
            _decimals(traded.lot_size),
            float(traded.contract_size) if traded.inverse else 0.0,
        )
        self._last_ns = now_ns
        self._next_all_bbo_ns = now_ns + int(ALL_BOOK_TICKERS_PERIOD_S * 1e9)
        self._next_tickers_ns = now_ns + int(ALL_TICKERS_PERIOD_S * 1e9)

    @property
    def symbols(self) -> list[str]:
        """The synthetic market's symbols (the traded one not included)."""
        return [s.name for s in self._symbols]

    def book(self, symbol: str) -> tuple[int, list[list[str]], list[list[str]]] | None:
        """(last update id, bids, asks) of ``symbol``'s book (its touch), None when it is not
        one of the synthetic market's symbols."""
        s = self._by_name.get(symbol)
        if s is None:
            return None
        return (s.update_id, *s.book())

    def last_prices(self) -> dict[str, str]:
        """The last trade price of each listed symbol at its tick's decimals: the synthetic
        ones (their start price before any trade) and the traded one once it has traded."""
        out = {s.name: s.fmt(s.ticker.last) for s in self._symbols}
        if self._traded_ticker is not None:
            inst = self._traded
            out[inst.symbol] = str(inst.price(round(self._traded_ticker.last / float(inst.tick))))
        return out

    def mid(self, symbol: str) -> float | None:
        """A synthetic symbol's mid price (None for any other symbol)."""
        s = self._by_name.get(symbol)
        return None if s is None else s.mid * s.tick

    def tape(self, symbol: str) -> Tape | None:
        """``symbol``'s recent trades and klines (the traded symbol's included)."""
        if symbol == self._traded.symbol:
            return self._traded_tape
        s = self._by_name.get(symbol)
        return None if s is None else s.tape

    def ticker(self, symbol: str, price: float) -> Ticker24h | None:
        """``symbol``'s 24 h figures; the traded symbol's start at ``price`` (its mid) when it
        has not traded yet (None when that is not a price either)."""
        if symbol != self._traded.symbol:
            s = self._by_name.get(symbol)
            return None if s is None else s.ticker
        if self._traded_ticker is None and price <= 0:
            return None
        return self._ticker_of_traded(price, "0")

    # ---- the traded symbol --------------------------------------------------------------------

    def on_traded(self, events: Iterable[MarketEvent], skew_ms: int) -> None:
        """The traded symbol's market events: its aggTrades and 24 h figures, stamped by the
        exchange clock (``skew_ms`` ahead of the wall clock)."""
        inst = self._traded
        for ev in events:
            if type(ev) is BestBidOffer:
                self._traded_bbo, self._traded_bbo_changed = ev, True
            elif type(ev) is Trade:
                price = float(inst.price(ev.price_ticks))
                qty_text = format(inst.qty(ev.qty_lots), "f")
                ticker = self._ticker_of_traded(price, qty_text)
                ticker.add(price, float(qty_text), qty_text, 1)
                t_ms = formats.exchange_ms(ev.exch_ns, skew_ms)
                sell = ev.aggressor is Side.SELL
                self._traded_tape.add(t_ms, price, ev.qty_lots, 1, ticker.last_id, sell)
                name = f"{self._traded_lower}@aggTrade"
                if name in self._hub.wanted:
                    msg = formats.agg_trade(
                        inst.symbol,
                        self._traded_agg,
                        str(inst.price(ev.price_ticks)),
                        qty_text,
                        ev.trade_id,
                        ev.trade_id,
                        t_ms,
                        sell,
                    )
                    self._hub.send(_text(msg), (name,), MARKET)
                self._traded_agg += 1

    def on_own_fill(self, price_ticks: int, qty_lots: int, buyer_maker: bool, t_ms: int) -> None:
        """A fill of our order: a public trade of the traded symbol like any other (its 24 h
        figures and its REST trades and klines; the market streams carry the market's)."""
        inst = self._traded
        price = float(inst.price(price_ticks))
        qty_text = format(inst.qty(qty_lots), "f")
        ticker = self._ticker_of_traded(price, qty_text)
        ticker.add(price, float(qty_text), qty_text, 1)
        self._traded_tape.add(t_ms, price, qty_lots, 1, ticker.last_id, buyer_maker)

    def _ticker_of_traded(self, price: float, qty_text: str) -> Ticker24h:
        if self._traded_ticker is None:
            cs = float(self._traded.contract_size) if self._traded.inverse else 0.0
            self._traded_ticker = day_ticker(
                price, qty_text, self._traded_quote_day, self._traded_trades_day, cs
            )
        return self._traded_ticker

    # ---- the synthetic symbols ----------------------------------------------------------------

    def advance(self, now_ns: int, skew_ms: int) -> None:
        """Generate the synthetic market up to ``now_ns`` (wall clock) and push the periodic
        streams, stamped by the exchange clock (``skew_ms`` ahead)."""
        dt_s = (now_ns - self._last_ns) / 1e9
        if dt_s <= 0:
            return
        self._last_ns = now_ns
        t_ms = formats.exchange_ms(now_ns, skew_ms)
        if self._symbols:
            self._bbo_updates(dt_s, t_ms)
            self._trades(dt_s, t_ms)
        if now_ns >= self._next_all_bbo_ns:
            self._next_all_bbo_ns = now_ns + int(ALL_BOOK_TICKERS_PERIOD_S * 1e9)
            self._push_all_book_tickers(t_ms, skew_ms)
        if now_ns >= self._next_tickers_ns:
            self._next_tickers_ns = now_ns + int(ALL_TICKERS_PERIOD_S * 1e9)
            self._push_tickers(t_ms)

    def _bbo_updates(self, dt_s: float, t_ms: int) -> None:
        rng = self._rng
        n = min(int(rng.poisson(self._bbo_total * dt_s)), _MAX_EVENTS_PER_ADVANCE)
        if n == 0:
            return
        picks = rng.choice(len(self._symbols), size=n, p=self._bbo_p)
        z = rng.standard_normal(n)
        widen = rng.exponential(1.0, n)
        size = rng.lognormal(0.0, 0.5, n)
        wanted, send, symbols, gaps = (
            self._hub.wanted,
            self._hub.send,
            self._symbols,
            self._mean_gap_s,
        )
        for i, k in enumerate(picks.tolist()):
            s = symbols[k]
            old_bid, old_ask = s.bid, s.ask
            s.move(float(z[i]), gaps[k], float(widen[i]), float(size[i]))
            if not wanted.isdisjoint(s.depth_names):
                send(_text(s.depth_update(t_ms, old_bid, old_ask)), s.depth_names, PUBLIC)
            name = f"{s.lower}@bookTicker"
            if name in wanted:
                send(_text(s.book_ticker(t_ms)), (name,), PUBLIC)

    def _trades(self, dt_s: float, t_ms: int) -> None:
        rng = self._rng
        n = min(int(rng.poisson(self._trade_total * dt_s)), _MAX_EVENTS_PER_ADVANCE)
        if n == 0:
            return
        picks = rng.choice(len(self._symbols), size=n, p=self._trade_p)
        usd = rng.lognormal(0.0, _TRADE_LOG_SIGMA, n)
        sells = rng.random(n) < 0.5
        fills = rng.geometric(0.6, n)  # trades per aggregate, 1 or more
        wanted, send, symbols = self._hub.wanted, self._hub.send, self._symbols
        for i, k in enumerate(picks.tolist()):
            s = symbols[k]
            sell = bool(sells[i])
            ticks = s.bid if sell else s.ask
            price = ticks * s.tick
            lots = s.lots_of(s.trade_median_usd * float(usd[i]), price)
            qty_text = s.qty(lots)
            trades = min(int(fills[i]), lots)  # a trade is a lot at least
            first = s.ticker.last_id + 1
            s.ticker.add(price, lots * s.step, qty_text, trades)
            s.tape.add(t_ms, price, lots, trades, first, sell)
            agg_name, trade_name = f"{s.lower}@aggTrade", f"{s.lower}@trade"
            if agg_name in wanted:
                msg = formats.agg_trade(
                    s.name,
                    s.next_agg,
                    s.price(ticks),
                    qty_text,
                    first,
                    first + trades - 1,
                    t_ms,
                    sell,
                )
                send(_text(msg), (agg_name,), MARKET)
            if trade_name in wanted:
                # One message per trade of the aggregate, the size split between them.
                for j in range(trades):
                    part = lots // trades + (1 if j < lots % trades else 0)
                    trade = {
                        "e": "trade",
                        "E": t_ms,
                        "T": t_ms,
                        "s": s.name,
                        "t": first + j,
                        "p": s.price(ticks),
                        "q": s.qty(max(1, part)),
                        "X": "MARKET",
                        "m": sell,
                    }
                    send(_text(trade), (trade_name,), PUBLIC)
            s.next_agg += 1

    def _push_all_book_tickers(self, t_ms: int, skew_ms: int) -> None:
        hub = self._hub
        if "!bookTicker" not in hub.wanted:
            return
        texts: list[str] = []
        if self._traded_bbo is not None and self._traded_bbo_changed:
            bbo = self._traded_bbo
            stamp = formats.exchange_ms(bbo.exch_ns, skew_ms)
            texts.append(_text(formats.book_ticker(self._traded, bbo, stamp)))
        self._traded_bbo_changed = False
        for s in self._symbols:
            if s.bbo_changed:
                texts.append(_text(s.book_ticker(t_ms)))
                s.bbo_changed = False
        for text in texts:
            hub.send(text, ("!bookTicker",), PUBLIC)

    def _push_tickers(self, t_ms: int) -> None:
        hub = self._hub
        if "!ticker@arr" not in hub.wanted:
            return
        out: list[Json] = []
        traded = self._traded_ticker
        if traded is not None and traded.changed:
            decimals = _decimals(self._traded.tick_size)
            out.append(
                formats.ticker_24h(
                    self._traded.symbol,
                    traded,
                    t_ms,
                    lambda p: f"{p:.{decimals}f}",
                    self._traded_pair,
                )
            )
            traded.changed = False
        for s in self._symbols:
            if s.ticker.changed:
                out.append(formats.ticker_24h(s.name, s.ticker, t_ms, s.fmt, s.pair))
                s.ticker.changed = False
        if out:
            hub.send(msgspec.json.encode(out).decode(), ("!ticker@arr",), MARKET)


def _text(msg: Json) -> str:
    """Compact JSON, as Binance's streams send it."""
    return msgspec.json.encode(msg).decode()
