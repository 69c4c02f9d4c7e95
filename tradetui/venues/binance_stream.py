"""Live Binance market data (USD-M perpetuals and spot) over the combined websocket stream.

``BinanceStreamFeed`` connects to ``{ws_url}/stream?streams=<sym>@depth@<speed>/<sym>@bookTicker/
<sym>@trade``, fetches the REST depth snapshot (USD-M ``{rest_url}/fapi/v1/depth``, spot
``{rest_url}/api/v3/depth``) and turns every message into our MarketEvents through
market/messages.py — the decoder and ``SequencedBook`` that replays use, so the live book is
built by the same code that ``tradetui data check`` proves against the exchange's bookTicker.
Events go to ``sink`` synchronously and in receive order; ``local_ns`` is ``time.time_ns()``
taken when the frame was read, ``exch_ns`` the exchange's ``E``.

Book sync: diffs that arrive before the snapshot are buffered and the diff straddling the
snapshot id applies first (USD-M chains ``pu == previous u``, spot ``U == previous u + 1``).
On a gap the sink gets an EMPTY BookSnapshot (the book is unknown: never quote on it), the
feed fetches a fresh REST snapshot and resyncs; consecutive failed syncs back off like
reconnects. After a disconnect the sink gets an empty snapshot too, and the new connection
resyncs from scratch.

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
- one queue per feed: a reader task stamps each frame and puts it on the feed's queue; REST
  snapshots join the same queue, so one consumer applies everything in arrival order.

Messages that cannot be read (garbage, off-grid prices) or streams we did not ask for are
reported (``on_issue`` and the log) and skipped; they never stop the feed. ``on_raw(local_ns,
body)`` sees every message (REST snapshots included) after its events reached the sink, so a
recorder attached to it never delays a decision.

Refinements of the agreed interface (notes/FEED_API.md), all compatible: extra keyword
arguments after ``reconnect`` (heartbeat, staleness, depth limit and speed, proxy, on_issue);
``stats``, ``report`` and ``book`` for monitoring and the recorder; ``close()`` may be called
from any task but the one running ``run()``'s sink (it waits for ``run()`` to return).
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

from tradetui.config import FeedSettings
from tradetui.core.instrument import Instrument, InstrumentKind
from tradetui.core.types import BestBidOffer, BookDelta, BookSnapshot, MarketEvent
from tradetui.market.books import SequencedBook, SyncState
from tradetui.market.files import ReplayReport
from tradetui.market.messages import StreamDecoder

log = logging.getLogger(__name__)

# Issues logged one by one before the log thins them out to one in _ISSUE_LOG_EVERY.
_ISSUES_LOGGED = 20
_ISSUE_LOG_EVERY = 1000
# Largest websocket frame accepted, bytes (a depth diff of a busy second is ~100 kB).
_MAX_FRAME = 16 * 1024 * 1024
_CLOSE_TIMEOUT_S = 1.0
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


class _End(msgspec.Struct, frozen=True):
    """A queue item that ends the current connection, with the reason."""

    reason: str


def stream_names(instrument: Instrument, depth_speed: str | None = None) -> list[str]:
    """The combined-stream names the feed subscribes (depth diff, bookTicker, trade)."""
    sym = instrument.symbol.lower()
    spot = instrument.kind is InstrumentKind.SPOT
    speed = depth_speed or ("100ms" if spot else "0ms")
    return [f"{sym}@depth@{speed}", f"{sym}@bookTicker", f"{sym}@trade"]


def stream_url(ws_url: str, names: list[str]) -> str:
    """``{ws_url}/stream?streams=a/b/c``."""
    return f"{ws_url.rstrip('/')}/stream?streams={'/'.join(names)}"


def depth_url(rest_url: str, instrument: Instrument, limit: int) -> str:
    """The REST depth snapshot URL (USD-M ``/fapi/v1/depth``, spot ``/api/v3/depth``)."""
    path = "/api/v3/depth" if instrument.kind is InstrumentKind.SPOT else "/fapi/v1/depth"
    return f"{rest_url.rstrip('/')}{path}?symbol={instrument.symbol}&limit={limit}"


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
    ) -> None:
        for scheme_url, schemes in ((ws_url, ("ws", "wss")), (rest_url, ("http", "https"))):
            if urlsplit(scheme_url).scheme not in schemes or not urlsplit(scheme_url).netloc:
                raise ValueError(f"{scheme_url!r}: expected a {' or '.join(schemes)}:// URL")
        if not (ping_interval_s > 0 and ping_timeout_s > 0 and stale_s >= 0):
            raise ValueError("ping_interval_s and ping_timeout_s must be > 0, stale_s >= 0")
        if not 5 <= depth_limit <= 5000:
            raise ValueError(f"depth_limit must be within 5..5000 (got {depth_limit})")
        self.instrument = instrument
        self.spot = instrument.kind is InstrumentKind.SPOT
        self.names = stream_names(instrument, depth_speed)
        self.url = stream_url(ws_url, self.names)
        self.snapshot_url = depth_url(rest_url, instrument, depth_limit)
        self.reconnect = reconnect
        self.stats = FeedStats()
        self.report = ReplayReport()  # message counts by stream and time spans
        self._on_status = on_status
        self._on_raw = on_raw
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
        if self._task is not None:
            raise RuntimeError("BinanceStreamFeed.run() is already running")
        if self._closing.is_set():
            return
        self._task = asyncio.create_task(self._loop(sink), name="binance-stream")
        try:
            await self._task
        except asyncio.CancelledError:
            if not self._closing.is_set():
                raise  # run() itself was cancelled, not closed

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

    async def _loop(self, sink: Callable[[MarketEvent], None]) -> None:
        attempt = 0
        timeout = aiohttp.ClientTimeout(total=self._snapshot_timeout_s)
        self._http = aiohttp.ClientSession(timeout=timeout)
        try:
            while not self._closing.is_set():
                live_since: list[float] = []
                reason = await self._connection(sink, live_since)
                self._forget_book(sink)
                if self._closing.is_set():
                    break
                if live_since and time.monotonic() - live_since[0] >= self.reconnect.healthy_s:
                    attempt = 0
                delay_s = self.reconnect.delay_s(attempt, self._rng)
                attempt += 1
                self._set(FeedState.DISCONNECTED, f"{reason}; reconnecting in {delay_s:.2f} s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), delay_s)
        finally:
            self._forget_book(sink)
            await self._http.close()
            self._set(FeedState.CLOSED, "closed")

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
                compression=None,
                proxy=self._proxy,
            )
        except (OSError, TimeoutError, websockets.WebSocketException) as exc:
            return f"connect failed: {_one_line(exc)}"
        self.stats.connects += 1
        queue: asyncio.Queue[tuple[int, bytes] | _End] = asyncio.Queue()
        decoder = StreamDecoder(
            self.instrument,
            self.report,
            self._issue,
            spot=self.spot,
            on_unknown=lambda name: self._issue(f"message of an unexpected stream {name!r}"),
        )
        self._decoder = decoder
        helpers = [
            asyncio.create_task(self._read(ws, queue), name="binance-stream-read"),
            asyncio.create_task(self._watch(ws, queue), name="binance-stream-watchdog"),
        ]
        fetch: list[asyncio.Task[None]] = []
        try:
            self._set(FeedState.SYNCING, "connected; fetching the depth snapshot")
            fetch.append(asyncio.create_task(self._fetch(queue, 0)))
            return await self._consume(queue, decoder, sink, fetch, live_since)
        finally:
            for t in helpers + fetch:
                t.cancel()
            for t in helpers + fetch:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            await ws.close()

    async def _read(
        self, ws: ClientConnection, queue: asyncio.Queue[tuple[int, bytes] | _End]
    ) -> None:
        stats = self.stats
        put = queue.put_nowait
        try:
            while True:
                raw = await ws.recv(decode=False)
                now = time.time_ns()
                stats.last_rx_ns = now
                stats.messages += 1
                put((now, raw))
        except websockets.ConnectionClosed as exc:
            put(_End(_closed_reason(exc)))
        except (OSError, websockets.WebSocketException) as exc:
            put(_End(f"websocket failed: {_one_line(exc)}"))

    async def _watch(
        self, ws: ClientConnection, queue: asyncio.Queue[tuple[int, bytes] | _End]
    ) -> None:
        """Staleness watchdog: end the connection when nothing arrived for ``stale_s``."""
        if not self._stale_s:
            return
        stale_ns = int(self._stale_s * 1e9)
        start_ns = time.time_ns()
        while True:
            await asyncio.sleep(self._stale_s / 4)
            last = max(self.stats.last_rx_ns, start_ns)
            if time.time_ns() - last >= stale_ns:
                queue.put_nowait(_End(f"no message for {self._stale_s:g} s (stale stream)"))
                return

    async def _fetch(self, queue: asyncio.Queue[tuple[int, bytes] | _End], attempt: int) -> None:
        """Fetch the REST depth snapshot into the queue, retrying with backoff until it comes."""
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
                        queue.put_nowait((now, body))
                        return
                    why = f"HTTP {resp.status} {body[:120].decode('utf-8', 'replace')}"
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                why = _one_line(exc) or type(exc).__name__
            self._set(FeedState.SYNCING, f"depth snapshot failed ({why}); retrying")

    async def _consume(
        self,
        queue: asyncio.Queue[tuple[int, bytes] | _End],
        decoder: StreamDecoder,
        sink: Callable[[MarketEvent], None],
        fetch: list[asyncio.Task[None]],
        live_since: list[float],
    ) -> str:
        """The per-message path: decode, sequence, sink; then the recorder."""
        book = decoder.book
        message = decoder.message
        get = queue.get
        on_raw = self._on_raw
        synced = SyncState.SYNCED
        state = book.state
        book_id = -1  # update id of the book passed on; older bookTickers are dropped
        failed_syncs = 0
        while True:
            item = await get()
            if type(item) is _End:
                return item.reason
            local_ns, body = item  # type: ignore[misc]
            try:
                events = message(local_ns, body)
            except (ValueError, msgspec.DecodeError) as exc:
                self._issue(f"unreadable message skipped ({_one_line(exc)}): {body[:80]!r}")
                events = []
            for ev in events:
                tp = type(ev)
                if tp is BestBidOffer:
                    if ev.update_id < book_id:  # type: ignore[union-attr]
                        continue
                elif tp is BookDelta:
                    book_id = ev.last_id  # type: ignore[union-attr]
                elif tp is BookSnapshot:
                    book_id = ev.update_id  # type: ignore[union-attr]
                    self._book_known = bool(ev.bids or ev.asks)  # type: ignore[union-attr]
                sink(ev)
            if events:
                self._last_id, self._last_exch_ns = book.last_id, book.last_exch_ns
            if on_raw is not None:
                on_raw(local_ns, body)
            if book.state is not state:
                state = book.state
                if state is synced:
                    failed_syncs = 0
                    if not live_since:
                        live_since.append(time.monotonic())
                    self._set(FeedState.LIVE, f"book in sync at update id {book.last_id}")
                elif state is SyncState.WAITING:
                    self.stats.gaps += 1
                    why = self._last_issue.removesuffix(_BOOK_CLEARED)
                    self._set(FeedState.SYNCING, f"{why}; resyncing from a fresh snapshot")
                    if fetch[0].done():
                        fetch[0] = asyncio.create_task(self._fetch(queue, failed_syncs))
                    failed_syncs += 1

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


def _closed_reason(exc: websockets.ConnectionClosed) -> str:
    frame = exc.rcvd or exc.sent
    if frame is None:
        return "websocket closed 1006 (no close frame)"
    return f"websocket closed {frame.code}" + (f" ({frame.reason})" if frame.reason else "")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().replace("\n", " ")
    return text[:200] or type(exc).__name__
