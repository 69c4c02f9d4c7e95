"""Public Binance streams of every symbol of a venue, for the screener: bookTicker, aggTrade
and the all-market 24 h ticker, spread over as many websocket connections as Binance's limits
require. No keys, no REST (the symbol list comes from one exchangeInfo call, made elsewhere).

Binance's limits per connection ("Websocket Market Streams" of USD-M and COIN-M,
developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams and
.../coin-margined-futures/websocket-market-streams; spot: developers.binance.com/docs/
binance-spot-api-docs/web-socket-streams, "WebSocket Limits"): "A single connection can listen
to a maximum of 1024 streams"; "WebSocket connections have a limit of 10 incoming messages per
second" (spot: 5) and "a connection that goes beyond the limit will be disconnected". So the
streams are split into shards of at most ``max_streams`` names, each shard one connection
that subscribes with ``SUBSCRIBE`` requests of at most ``NAMES_PER_REQUEST`` names, sent at
half the allowed request rate (pings are answered by the websockets library).

USD-M routes streams by category (see venues/binance_stream.py, ``usdm_category``):
``<s>@bookTicker`` on ``/public``, ``<s>@aggTrade`` and ``!ticker@arr`` on ``/market``; with
``feed.ws_routing = 'legacy'`` and on COIN-M and spot every shard uses ``/stream``. The
all-market ``!bookTicker`` is not used: on USD-M it is pushed every 5 s ("All Book Tickers
Stream", update speed 5s), too coarse for spreads; per-symbol bookTicker is real time.

Each shard reconnects on its own (``ReconnectPolicy`` backoff): a dropped connection never
touches the others, and the new connection subscribes its streams again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import msgspec
import websockets

from tradetui.venues.binance_stream import ReconnectPolicy, usdm_category

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """Binance's per-connection limits: streams listened to, requests received per second."""

    max_streams: int
    requests_per_s: int


STREAM_LIMITS = {
    "binanceusdm": StreamLimits(1024, 10),
    "binancecoinm": StreamLimits(1024, 10),
    "binance": StreamLimits(1024, 5),
}
# Names in one SUBSCRIBE request. Binance states no cap; a request stays a few kB.
NAMES_PER_REQUEST = 200
_MAX_FRAME = 16 * 1024 * 1024
_CLOSE_TIMEOUT_S = 1.0


@dataclass(frozen=True, slots=True)
class Shard:
    """One connection's streams: ``path`` is the base it connects to ('/public/stream',
    '/market/stream' or '/stream')."""

    index: int
    path: str
    names: tuple[str, ...]


def shard_plan(symbols: list[str], *, routed: bool, max_streams: int) -> list[Shard]:
    """The shards for ``symbols`` (exchange ids): their bookTicker and aggTrade streams and
    ``!ticker@arr``, at most ``max_streams`` names a shard; ``routed``: USD-M's /public and
    /market bases."""
    if max_streams < 1:
        raise ValueError(f"max_streams must be 1 or more, not {max_streams}")
    names = ["!ticker@arr"]
    for s in symbols:
        low = s.lower()
        names += [f"{low}@bookTicker", f"{low}@aggTrade"]
    groups: dict[str, list[str]] = {}
    for n in names:
        path = f"/{usdm_category(n)}/stream" if routed else "/stream"
        groups.setdefault(path, []).append(n)
    shards: list[Shard] = []
    for path in sorted(groups):
        group = groups[path]
        for start in range(0, len(group), max_streams):
            chunk = tuple(group[start : start + max_streams])
            shards.append(Shard(len(shards), path, chunk))
    return shards


@dataclass(slots=True)
class ShardStatus:
    """What one shard's connection is doing (read by the screen and the JSON report)."""

    shard: Shard
    state: str = "connecting"  # connecting | subscribing | live | disconnected | closed
    connects: int = 0
    messages: int = 0
    last_rx_ns: int = 0
    detail: str = ""


