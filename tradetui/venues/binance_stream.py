"""Live Binance market data (USD-M and COIN-M futures, spot) over the combined websocket stream.

``BinanceStreamFeed`` connects to ``{ws_url}/stream?streams=<sym>@depth@<speed>/<sym>@bookTicker/
<sym>@trade`` (on USD-M the ``/public`` base: ``{ws_url}/public/stream?...``, see
``stream_url``), fetches the REST depth snapshot (USD-M ``{rest_url}/fapi/v1/depth``, COIN-M
``{rest_url}/dapi/v1/depth``, spot ``{rest_url}/api/v3/depth``) and turns every message into
our MarketEvents through market/messages.py — the decoder and ``SequencedBook`` that replays
use, so the live book is built by the same code that ``tradetui data check`` proves against
the exchange's bookTicker. Events go to ``sink`` synchronously and in receive order;
``local_ns`` is ``time.time_ns()`` taken when the frame was read, ``exch_ns`` the exchange's
``E``.

Book sync: diffs that arrive before the snapshot are buffered and the diff straddling the
snapshot id applies first (USD-M chains ``pu == previous u``, spot ``U == previous u + 1``).
On a gap the sink gets an EMPTY BookSnapshot (the book is unknown: never quote on it), the
feed fetches a fresh REST snapshot and resyncs; consecutive failed syncs back off like
reconnects. After a disconnect the sink gets an empty snapshot too, and the new connection
resyncs from scratch.

Several symbols of one websocket base can share one connection (``carry``,
``share_connections``: a book of markets, docs/multi-market.md): the carrier subscribes every
symbol's streams and routes each combined-stream frame by the stream it names to that symbol's
own decoder, book, snapshot and sink; a gap resyncs one symbol, a dropped connection all.

Policies, one of each per feed:

- reconnect: ``ReconnectPolicy`` — exponential backoff from ``initial_s`` by ``factor`` up to
  ``max_s``, each delay drawn uniformly from its lower ``jitter`` fraction below the step (so
  many clients do not reconnect in lockstep); the step count resets once a connection has
  been LIVE for ``healthy_s``.
- heartbeat: the websockets library's keepalive. It answers server pings by itself (Binance
  pings every few minutes and drops a client that does not pong) and sends its own ping every
  ``ping_interval_s``, closing the connection when no pong comes within ``ping_timeout_s``
  (a half-open TCP connection is noticed within interval + timeout).
- staleness: a watchdog closes and reconnects when no message at all arrived for ``stale_s``
  (a stream that answers pings but sends nothing is as dead as a closed one); 0 turns it off.
- one queue per feed: the connection's own receive buffer (``_MAX_QUEUE`` frames; beyond it
  the socket is not read, so TCP holds the rest and nothing is dropped). The reader takes a
  frame, stamps it and runs it through decode → sequence → sink at once, with no hand-off to
  another task (a hand-off made the first frame of a burst wait for the whole burst to be
  read). A REST snapshot is applied by the same code when its response arrives, between two
  frames, so everything reaches the sink in arrival order.

Messages that cannot be read (garbage, off-grid prices) or streams we did not ask for are
reported (``on_issue`` and the log) and skipped; they never stop the feed. ``on_raw(local_ns,
body)`` sees every message (REST snapshots included) after its events reached the sink, so a
recorder attached to it never delays a decision.

State: LIVE once a diff has chained onto the snapshot (the proof); the full BookSnapshot
reaches the sink when the snapshot arrives, so on a very quiet symbol the feed may sit in
SYNCING with a good book until its first diff.

Refinements of the agreed interface (notes/FEED_API.md), all compatible: extra keyword
arguments after ``reconnect`` (heartbeat, staleness, depth limit and speed, proxy, on_issue,
seed); ``from_settings(instrument, settings.feed, ws_url=, rest_url=, ...)`` builds one from
the ``[feed]`` section; ``on_raw`` is also a public attribute that may be set before ``run()``
(the recorder needs the feed's book, so it is made after the feed); ``stats``, ``report``
(counts by stream), ``book`` (the current SequencedBook), ``url`` and ``snapshot_url`` for
monitoring; ``close()`` may be called from any task but the sink's own (it waits for
``run()`` to return). If the sink raises, ``run()`` ends with that exception; when the
websocket base answers HTTP 404 (not served: e.g. a retired base) it ends with SetupError.

Recording a live session (the live wiring)::

    feed = BinanceStreamFeed.from_settings(inst, settings.feed, ws_url=..., rest_url=...)
    if settings.record.enabled:
        recorder = FeedRecorder(recordings_dir(settings), f"live_{inst.symbol.lower()}", inst,
                                lambda: feed.book, flush_s=settings.record.flush_s)
        feed.on_raw = recorder.on_raw      # after each message reached the sink
    ...                                    # run the session; at the end:
    await feed.close(); recorder.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

import aiohttp
import msgspec
import websockets
from websockets.asyncio.client import ClientConnection

from tradetui.config import DEPTH_LIMITS, WS_ROUTINGS, FeedSettings
from tradetui.core.instrument import Instrument, InstrumentKind
from tradetui.core.types import BestBidOffer, BookDelta, BookSnapshot, MarketEvent
from tradetui.market.books import SequencedBook, SyncState
from tradetui.market.files import ReplayReport
from tradetui.market.messages import StreamDecoder
from tradetui.venues.errors import SetupError

log = logging.getLogger(__name__)

# Issues logged one by one before the log thins them out to one in _ISSUE_LOG_EVERY.
_ISSUES_LOGGED = 20
_ISSUE_LOG_EVERY = 1000
# Largest websocket frame accepted, bytes (a depth diff of a busy second is ~100 kB).
_MAX_FRAME = 16 * 1024 * 1024
_CLOSE_TIMEOUT_S = 1.0
# Frames the connection buffers while we are busy before it stops reading the socket (TCP
# then holds the rest): the feed's one message queue.
_MAX_QUEUE = 1024
# Streams one futures connection may carry ("A single connection can listen to a maximum of
# 1024 streams": developers.binance.com/docs/derivatives/usds-margined-futures/
# websocket-market-streams, and the COIN-M page); spot's streams allow the same.
MAX_STREAMS = 1024
# The handshake answer of a websocket base the server does not have: the feed stops.
_NOT_SERVED = 404
# SequencedBook's gap message ends with this; the status says what happens instead.
_BOOK_CLEARED = "; book cleared until the next snapshot"


class FeedState(StrEnum):
    """What the feed is doing now."""

    CONNECTING = "connecting"
    SYNCING = "syncing"  # connected; the book is being (re)built from a REST snapshot
    LIVE = "live"  # the book is the exchange's book
    DISCONNECTED = "disconnected"  # waiting to reconnect
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class FeedStatus:
    """Told on every state change (and on every resync, which is a change of its book)."""

    state: FeedState
    detail: str  # one line: why (e.g. "sequence gap ...: resyncing", "websocket closed 1006")
    at_ns: int  # time.time_ns()


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Exponential backoff with jitter and a cap; reset after a healthy connection."""

    initial_s: float = 0.1
    factor: float = 2.0
    max_s: float = 30.0
    jitter: float = 0.5  # fraction of each step that is random (0 = none, 1 = full jitter)
    healthy_s: float = 30.0  # a connection LIVE this long resets the backoff, seconds

    def __post_init__(self) -> None:
        if not (0 < self.initial_s <= self.max_s and self.factor >= 1 and 0 <= self.jitter <= 1):
            raise ValueError(
                "reconnect policy: need 0 < initial_s <= max_s, factor >= 1, 0 <= jitter <= 1 "
                f"(got {self.initial_s}, {self.max_s}, {self.factor}, {self.jitter})"
            )

    def delay_s(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before attempt number ``attempt`` (0 = the first retry)."""
        step = min(self.max_s, self.initial_s * self.factor ** min(attempt, 64))
        return step * (1.0 - self.jitter * rng.random())


@dataclass(slots=True)
class FeedStats:
    """Running counts since the feed was made."""

    messages: int = 0  # websocket frames received
    issues: int = 0  # unreadable or unexpected messages, stale diffs, crossed books
    gaps: int = 0  # sequence gaps (each followed by a resync)
    snapshots: int = 0  # REST snapshots fetched
    connects: int = 0  # websocket connections opened
    last_rx_ns: int = 0  # receive time of the newest message


def stream_names(instrument: Instrument, depth_speed: str | None = None) -> list[str]:
    """The combined-stream names the feed subscribes (depth diff, bookTicker, trade)."""
    sym = instrument.symbol.lower()
    spot = instrument.kind is InstrumentKind.SPOT
    speed = depth_speed or ("100ms" if spot else "0ms")
    return [f"{sym}@depth@{speed}", f"{sym}@bookTicker", f"{sym}@trade"]


# Binance split USD-M's websocket bases by stream category and retired the legacy /ws and
# /stream bases on 2026-04-23: /public carries the book ("high-frequency public market data":
# @depth, @bookTicker), /market the rest (@aggTrade, @markPrice, @kline_...), /private the user
# data; a stream asked for on another base is not delivered, without an error
# (developers.binance.com/docs/derivatives/usds-margined-futures/websocket-market-streams/
# Important-WebSocket-Change-Notice; developers.binance.com/docs/products/caas/
# market-data-streams). USD-M's raw @trade is not in Binance's stream list: ccxt 4.5
# (binance.get_future_ws_category) and measurements users published find it on /public. COIN-M
# (dstream) and spot keep their single base. The feed's three streams share /public.
_PUBLIC_STREAMS = ("depth", "bookTicker", "trade", "rpiDepth")


def usdm_category(name: str) -> str:
    """The USD-M base of stream ``name``: 'public' (book and raw trades) or 'market'."""
    kind = name.partition("@")[2].partition("@")[0]
    return "public" if kind.startswith(_PUBLIC_STREAMS) else "market"


def stream_url(ws_url: str, names: list[str], *, routed: bool = False) -> str:
    """``{ws_url}/stream?streams=a/b/c``; ``routed``: on the USD-M base of the streams'
    category, ``{ws_url}/public/stream?...`` (ValueError when they need two bases)."""
    base = ws_url.rstrip("/")
    if routed:
        categories = {usdm_category(n) for n in names}
        if len(categories) != 1:
            raise ValueError(f"streams {names} need both the /public and /market bases")
        base = f"{base}/{categories.pop()}"
    return f"{base}/stream?streams={'/'.join(names)}"


def depth_url(rest_url: str, instrument: Instrument, limit: int) -> str:
    """The REST depth snapshot URL (USD-M ``/fapi/v1/depth``, COIN-M ``/dapi/v1/depth`` for an
    inverse contract, spot ``/api/v3/depth``)."""
    if instrument.kind is InstrumentKind.SPOT:
        path = "/api/v3/depth"
    else:
        path = "/dapi/v1/depth" if instrument.inverse else "/fapi/v1/depth"
    return f"{rest_url.rstrip('/')}{path}?symbol={instrument.symbol}&limit={limit}"


# Binance's market-data hosts (websocket base, REST base) by ccxt exchange id: USD-M's and
# COIN-M's (Binance's derivatives "General Info": fstream/fapi and dstream/dapi).
_FEED_HOSTS = {
    "binanceusdm": ("wss://fstream.binance.com", "https://fapi.binance.com"),
    "binancecoinm": ("wss://dstream.binance.com", "https://dapi.binance.com"),
}


def feed_hosts(exchange_id: str) -> tuple[str, str] | None:
    """The (websocket, REST) bases of the Binance exchange ``exchange_id`` for this feed, or
    None when the feed does not serve that exchange."""
    return _FEED_HOSTS.get(exchange_id)


class BinanceStreamFeed:
    """One symbol's live market data; ``run(sink)`` until ``close()``."""

    def __init__(
        self,
        instrument: Instrument,
        *,
        ws_url: str,
        rest_url: str,
        on_status: Callable[[FeedStatus], None] | None = None,
        on_raw: Callable[[int, bytes], None] | None = None,
        reconnect: ReconnectPolicy = ReconnectPolicy(),
        ping_interval_s: float = 20.0,
        ping_timeout_s: float = 20.0,
        stale_s: float = 10.0,
        depth_limit: int = 1000,
        depth_speed: str | None = None,
        proxy: str | None = None,
        open_timeout_s: float = 10.0,
        snapshot_timeout_s: float = 10.0,
        on_issue: Callable[[str], None] | None = None,
        seed: int | None = None,
        ws_routing: str = "split",
    ) -> None:
        if ws_routing not in WS_ROUTINGS:
            raise ValueError(f"ws_routing must be one of {WS_ROUTINGS} (got {ws_routing!r})")
        for scheme_url, schemes in ((ws_url, ("ws", "wss")), (rest_url, ("http", "https"))):
            if urlsplit(scheme_url).scheme not in schemes or not urlsplit(scheme_url).netloc:
                raise ValueError(f"{scheme_url!r}: expected a {' or '.join(schemes)}:// URL")
        if not (ping_interval_s > 0 and ping_timeout_s > 0 and stale_s >= 0):
            raise ValueError("ping_interval_s and ping_timeout_s must be > 0, stale_s >= 0")
        if depth_limit not in DEPTH_LIMITS:
            raise ValueError(f"depth_limit must be one of {DEPTH_LIMITS} (got {depth_limit})")
        self.instrument = instrument
        self.spot = instrument.kind is InstrumentKind.SPOT
        self.names = stream_names(instrument, depth_speed)
        # Only USD-M has routed bases; COIN-M and spot keep their one documented base.
        usdm = not self.spot and not instrument.inverse
        self._ws_base = (ws_url, usdm and ws_routing == "split")
        self.url = stream_url(ws_url, self.names, routed=self._ws_base[1])
        if usdm and ws_routing == "legacy":
            log.warning(
                "%s feed: feed.ws_routing = 'legacy' uses the USD-M base Binance retired on "
                "2026-04-23 (%s); set it to 'split' unless your endpoint still serves it",
                instrument.symbol,
                urlsplit(self.url).path,
            )
        self.snapshot_url = depth_url(rest_url, instrument, depth_limit)
        self.reconnect = reconnect
        self.stats = FeedStats()
        self.report = ReplayReport()  # message counts by stream and time spans
        self._on_status = on_status
        self.on_raw = on_raw  # may also be set after construction, before run()
        self._on_issue_cb = on_issue
        self._ping_interval_s = ping_interval_s
        self._ping_timeout_s = ping_timeout_s
        self._stale_s = stale_s
        self._proxy = proxy or None
        self._open_timeout_s = open_timeout_s
        self._snapshot_timeout_s = snapshot_timeout_s
        self._rng = random.Random(seed)
        self._state = FeedState.DISCONNECTED
        self._closing = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._decoder: StreamDecoder | None = None
        self._book_known = False
        self._last_id = 0
        self._last_exch_ns = 0
        self._http: aiohttp.ClientSession | None = None
        self._last_issue = ""
        # Other symbols' feeds carried on this feed's connection (``carry``), or the feed
        # whose connection carries this one; a carried feed's sink, once its run() began.
        self._riders: list[BinanceStreamFeed] = []
        self._carrier: BinanceStreamFeed | None = None
        self._sink: Callable[[MarketEvent], None] | None = None
        self._attached = asyncio.Event()

    @classmethod
    def from_settings(
        cls,
        instrument: Instrument,
        settings: FeedSettings,
        *,
        ws_url: str,
        rest_url: str,
        on_status: Callable[[FeedStatus], None] | None = None,
        on_raw: Callable[[int, bytes], None] | None = None,
        on_issue: Callable[[str], None] | None = None,
    ) -> BinanceStreamFeed:
        """A feed with the ``[feed]`` section's policies."""
        s = settings
        return cls(
            instrument,
            ws_url=ws_url,
            rest_url=rest_url,
            on_status=on_status,
            on_raw=on_raw,
            reconnect=ReconnectPolicy(
                initial_s=s.reconnect_initial_s,
                max_s=s.reconnect_max_s,
                jitter=s.reconnect_jitter,
                healthy_s=s.reconnect_healthy_s,
            ),
            ping_interval_s=s.ping_interval_s,
            ping_timeout_s=s.ping_timeout_s,
            stale_s=s.stale_s,
            depth_limit=s.depth_limit,
            proxy=s.proxy or None,
            on_issue=on_issue,
            ws_routing=s.ws_routing,
        )

    # ---- public --------------------------------------------------------------------------

    @property
    def state(self) -> FeedState:
        return self._state

    @property
    def book(self) -> SequencedBook | None:
        """The current connection's sequenced book (None before the first connection)."""
        return self._decoder.book if self._decoder is not None else None

    async def run(self, sink: Callable[[MarketEvent], None]) -> None:
        """Stream into ``sink`` until ``close()``; reconnects by itself."""
        if self._task is not None or self._attached.is_set():
            raise RuntimeError("BinanceStreamFeed.run() is already running")
        if self._closing.is_set():
            return
        if self._carrier is not None:  # the carrier's connection brings our streams
            self._sink = sink
            self._attached.set()
            await self._closing.wait()
            return
        self._task = asyncio.create_task(self._loop(sink), name="binance-stream")
        try:
            await self._task
        except asyncio.CancelledError:
            if not self._closing.is_set():
                raise  # run() itself was cancelled, not closed

    def carry(self, other: BinanceStreamFeed) -> None:
        """Bring ``other``'s streams (another symbol of the same websocket base) on this
        feed's connection, before either runs: one connection for several symbols, as
        Binance's combined stream allows (up to ``MAX_STREAMS`` a connection). Each keeps its
        own book, snapshot, resyncs, state and sink (its own ``run``); a dropped connection
        is every carried symbol's. This feed connects once every carried feed's ``run`` has
        begun. Raises ValueError for another base or beyond the limit."""
        if self._task is not None or other._attached.is_set():
            raise ValueError("carry() before run()")
        if other._ws_base != self._ws_base or other._carrier is not None or other._riders:
            raise ValueError(f"{other.instrument.symbol}: not a free feed of the same base")
        names = [*self.names, *(n for r in self._riders for n in r.names), *other.names]
        if len(names) > MAX_STREAMS:
            raise ValueError(
                f"{len(names)} streams on one connection; Binance allows {MAX_STREAMS}"
            )
        self._riders.append(other)
        other._carrier = self
        self.url = stream_url(self._ws_base[0], names, routed=self._ws_base[1])

    async def close(self) -> None:
        """Stop streaming; returns once ``run()`` has returned (prompt: nothing waits long)."""
        self._closing.set()
        task = self._task
        if task is None or task.done() or task is asyncio.current_task():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    # ---- connection loop -------------------------------------------------------------------

    def _carried(self, sink: Callable[[MarketEvent], None]) -> list[_Carried]:
        """This feed and the feeds it carries that still run, each with its sink."""
        out = [(self, sink)]
        out += [(r, r._sink) for r in self._riders if r._sink is not None]
        return [(f, k) for f, k in out if f is self or not f._closing.is_set()]

    async def _loop(self, sink: Callable[[MarketEvent], None]) -> None:
        for rider in self._riders:  # every carried symbol's sink, before connecting
            await rider._attached.wait()
        attempt = 0
        timeout = aiohttp.ClientTimeout(total=self._snapshot_timeout_s)
        self._http = aiohttp.ClientSession(timeout=timeout)
        for rider in self._riders:
            rider._http = self._http
        try:
            while not self._closing.is_set():
                live_since: list[float] = []
                reason = await self._connection(sink, live_since)
                for feed, its_sink in self._carried(sink):
                    feed._forget_book(its_sink)
                if self._closing.is_set():
                    break
                if live_since and time.monotonic() - live_since[0] >= self.reconnect.healthy_s:
                    attempt = 0
                delay_s = self.reconnect.delay_s(attempt, self._rng)
                attempt += 1
                for feed, _ in self._carried(sink):
                    feed._set(FeedState.DISCONNECTED, f"{reason}; reconnecting in {delay_s:.2f} s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), delay_s)
        finally:
            try:
                for feed, its_sink in self._carried(sink):
                    feed._forget_book(its_sink)
            finally:
                await self._http.close()
                for feed in (self, *self._riders):
                    feed._set(FeedState.CLOSED, "closed")

    async def _connection(
        self, sink: Callable[[MarketEvent], None], live_since: list[float]
    ) -> str:
        """One websocket session; returns why it ended (one line)."""
        self._set(FeedState.CONNECTING, f"connecting to {urlsplit(self.url).netloc}")
        try:
            ws = await websockets.connect(
                self.url,
                ping_interval=self._ping_interval_s,
                ping_timeout=self._ping_timeout_s,
                open_timeout=self._open_timeout_s,
                close_timeout=_CLOSE_TIMEOUT_S,
                max_size=_MAX_FRAME,
                max_queue=_MAX_QUEUE,
                compression=None,
                proxy=self._proxy,
            )
        except websockets.InvalidStatus as exc:
            if exc.response.status_code != _NOT_SERVED:
                return f"connect failed: {_one_line(exc)}"
            # The base itself is not there (no retry mends that): end with what to change.
            raise SetupError(
                f"market feed: {urlsplit(self.url).path} answered HTTP 404, that websocket base "
                "is not served (Binance retired USD-M's /ws and /stream bases on 2026-04-23); "
                "set feed.ws_routing = 'split', or check venue.ws_url"
            ) from None
        except (OSError, TimeoutError, websockets.WebSocketException) as exc:
            return f"connect failed: {_one_line(exc)}"
        self.stats.connects += 1
        # One session (decoder, book, snapshot) per symbol on this connection.
        sessions = [
            _Session(feed, its_sink, live_since if feed is self else [])
            for feed, its_sink in self._carried(sink)
        ]
        for session in sessions:
            session.feed._decoder = session.decoder
        handle = sessions[0].handle if len(sessions) == 1 else _route(sessions)
        tasks = [asyncio.create_task(self._read(ws, handle), name="binance-stream-read")]
        if self._stale_s:
            tasks.append(asyncio.create_task(self._watch(), name="binance-stream-watchdog"))
        failed = [session.failed for session in sessions]
        try:
            for session in sessions:
                session.feed._set(FeedState.SYNCING, "connected; fetching the depth snapshot")
                session.fetch(0)
            done, _ = await asyncio.wait([*tasks, *failed], return_when=asyncio.FIRST_COMPLETED)
            for f in failed:
                if f.done():
                    f.result()  # the sink raised on a REST snapshot: raise it here
            return next(iter(done)).result()
        finally:
            for f in failed:
                f.cancel()
            fetching = [session.fetching for session in sessions]
            for t in [*tasks, *fetching]:
                if t is not None:
                    t.cancel()
            for t in [*tasks, *fetching]:
                if t is not None:
                    with contextlib.suppress(asyncio.CancelledError):
                        await t
            await ws.close()

    async def _read(self, ws: ClientConnection, handle: Callable[[int, bytes], None]) -> str:
        """The per-message path: read a frame, stamp it, decode + sequence + sink it."""
        stats = self.stats
        recv = ws.recv
        clock = time.time_ns
        try:
            while True:
                raw = await recv(decode=False)
                now = clock()
                stats.last_rx_ns = now
                stats.messages += 1
                handle(now, raw)
                # Frames already buffered return from recv() without suspending; yield so an
                # order the last frame triggered goes out before the next frame is decoded.
                await asyncio.sleep(0)
        except websockets.ConnectionClosed as exc:
            return _closed_reason(exc)
        except (OSError, websockets.WebSocketException) as exc:
            return f"websocket failed: {_one_line(exc)}"

    async def _watch(self) -> str:
        """Staleness watchdog: end the connection when nothing arrived for ``stale_s``."""
        stale_ns = int(self._stale_s * 1e9)
        start_ns = time.time_ns()
        while True:
            await asyncio.sleep(self._stale_s / 4)
            if time.time_ns() - max(self.stats.last_rx_ns, start_ns) >= stale_ns:
                return f"no message for {self._stale_s:g} s (stale stream)"

    async def _fetch(self, apply: Callable[[int, bytes], None], attempt: int) -> None:
        """Fetch the REST depth snapshot and apply it, retrying with backoff until it comes."""
        http = self._http
        assert http is not None
        while True:
            if attempt:
                await asyncio.sleep(self.reconnect.delay_s(attempt - 1, self._rng))
            attempt += 1
            try:
                async with http.get(self.snapshot_url, proxy=self._proxy) as resp:
                    body = await resp.read()
                    now = time.time_ns()
                    if resp.status == 200:
                        self.stats.snapshots += 1
                        # Applied between two frames, in arrival order, by the frames' path.
                        apply(now, body)
                        return
                    why = f"HTTP {resp.status} {body[:120].decode('utf-8', 'replace')}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                why = _one_line(exc) or type(exc).__name__
            self._set(FeedState.SYNCING, f"depth snapshot failed ({why}); retrying")

    # ---- helpers ---------------------------------------------------------------------------

    def _forget_book(self, sink: Callable[[MarketEvent], None]) -> None:
        """Tell the sink the book is unknown (once) after a disconnect or on close."""
        if self._book_known:
            self._book_known = False
            now = time.time_ns()
            sink(
                BookSnapshot(
                    exch_ns=self._last_exch_ns,
                    local_ns=now,
                    update_id=self._last_id,
                    bids=(),
                    asks=(),
                )
            )

    def _set(self, state: FeedState, detail: str) -> None:
        self._state = state
        status = FeedStatus(state, detail, time.time_ns())
        level = logging.WARNING if state in (FeedState.DISCONNECTED,) else logging.INFO
        log.log(level, "%s feed %s: %s", self.instrument.symbol, state, detail)
        if self._on_status is not None:
            self._on_status(status)

    def _issue(self, message: str) -> None:
        self._last_issue = message
        self.stats.issues += 1
        n = self.stats.issues
        if n <= _ISSUES_LOGGED or n % _ISSUE_LOG_EVERY == 0:
            log.warning("%s feed issue #%d: %s", self.instrument.symbol, n, message)
        if self._on_issue_cb is not None:
            self._on_issue_cb(message)


class _Session:
    """One connection's decoder and book, and the per-message path that feeds the sink."""

    __slots__ = (
        "_book_id",
        "_failed_syncs",
        "_feed",
        "_live_since",
        "_sink",
        "_state",
        "decoder",
        "failed",
        "feed",
        "fetching",
    )

    def __init__(
        self,
        feed: BinanceStreamFeed,
        sink: Callable[[MarketEvent], None],
        live_since: list[float],
    ) -> None:
        self._feed = self.feed = feed
        self._sink = sink
        self._live_since = live_since
        self.decoder = StreamDecoder(
            feed.instrument,
            feed.report,
            feed._issue,
            spot=feed.spot,
            on_unknown=lambda name: feed._issue(f"message of an unexpected stream {name!r}"),
        )
        self._state = self.decoder.book.state
        self._book_id = -1  # update id of the book passed on; older bookTickers are dropped
        self._failed_syncs = 0
        self.fetching: asyncio.Task[None] | None = None
        # Set when the sink raised while a REST snapshot was applied (in the fetch task).
        self.failed: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def fetch(self, attempt: int) -> None:
        """Start fetching a REST snapshot unless one is on its way."""
        if self.fetching is None or self.fetching.done():
            self.fetching = asyncio.create_task(self._feed._fetch(self._snapshot, attempt))

    def _snapshot(self, local_ns: int, body: bytes) -> None:
        try:
            self.handle(local_ns, body)
        except Exception as exc:
            if not self.failed.done():
                self.failed.set_exception(exc)

    def handle(self, local_ns: int, body: bytes) -> None:
        """Decode, sequence and sink one message; then the recorder; then any state change."""
        feed = self._feed
        try:
            events = self.decoder.message(local_ns, body)
        except (ValueError, msgspec.DecodeError) as exc:
            feed._issue(f"unreadable message skipped ({_one_line(exc)}): {body[:80]!r}")
            events = []
        sink = self._sink
        for ev in events:
            tp = type(ev)
            if tp is BestBidOffer:
                if ev.update_id < self._book_id:  # type: ignore[union-attr]
                    continue
            elif tp is BookDelta:
                self._book_id = ev.last_id  # type: ignore[union-attr]
            elif tp is BookSnapshot:
                self._book_id = ev.update_id  # type: ignore[union-attr]
                feed._book_known = bool(ev.bids or ev.asks)  # type: ignore[union-attr]
            sink(ev)
        book = self.decoder.book
        if events:
            feed._last_id, feed._last_exch_ns = book.last_id, book.last_exch_ns
        on_raw = feed.on_raw
        if on_raw is not None:
            on_raw(local_ns, body)
        if book.state is not self._state:
            self._state = book.state
            self._changed(book)

    def _changed(self, book: SequencedBook) -> None:
        feed = self._feed
        if book.state is SyncState.SYNCED:
            self._failed_syncs = 0
            if not self._live_since:
                self._live_since.append(time.monotonic())
            feed._set(FeedState.LIVE, f"book in sync at update id {book.last_id}")
        elif book.state is SyncState.WAITING:
            feed.stats.gaps += 1
            why = feed._last_issue.removesuffix(_BOOK_CLEARED)
            feed._set(FeedState.SYNCING, f"{why}; resyncing from a fresh snapshot")
            self.fetch(self._failed_syncs)
            self._failed_syncs += 1


_Carried = tuple[BinanceStreamFeed, Callable[[MarketEvent], None]]
_STREAM_HEAD = b'{"stream":"'


def _route(sessions: list[_Session]) -> Callable[[int, bytes], None]:
    """The per-message path of a connection carrying several symbols: each combined-stream
    frame (``{"stream":"<name>","data":...}``, Binance's wrapping) to the session of the
    symbol whose stream it names; a frame naming none goes to the first, whose decoder
    reports it."""
    by_name = {name: s for s in sessions for name in s.feed.names}
    first = sessions[0]
    start = len(_STREAM_HEAD)

    def handle(local_ns: int, raw: bytes) -> None:
        session = first
        if raw.startswith(_STREAM_HEAD):
            name = raw[start : raw.find(b'"', start)].decode("ascii", "replace")
            session = by_name.get(name, first)
        if session is not first:
            stats = session.feed.stats
            stats.messages += 1
            stats.last_rx_ns = local_ns
        session.handle(local_ns, raw)

    return handle


def share_connections(feeds: list[BinanceStreamFeed]) -> None:
    """Put ``feeds`` (not yet running) of one websocket base on as few connections as
    Binance allows: the first of each base carries the next ones (``carry``) until a
    connection holds ``MAX_STREAMS`` streams."""
    carriers: dict[tuple[str, bool], BinanceStreamFeed] = {}
    for feed in feeds:
        carrier = carriers.get(feed._ws_base)
        if carrier is not None:
            held = len(carrier.names) + sum(len(r.names) for r in carrier._riders)
            if held + len(feed.names) <= MAX_STREAMS:
                carrier.carry(feed)
                continue
        carriers[feed._ws_base] = feed


def _closed_reason(exc: websockets.ConnectionClosed) -> str:
    frame = exc.rcvd or exc.sent
    if frame is None:
        return "websocket closed 1006 (no close frame)"
    return f"websocket closed {frame.code}" + (f" ({frame.reason})" if frame.reason else "")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().replace("\n", " ")
    return text[:200] or type(exc).__name__
