"""The sandbox's websocket side: Binance USD-M market streams and the user data stream.

Market connections (``/public/ws/<names>``, ``/market/ws/<names>``, ``/ws``) are subscribed
to the stream names in their path (``a@depth/b@trade``; ccxt's stream index ``0`` names none)
and by ``{"method": "SUBSCRIBE", "params": [...], "id": N}``, and get raw events
(``depthUpdate``, ``bookTicker``, ``trade``); combined-stream connections
(``/public/stream?streams=a/b/c``, legacy ``/stream?...``) are subscribed by their URL (and may
SUBSCRIBE more) and get each event wrapped as ``{"stream":"<name>","data":{...}}``, compact
JSON as Binance sends it; private connections (``/private/ws?listenKey=K``, COIN-M's
``/ws/K``) get ``ORDER_TRADE_UPDATE`` and, after fills, ``ACCOUNT_UPDATE``.

A market connection opened on one of USD-M's routed bases gets only the streams of that base's
category: every stream the sandbox publishes (depth, bookTicker, trade) is a ``/public`` one,
so a ``/market`` connection subscribed to them receives nothing, silently, as on Binance (see
``PUBLIC``). When a user stream's key expires it gets ``listenKeyExpired`` and then
nothing more (the socket stays open: Binance's event "is not related to the websocket
disconnection"). Each connection has its own queue and
writer task, so publishing never waits on a slow reader. Faults: depth updates dropped (a
sequence gap), duplicated or swapped, a stalled stream (connections stay open but get no market
data), raw text injected into every market connection, every connection dropped at once, and
user streams muted (open, but sent nothing more), and the connections of one stream dropped.
A connection sending more requests a second than Binance allows is closed (``INCOMING_PER_S``).
The sandbox's other symbols and the all-market streams are published by sandbox/universe.py
through ``send``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tradetui.core.instrument import Instrument, InstrumentKind
from tradetui.core.types import BestBidOffer, BookDelta, MarketEvent, Trade
from tradetui.sandbox import formats
from tradetui.sandbox.account import OrderUpdate

DEPTH_SPEEDS = ("", "@0ms", "@100ms", "@250ms", "@500ms")

# The category of the streams the sandbox publishes. Binance split USD-M's websocket bases by
# category: /public for the book ("high-frequency public market data", e.g. @depth,
# @bookTicker), /market for regular market data (@aggTrade, @markPrice, @kline_...), /private
# for user data; a stream on the wrong base is not delivered, without an error
# (developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/
# Important-WebSocket-Change-Notice and developers.binance.com/docs/products/caas/
# market-data-streams). USD-M's raw <symbol>@trade is not in Binance's stream list; ccxt 4.5
# (binance.get_future_ws_category) and measurements users published serve it on /public.
PUBLIC = "public"
MARKET = "market"
# "WebSocket connections have a limit of 10 incoming messages per second. A connection that
# goes beyond the limit will be disconnected" (USD-M and COIN-M "Websocket Market Streams");
# spot's limit is 5 (developers.binance.com/docs/binance-spot-api-docs/web-socket-streams,
# "WebSocket Limits"). Binance closes such a connection; the sandbox closes it with 1008.
INCOMING_PER_S = 10
SPOT_INCOMING_PER_S = 5


@dataclass(slots=True)
class StreamFaults:
    """Counts of depth updates to mistreat: dropped, sent twice, or swapped with the next;
    ``stalled``: market connections stay open but get nothing (their diffs are lost); and
    user-stream order updates sent twice or swapped with the next."""

    gap: int = 0
    duplicate: int = 0
    reorder: int = 0
    stalled: bool = False
    user_duplicate: int = 0
    user_reorder: int = 0


@dataclass(eq=False, slots=True)
class _Conn:
    ws: web.WebSocketResponse
    private: bool
    combined: bool = False
    # The routed base's category ("public", "market"); None on an unrouted base (all).
    category: str | None = None
    key: str = ""  # a user stream's listenKey
    muted: bool = False  # a user stream sent nothing more (its key expired, or a fault)
    streams: set[str] = field(default_factory=set)
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    # Monotonic times (s) of the requests received in the last second.
    recent: deque[float] = field(default_factory=deque)


class StreamHub:
    """Every open websocket of the sandbox and what each has subscribed to."""

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.faults = StreamFaults()
        sym = instrument.symbol.lower()
        self._depth_names = frozenset(f"{sym}@depth{speed}" for speed in DEPTH_SPEEDS)
        self._bbo_name = f"{sym}@bookTicker"
        self._trade_name = f"{sym}@trade"
        self._conns: set[_Conn] = set()
        # Every stream some connection subscribed to: publishers skip building the others.
        self.wanted: frozenset[str] = frozenset()
        spot = instrument.kind is InstrumentKind.SPOT
        self.incoming_per_s = SPOT_INCOMING_PER_S if spot else INCOMING_PER_S
        self._held: str | None = None
        self._held_update: str | None = None

    @property
    def connection_count(self) -> int:
        """Open websocket connections (market and private)."""
        return len(self._conns)

    @property
    def private_count(self) -> int:
        """Open user-stream connections."""
        return sum(c.private for c in self._conns)

    # ---- connections ------------------------------------------------------------------------

    async def serve(
        self,
        request: web.Request,
        *,
        private: bool,
        allowed: Callable[[], bool],
        combined: bool = False,
        category: str | None = None,
        names: str = "",
        key: str = "",
    ) -> web.WebSocketResponse:
        """Run one websocket until either side closes it; ``allowed`` gates private ones
        (``key``: a user stream's listenKey).

        ``combined``: a combined-stream connection subscribed to the ``streams`` query
        parameter (names separated by ``/``), whose events are wrapped with their stream name.
        ``names``: the raw connection's stream names from its path (``a@depth/b@trade``).
        ``category``: the routed base's category; it gets only streams of that category.
        """
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        if not allowed():
            await ws.close(code=4001, message=b"invalid listenKey")
            return ws
        conn = _Conn(ws, private, combined, category, key)
        if combined:
            names = request.query.get("streams", "")
        conn.streams.update(n for n in names.split("/") if "@" in n or n.startswith("!"))
        self._conns.add(conn)
        self._rewant()
        writer = asyncio.create_task(self._write(conn))
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    if self._too_many(conn):
                        await ws.close(code=1008, message=b"Too many requests")
                        break
                    self._on_request(conn, msg.data)
        finally:
            self._conns.discard(conn)
            self._rewant()
            conn.queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        return ws

    async def _write(self, conn: _Conn) -> None:
        while True:
            text = await conn.queue.get()
            if text is None or conn.ws.closed:
                return
            try:
                await conn.ws.send_str(text)
            except ConnectionError:
                return

    def _rewant(self) -> None:
        self.wanted = frozenset().union(*(c.streams for c in self._conns if not c.private))

    def _too_many(self, conn: _Conn) -> bool:
        """Count a request of ``conn``; True when it is over Binance's per-second limit."""
        now = time.monotonic()
        recent = conn.recent
        recent.append(now)
        while recent and recent[0] <= now - 1.0:
            recent.popleft()
        return len(recent) > self.incoming_per_s

    def _on_request(self, conn: _Conn, data: str) -> None:
        try:
            req = json.loads(data)
            method, req_id = req["method"], req["id"]
            params = [str(p) for p in req.get("params", [])]
        except (ValueError, KeyError, TypeError):
            conn.queue.put_nowait(json.dumps({"error": {"code": 3, "msg": "Invalid JSON"}}))
            return
        result: Any = None
        if method == "SUBSCRIBE":
            conn.streams.update(params)
        elif method == "UNSUBSCRIBE":
            conn.streams.difference_update(params)
        elif method == "LIST_SUBSCRIPTIONS":
            result = sorted(conn.streams)
        else:
            err = {"code": 2, "msg": f"Invalid request: unknown method {method!r}"}
            conn.queue.put_nowait(json.dumps({"error": err, "id": req_id}))
            return
        self._rewant()
        conn.queue.put_nowait(json.dumps({"result": result, "id": req_id}))

    async def drop_all(self, *, private_only: bool = False) -> None:
        """Close every connection (or every user stream) at once: the dropped-websocket fault."""
        for conn in list(self._conns):
            if conn.private or not private_only:
                await conn.ws.close(code=1001, message=b"sandbox: connection dropped")

    async def drop_subscribers(self, name: str) -> int:
        """Close the market connections subscribed to stream ``name`` (one shard of a client
        that spreads its streams over several connections); returns how many."""
        hit = [c for c in self._conns if not c.private and name in c.streams]
        for conn in hit:
            await conn.ws.close(code=1001, message=b"sandbox: connection dropped")
        return len(hit)

    def expire_user_streams(self, key: str, now_ms: int) -> None:
        """``key`` expired: its user streams get ``listenKeyExpired`` and then nothing more."""
        text = _compact(formats.listen_key_expired(key, now_ms))
        for conn in self._conns:
            if conn.private and conn.key == key and not conn.muted:
                conn.queue.put_nowait(text)
                conn.muted = True

    def mute_user_streams(self, key: str = "") -> None:
        """Send nothing more to the user streams open now (of ``key``, or all): they stay open
        (the invalidated-key and deaf-stream faults)."""
        for conn in self._conns:
            if conn.private and (not key or conn.key == key):
                conn.muted = True

    # ---- publishing -------------------------------------------------------------------------

    def publish_market(self, events: list[MarketEvent], skew_ms: int) -> None:
        """Send market events to the connections subscribed to their streams, stamped by the
        exchange clock (the event's wall-clock time plus ``skew_ms``)."""
        if not self._conns or not events or self.faults.stalled:
            return
        inst = self.instrument
        for ev in events:
            t_ms = formats.exchange_ms(ev.exch_ns, skew_ms)
            if type(ev) is BookDelta:
                for text in self._depth_texts(_compact(formats.depth_update(inst, ev, t_ms))):
                    self.send(text, self._depth_names, PUBLIC)
            elif type(ev) is BestBidOffer:
                text = _compact(formats.book_ticker(inst, ev, t_ms))
                self.send(text, (self._bbo_name,), PUBLIC)
            elif type(ev) is Trade:
                self.send(_compact(formats.trade(inst, ev, t_ms)), (self._trade_name,), PUBLIC)

    def inject(self, text: str) -> None:
        """Send ``text`` as it is to every market connection (garbage, unknown streams...)."""
        for conn in self._conns:
            if not conn.private:
                conn.queue.put_nowait(text)

    def publish_updates(
        self, updates: list[OrderUpdate], now_ms: int, account: dict[str, Any] | None = None
    ) -> None:
        """Send order updates to every private connection, then ``account`` (an
        ``ACCOUNT_UPDATE`` event) when given."""
        private = [c for c in self._conns if c.private and not c.muted]
        if not private:
            return
        for u in updates:
            text = json.dumps(formats.order_trade_update(self.instrument, u, now_ms))
            for out in self._update_texts(text):
                for conn in private:
                    conn.queue.put_nowait(out)
        if account is not None:
            text = json.dumps(account)
            for conn in private:
                conn.queue.put_nowait(text)

    def _update_texts(self, text: str) -> list[str]:
        """The user-stream messages to send now for ``text``, after the duplicate and
        reorder faults."""
        f = self.faults
        if f.user_duplicate > 0:
            f.user_duplicate -= 1
            return [text, text]
        if self._held_update is not None:
            held, self._held_update = self._held_update, None
            return [text, held]
        if f.user_reorder > 0:
            f.user_reorder -= 1
            self._held_update = text
            return []
        return [text]

    def _depth_texts(self, text: str) -> list[str]:
        """The depth messages to send now for ``text``, after the sequence faults."""
        f = self.faults
        if f.gap > 0:
            f.gap -= 1
            return []
        if f.duplicate > 0:
            f.duplicate -= 1
            return [text, text]
        if self._held is not None:
            held, self._held = self._held, None
            return [text, held]
        if f.reorder > 0:
            f.reorder -= 1
            self._held = text
            return []
        return [text]

    def send(self, text: str, names: Collection[str], category: str) -> None:
        """Send one event (``text``, compact JSON) of the streams ``names`` (of one
        ``category``, 'public' or 'market') to the connections subscribed to one of them."""
        for conn in self._conns:
            if conn.private or conn.streams.isdisjoint(names):
                continue
            if conn.category not in (None, category):
                continue  # e.g. depth asked for on /market: Binance sends nothing there
            if conn.combined:
                name = min(conn.streams.intersection(names))  # one copy when subscribed twice
                conn.queue.put_nowait(f'{{"stream":"{name}","data":{text}}}')
            else:
                conn.queue.put_nowait(text)


def _compact(obj: Any) -> str:
    """JSON without spaces, as Binance's streams send it."""
    return json.dumps(obj, separators=(",", ":"))