@dataclass(slots=True)
class ScreenerFeed:
    """Every shard's connection; frames go to ``on_frame(text)`` in arrival order per shard."""

    ws_url: str
    shards: list[Shard]
    limits: StreamLimits
    on_frame: Callable[[str | bytes], None]
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    ping_interval_s: float = 20.0
    ping_timeout_s: float = 20.0
    status: list[ShardStatus] = field(init=False)
    _closing: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    _rng: random.Random = field(init=False, default_factory=random.Random)

    def __post_init__(self) -> None:
        self.status = [ShardStatus(s) for s in self.shards]

    async def run(self) -> None:
        """Run every shard until ``close()``."""
        await asyncio.gather(*(self._shard(st) for st in self.status))

    def close(self) -> None:
        """Stop every shard (``run`` returns once they closed)."""
        self._closing.set()

    async def _shard(self, st: ShardStatus) -> None:
        attempt = 0
        url = self.ws_url.rstrip("/") + st.shard.path
        while not self._closing.is_set():
            st.state = "connecting"
            started = time.monotonic()
            try:
                async with websockets.connect(
                    url,
                    max_size=_MAX_FRAME,
                    ping_interval=self.ping_interval_s,
                    ping_timeout=self.ping_timeout_s,
                    close_timeout=_CLOSE_TIMEOUT_S,
                ) as ws:
                    st.connects += 1
                    await self._serve(ws, st)
            except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                st.detail = f"{type(exc).__name__}: {exc}"[:200]
            if self._closing.is_set():
                break
            st.state = "disconnected"
            if time.monotonic() - started >= self.reconnect.healthy_s:
                attempt = 0
            delay = self.reconnect.delay_s(attempt, self._rng)
            attempt += 1
            log.warning(
                "screener shard %d dropped (%s); reconnecting in %.2fs",
                st.shard.index,
                st.detail or "closed",
                delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), delay)
        st.state = "closed"

    async def _serve(self, ws: websockets.ClientConnection, st: ShardStatus) -> None:
        st.state = "subscribing"
        subscriber = asyncio.create_task(self._subscribe(ws, st))
        closer = asyncio.create_task(self._closing.wait())
        try:
            reader = asyncio.create_task(self._read(ws, st))
            done, _ = await asyncio.wait({reader, closer}, return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                reader.result()
            else:
                reader.cancel()
                await ws.close()
        finally:
            subscriber.cancel()
            closer.cancel()

    async def _subscribe(self, ws: websockets.ClientConnection, st: ShardStatus) -> None:
        # Half the allowed request rate leaves room for anything else the library sends.
        gap_s = 2.0 / self.limits.requests_per_s
        names = st.shard.names
        for n, start in enumerate(range(0, len(names), NAMES_PER_REQUEST), 1):
            batch = list(names[start : start + NAMES_PER_REQUEST])
            await ws.send(json.dumps({"method": "SUBSCRIBE", "params": batch, "id": n}))
            await asyncio.sleep(gap_s)
        st.state = "live"
        st.detail = ""

    async def _read(self, ws: websockets.ClientConnection, st: ShardStatus) -> None:
        on_frame = self.on_frame
        async for frame in ws:
            st.messages += 1
            st.last_rx_ns = time.time_ns()
            on_frame(frame)


# ---- decoding -----------------------------------------------------------------------------------


class _Envelope(msgspec.Struct):
    """The combined-stream wrapper; a subscription's answer has neither field."""

    stream: str = ""
    data: msgspec.Raw = msgspec.Raw(b"null")
    error: dict[str, object] | None = None


class BookTickerMsg(msgspec.Struct):
    s: str
    b: str
    a: str


class AggTradeMsg(msgspec.Struct):
    s: str
    p: str
    q: str
    f: int
    l: int  # noqa: E741 (Binance's field name)


class TickerMsg(msgspec.Struct):
    s: str
    q: str  # 24 h quote volume (COIN-M: base asset volume)
    n: int = 0  # 24 h trade count
    v: str = "0"  # 24 h volume: base asset (COIN-M: contracts)


@dataclass(slots=True)
class FrameDecoder:
    """Binance frames → typed messages for the screener's sink; counts what it skipped."""

    on_book: Callable[[BookTickerMsg], None]
    on_trade: Callable[[AggTradeMsg], None]
    on_tickers: Callable[[list[TickerMsg]], None]
    skipped: int = 0
    _env: msgspec.json.Decoder[_Envelope] = field(
        init=False, default_factory=lambda: msgspec.json.Decoder(_Envelope)
    )
    _book: msgspec.json.Decoder[BookTickerMsg] = field(
        init=False, default_factory=lambda: msgspec.json.Decoder(BookTickerMsg)
    )
    _trade: msgspec.json.Decoder[AggTradeMsg] = field(
        init=False, default_factory=lambda: msgspec.json.Decoder(AggTradeMsg)
    )
    _tickers: msgspec.json.Decoder[list[TickerMsg]] = field(
        init=False, default_factory=lambda: msgspec.json.Decoder(list[TickerMsg])
    )

    def __call__(self, frame: str | bytes) -> None:
        """Decode one frame and hand its message on; unreadable ones are counted and logged."""
        try:
            env = self._env.decode(frame)
            stream = env.stream
            if stream.endswith("@bookTicker"):
                self.on_book(self._book.decode(env.data))
            elif stream.endswith("@aggTrade"):
                self.on_trade(self._trade.decode(env.data))
            elif stream == "!ticker@arr":
                self.on_tickers(self._tickers.decode(env.data))
            elif env.error is not None:
                self._skip(f"the exchange refused a request: {env.error}")
            elif stream:
                self._skip(f"a stream not asked for: {stream}")
        except msgspec.DecodeError as exc:
            self._skip(f"unreadable frame ({exc}): {str(frame)[:80]!r}")

    def _skip(self, why: str) -> None:
        self.skipped += 1
        if self.skipped <= 20 or self.skipped % 1000 == 0:
            log.warning("screener: skipped %s", why)
