"""Market data for any ccxt.pro exchange: ``watch_order_book`` and ``watch_trades`` as our
MarketEvents (Binance has its own, faster feed: venues/binance_stream.py).

ccxt keeps the book itself (snapshot plus sequenced diffs, resynced when its chain breaks);
each update reaches the sink as a BookSnapshot of the top ``depth_levels`` levels. When ccxt
reports a broken book or a lost connection the sink gets an EMPTY BookSnapshot first (the book
is unknown: never quote on it), then the feed watches again with the reconnect policy's
backoff until a fresh book arrives. Same surface as BinanceStreamFeed: ``run(sink)``,
``close()``, ``state`` and ``on_status``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tradetui.core.instrument import Instrument
from tradetui.core.types import BookSnapshot, Level, MarketEvent, Side, Trade
from tradetui.venues.binance_stream import FeedState, FeedStatus, ReconnectPolicy
from tradetui.venues.markets import to_lots, to_ticks

log = logging.getLogger(__name__)

_NS_PER_MS = 1_000_000


class CcxtFeed:
    """One symbol's order book and trades from a ccxt.pro client; ``run(sink)`` until
    ``close()``. ``symbol`` is ccxt's unified symbol."""

    def __init__(
        self,
        instrument: Instrument,
        client: Any,
        symbol: str,
        *,
        on_status: Callable[[FeedStatus], None] | None = None,
        reconnect: ReconnectPolicy | None = None,
        depth_levels: int = 50,
        seed: int | None = None,
    ) -> None:
        self.instrument = instrument
        self._client = client
        self._symbol = symbol
        self._on_status = on_status
        self._reconnect = reconnect or ReconnectPolicy()
        self._levels = depth_levels
        self._rng = random.Random(seed)
        self._state = FeedState.DISCONNECTED
        self._update_id = 0
        self._trade_seq = 0
        self._book_known = False
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = asyncio.Event()

    @property
    def state(self) -> FeedState:
        return self._state

    async def run(self, sink: Callable[[MarketEvent], None]) -> None:
        """Deliver market events to ``sink`` (synchronously, in arrival order) until closed."""
        self._set(FeedState.CONNECTING, f"watching {self._symbol} on {self._client.id}")
        self._tasks = [
            asyncio.create_task(self._loop(lambda: self._book(sink), sink, "order book")),
            asyncio.create_task(self._loop(lambda: self._trades(sink), sink, "trades")),
        ]
        try:
            await self._closed.wait()
        finally:
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self._set(FeedState.CLOSED, "closed")

    async def close(self) -> None:
        """Stop ``run``."""
        self._closed.set()

    async def _loop(
        self,
        step: Callable[[], Awaitable[None]],
        sink: Callable[[MarketEvent], None],
        what: str,
    ) -> None:
        attempt = 0
        while True:
            try:
                await step()
                attempt = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                detail = f"{what}: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"
                self._forget_book(sink)
                self._set(FeedState.DISCONNECTED, detail)
                await asyncio.sleep(self._reconnect.delay_s(attempt, self._rng))
                attempt += 1

    async def _book(self, sink: Callable[[MarketEvent], None]) -> None:
        ob = await self._client.watch_order_book(self._symbol)
        now = time.time_ns()
        inst = self.instrument
        n = self._levels
        bids: tuple[Level, ...] = tuple(
            (to_ticks(inst, p), to_lots(inst, q)) for p, q, *_ in ob["bids"][:n]
        )
        asks: tuple[Level, ...] = tuple(
            (to_ticks(inst, p), to_lots(inst, q)) for p, q, *_ in ob["asks"][:n]
        )
        if not bids or not asks:
            return
        self._update_id += 1
        stamp = ob.get("timestamp")
        sink(
            BookSnapshot(
                exch_ns=int(stamp) * _NS_PER_MS if stamp else now,
                local_ns=now,
                update_id=self._update_id,
                bids=bids,
                asks=asks,
            )
        )
        self._book_known = True
        self._set(FeedState.LIVE, "book live")

    async def _trades(self, sink: Callable[[MarketEvent], None]) -> None:
        trades = await self._client.watch_trades(self._symbol)
        now = time.time_ns()
        inst = self.instrument
        for t in trades:
            self._trade_seq += 1
            raw_id = str(t.get("id") or "")
            stamp = t.get("timestamp")
            sink(
                Trade(
                    exch_ns=int(stamp) * _NS_PER_MS if stamp else now,
                    local_ns=now,
                    trade_id=int(raw_id) if raw_id.isdigit() else self._trade_seq,
                    price_ticks=to_ticks(inst, t["price"]),
                    qty_lots=to_lots(inst, t["amount"]),
                    aggressor=Side.BUY if t.get("side") == "buy" else Side.SELL,
                )
            )

    def _forget_book(self, sink: Callable[[MarketEvent], None]) -> None:
        if not self._book_known:
            return
        self._book_known = False
        now = time.time_ns()
        self._update_id += 1
        sink(BookSnapshot(exch_ns=now, local_ns=now, update_id=self._update_id, bids=(), asks=()))

    def _set(self, state: FeedState, detail: str) -> None:
        if state is self._state:
            return
        self._state = state
        log.info("feed %s: %s", state, detail)
        if self._on_status is not None:
            self._on_status(FeedStatus(state, detail, time.time_ns()))
