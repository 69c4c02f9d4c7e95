"""The screener running: one exchangeInfo call for the symbol list, then public websocket
streams only (venues/screener_feed.py), figures in a ScreenBook sampled once a second."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Any

from tradetui.core.instrument import Instrument
from tradetui.screener.stats import ScreenBook, ScreenRow, ranked
from tradetui.venues.binance_stream import ReconnectPolicy
from tradetui.venues.screener_feed import (
    STREAM_LIMITS,
    AggTradeMsg,
    BookTickerMsg,
    FrameDecoder,
    ScreenerFeed,
    TickerMsg,
    shard_plan,
)

_SAMPLE_S = 1.0


async def load_instruments(exchange_id: str, rest_url: str) -> list[Instrument]:
    """Every trading symbol of ``exchange_id`` from one exchangeInfo request (ccxt's
    ``load_markets`` with currencies off asks nothing else); raises what ccxt raises."""
    from tradetui.venues.catalog import sync_catalog
    from tradetui.venues.clients import make_client, market_data_options

    client = make_client(exchange_id, rest_url=rest_url, options=market_data_options(exchange_id))
    try:
        catalog = await sync_catalog(client, prices=False)  # its streams carry the prices
    finally:
        await client.close()
    return sorted(catalog.instruments.values(), key=lambda i: i.symbol)


@dataclass(slots=True)
class Screener:
    """Watches ``instruments`` on ``ws_url``; ``run()`` until ``close()`` or a duration."""

    exchange_id: str
    instruments: list[Instrument]
    ws_url: str
    routed: bool
    max_streams: int = 0  # 0: Binance's per-connection limit
    maker_fee_bps: float | None = None  # None: the instruments' own (the venue's base tier)
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    book: ScreenBook = field(init=False)
    feed: ScreenerFeed = field(init=False)
    decoder: FrameDecoder = field(init=False)
    started: float = field(init=False, default=0.0)
    cpu_started: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        limits = STREAM_LIMITS.get(self.exchange_id)
        if limits is None:
            known = ", ".join(STREAM_LIMITS)
            raise ValueError(f"the screener watches {known}, not {self.exchange_id!r}")
        if not self.instruments:
            raise ValueError(f"{self.exchange_id} lists no trading symbol")
        fee = self.maker_fee_bps
        if fee is None:
            fee = self.instruments[0].maker_fee_rate * 1e4
        self.book = ScreenBook({i.symbol: float(i.tick_size) for i in self.instruments}, fee)
        book = self.book

        def on_book(m: BookTickerMsg) -> None:
            book.on_book(m.s, float(m.b), float(m.a))

        def on_trade(m: AggTradeMsg) -> None:
            book.on_trades(m.s, m.l - m.f + 1)

        # COIN-M's tickers count contracts (v) and coins (q), no quote asset
        # (binance-docs.github.io/apidocs/delivery/en/#all-market-tickers-streams): the quote
        # volume is the contracts' worth in USD, so symbols compare in one unit.
        usd_per_contract = {i.symbol: float(i.contract_size) for i in self.instruments if i.inverse}

        def on_tickers(ms: list[TickerMsg]) -> None:
            for m in ms:
                size = usd_per_contract.get(m.s)
                quote = float(m.v) * size if size else float(m.q)
                book.on_ticker(m.s, quote, m.n)

        self.decoder = FrameDecoder(on_book, on_trade, on_tickers)
        shards = shard_plan(
            [i.symbol for i in self.instruments],
            routed=self.routed,
            max_streams=self.max_streams or limits.max_streams,
        )
        self.feed = ScreenerFeed(self.ws_url, shards, limits, self.decoder, self.reconnect)

    async def run(self, duration_s: float | None = None) -> None:
        """Stream and sample until ``close()`` or ``duration_s`` (s) has passed."""
        self.started, self.cpu_started = time.monotonic(), time.process_time()
        feed = asyncio.create_task(self.feed.run())
        try:
            deadline = None if duration_s is None else self.started + duration_s
            next_sample = self.started + _SAMPLE_S
            while not feed.done():
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                wake = next_sample if deadline is None else min(next_sample, deadline)
                await asyncio.wait({feed}, timeout=max(0.0, wake - now))
                if time.monotonic() >= next_sample:
                    self.book.sample()
                    next_sample += _SAMPLE_S
        finally:
            self.feed.close()
            with contextlib.suppress(asyncio.CancelledError):
                await feed

    def close(self) -> None:
        """Stop streaming (``run`` returns)."""
        self.feed.close()

    def rows(self, sort: str = "volume", top: int = 0) -> list[ScreenRow]:
        """The table now, ``sort`` largest first, the first ``top`` (0 = every symbol)."""
        return ranked(self.book.rows(), sort, top)

    def report(self, sort: str = "volume", top: int = 0) -> dict[str, Any]:
        """The JSON report: venue, shards, message counts, CPU, and the rows."""
        elapsed = time.monotonic() - self.started if self.started else 0.0
        cpu = time.process_time() - self.cpu_started if self.started else 0.0
        messages = sum(st.messages for st in self.feed.status)
        return {
            "venue": self.exchange_id,
            "symbols": len(self.book),
            "maker_fee_bps": self.book.maker_fee_bps,
            "elapsed_s": round(elapsed, 3),
            "messages": messages,
            "msgs_per_s": round(messages / elapsed, 1) if elapsed else 0.0,
            "cpu_s": round(cpu, 3),
            "cpu_pct": round(100 * cpu / elapsed, 2) if elapsed else 0.0,
            "skipped": self.decoder.skipped,
            "shards": [
                {
                    "index": st.shard.index,
                    "path": st.shard.path,
                    "streams": len(st.shard.names),
                    "state": st.state,
                    "connects": st.connects,
                    "messages": st.messages,
                }
                for st in self.feed.status
            ],
            "rows": [row_json(r) for r in self.rows(sort, top)],
        }


def row_json(row: ScreenRow) -> dict[str, Any]:
    """A row as JSON (NaN as null, figures rounded to what they mean)."""

    def num(x: float, digits: int) -> float | None:
        return None if math.isnan(x) else round(x, digits)

    return {
        "symbol": row.symbol,
        "bid": num(row.bid, 10),
        "ask": num(row.ask, 10),
        "spread_ticks": num(row.spread_ticks, 2),
        "spread_bps": num(row.spread_bps, 3),
        "vol_1m_bps": num(row.vol_1m_bps, 2),
        "vol_1h_bps": num(row.vol_1h_bps, 2),
        "quote_volume": num(row.quote_volume, 2),
        "trades_per_min": num(row.trades_per_min, 1),
        "mm_net_bps": num(row.mm_net_bps, 3),
        "updates": row.updates,
    }
