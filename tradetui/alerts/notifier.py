"""The notifier: engine events → alerts → Telegram, without ever making the engine wait.

The bus callback only looks at the event's type and appends to a bounded in-memory queue (or
adds a fill to the running digest); a separate task delivers. When Telegram is slow, down or
rate-limiting, alerts wait in the queue; when the queue is full the oldest routine (INFO)
alert is dropped and counted, and the next delivered message says how many were dropped.
Waiting alerts are merged into one message, so a backlog drains in a few sends.

Delivery retries a 429 after the ``retry_after`` Telegram asks for and a network error with
capped exponential backoff, for as long as the notifier runs; refusals that will not change
(blocked bot, unknown chat) are logged once and not retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
import warnings
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter

from tradetui.alerts.message import (
    MAX_TEXT,
    Alert,
    AlertKind,
    FillDigest,
    HeartbeatSchedule,
    Level,
    now_s,
    render,
    utc,
)
from tradetui.core.instrument import Instrument
from tradetui.core.types import Side
from tradetui.engine.events import (
    EngineEvent,
    EngineState,
    FillRecorded,
    FlattenFinished,
    MarketEnded,
    ModelDrift,
    ModelReloaded,
    RiskChanged,
    StateChanged,
    VenueConnection,
)
from tradetui.risk.guard import RiskAction

log = logging.getLogger(__name__)

_WARN_EVERY_S = 60.0

Send = Callable[[int, str, bool], Awaitable[object]]
"""Send ``text`` to chat ``chat_id`` (``silent`` = no notification sound); raises on failure."""


@dataclass(frozen=True, slots=True)
class NotifierConfig:
    """Delivery settings (seconds); ``switches`` maps an alert kind to on, silent or off."""

    chats: Sequence[int]
    mode: str = "PAPER"
    switches: Mapping[AlertKind, str] = field(default_factory=dict)
    digest_interval_s: float = 60.0
    heartbeat_interval_s: float = 3600.0
    queue_size: int = 200
    backoff_min_s: float = 0.5
    backoff_max_s: float = 30.0
    tick_s: float = 0.5
    # Alerts merged into one message when several are waiting.
    merge_max: int = 10


@dataclass(slots=True)
class NotifierStats:
    """Counters since start: messages sent, alerts dropped, retries and given-up sends."""

    sent: int = 0
    alerts_sent: int = 0
    dropped: int = 0
    retries: int = 0
    failed: int = 0
    heartbeats: int = 0


class Notifier:
    """Queues alerts from engine events and delivers them to every configured chat.

    With several markets, ``market`` names the one whose events this notifier hears (on each
    alert), and ``for_market`` makes a notifier for each other market that queues into this
    one's delivery: one queue, one heartbeat, a fill digest and risk state per market."""

    def __init__(
        self,
        send: Send,
        config: NotifierConfig,
        instrument: Instrument,
        *,
        heartbeat_text: Callable[[], str] = lambda: "",
        clock: Callable[[], float] = now_s,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        market: str = "",
    ) -> None:
        self.send = send
        self.config = config
        self.instrument = instrument
        self.market = market
        # The notifier delivering this one's alerts (None: this one), and the other markets'.
        self._root: Notifier | None = None
        self._markets: list[Notifier] = []
        self.heartbeat_text = heartbeat_text
        self.clock = clock
        self.sleep = sleep
        self.stats = NotifierStats()
        self.queue: deque[Alert] = deque()
        self.digest = FillDigest()
        self._digest_due_s = 0.0
        self.heartbeat = HeartbeatSchedule(config.heartbeat_interval_s, clock())
        self._dropped_unreported = 0
        self._pulled = False
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.get_ident()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._gave_up: set[tuple[int, str]] = set()
        self._failing_since: float | None = None
        self._last_warning_s = -_WARN_EVERY_S
        # One dict lookup per event: decisions and order updates (most events) cost nothing more.
        self._handlers: dict[type, Callable[[Any], None]] = {
            StateChanged: self._on_state,
            FlattenFinished: self._on_flatten,
            RiskChanged: self._on_risk,
            FillRecorded: self._on_fill,
            VenueConnection: self._on_connection,
            ModelDrift: self._on_model_drift,
            ModelReloaded: self._on_model_reloaded,
            MarketEnded: self._on_market_ended,
        }

    # ---- intake (engine side: never blocks) -----------------------------------------------

    def on_event(self, ev: EngineEvent) -> None:
        """Bus callback: O(1), no I/O; decisions and order updates are ignored."""
        handler = self._handlers.get(type(ev))
        if handler is not None:
            handler(ev)

    def for_market(self, instrument: Instrument, market: str) -> Notifier:
        """A notifier for another market's events (``market`` names it on each alert); its
        alerts and fill digests go out through this one."""
        other = Notifier(
            self.send, self.config, instrument, clock=self.clock, sleep=self.sleep, market=market
        )
        other._root = self
        self._markets.append(other)
        return other

    def switch(self, kind: AlertKind) -> str:
        """on, silent or off for ``kind`` (on when not configured)."""
        return self.config.switches.get(kind, "on")

    def alert(self, level: Level, kind: AlertKind, title: str, details: str = "") -> None:
        """Queue an alert (honouring its switch); safe from any thread."""
        mode = self.switch(kind)
        if mode == "off":
            return
        item = Alert(
            level, kind, title, details, self.clock(), silent=mode == "silent", market=self.market
        )
        root = self._root or self
        if threading.get_ident() != root._thread and root._loop is not None:
            root._loop.call_soon_threadsafe(root._enqueue, item)
        else:
            root._enqueue(item)

    def _enqueue(self, item: Alert) -> None:
        q = self.queue
        if len(q) >= self.config.queue_size:
            self.stats.dropped += 1
            self._dropped_unreported += 1
            victim = next((a for a in q if a.routine), None)
            if victim is None and item.routine:
                return  # everything waiting matters more than this one
            q.remove(victim if victim is not None else q[0])
        q.append(item)
        self._wake.set()

    def _on_state(self, ev: StateChanged) -> None:
        if ev.state is EngineState.RUNNING:
            self.alert(Level.INFO, AlertKind.START, "STARTED", ev.reason)
        elif ev.state is EngineState.HALTED:
            self.alert(Level.CRITICAL, AlertKind.HALT, "HALTED", ev.reason or "halt")
        elif ev.state is EngineState.STOPPED:
            if ev.previous is EngineState.STARTING:
                self.alert(Level.WARNING, AlertKind.START, "START FAILED", ev.reason)
            else:
                self.alert(Level.INFO, AlertKind.STOP, "STOPPED", ev.reason)

    def _on_flatten(self, ev: FlattenFinished) -> None:
        level = {"flat": Level.INFO, "dust": Level.WARNING}.get(ev.outcome, Level.CRITICAL)
        pos = self.instrument.qty(ev.position_lots)
        unit = self.instrument.size_unit
        # Fixed-point: zero of a spot 1e-8 lot would print as 0E-8.
        details = f"{ev.detail}\nposition {pos:+f} {unit}, {ev.attempts} attempt(s)"
        self.alert(level, AlertKind.FLATTEN, f"FLATTEN {ev.outcome.upper()}", details)

    def _on_risk(self, ev: RiskChanged) -> None:
        pulled = ev.risk.action >= RiskAction.PULL
        # A risk halt is told by the HALTED alert that follows it.
        if ev.risk.action is RiskAction.PULL:
            self.alert(Level.WARNING, AlertKind.RISK, "QUOTES PULLED", ev.risk.summary)
        elif self._pulled:
            self.alert(Level.INFO, AlertKind.RISK, "QUOTES BACK", ev.risk.summary)
        self._pulled = pulled

    def _on_connection(self, ev: VenueConnection) -> None:
        if ev.connected:
            self.alert(Level.INFO, AlertKind.CONNECTION, f"RECONNECTED {ev.stream}", ev.detail)
        else:
            self.alert(Level.WARNING, AlertKind.CONNECTION, f"DISCONNECTED {ev.stream}", ev.detail)

    def _on_model_drift(self, ev: ModelDrift) -> None:
        if ev.drifting and ev.disabled:
            self.alert(Level.WARNING, AlertKind.MODEL, "ML FILTER SWITCHED OFF", ev.summary)
        elif ev.drifting:
            self.alert(Level.WARNING, AlertKind.MODEL, "ML MODEL DRIFTING", ev.summary)
        else:
            self.alert(Level.INFO, AlertKind.MODEL, "ML MODEL BACK IN LIMITS", ev.summary)

    def _on_model_reloaded(self, ev: ModelReloaded) -> None:
        self.alert(Level.INFO, AlertKind.MODEL, "ML MODEL RELOADED", ev.detail)

    def _on_market_ended(self, ev: MarketEnded) -> None:
        # The market source went away for good, as a feed that will not reconnect.
        self.alert(Level.WARNING, AlertKind.CONNECTION, "REPLAY ENDED", ev.detail)

    def _on_fill(self, ev: FillRecorded) -> None:
        if self.switch(AlertKind.FILLS) == "off":
            return
        f = ev.fill
        inst = self.instrument
        at = self.clock()
        if not self.digest.fills:
            self._digest_due_s = at + self.config.digest_interval_s
        self.digest.add(
            f.side is Side.BUY,
            float(inst.qty(f.qty_lots)),
            inst.notional(f.price_ticks, f.qty_lots),
            f.fee,
            ev.pnl.position_size,
            ev.pnl.total,
            at,
        )

    # ---- timers ---------------------------------------------------------------------------

    def tick(self, now: float | None = None) -> None:
        """Send the fill digest and the heartbeat when due (wall seconds; tests pass ``now``)."""
        now = self.clock() if now is None else now
        for one in (self, *self._markets):
            if one.digest.fills and now >= one._digest_due_s:
                one.flush_digest()
        slot = self.heartbeat.due(now)
        if slot is not None and self.switch(AlertKind.HEARTBEAT) != "off":
            self.stats.heartbeats += 1
            late = ""
            if slot.missed or now - slot.due_s > 2 * self.config.tick_s + 1.0:
                late = f"\nlate: due {utc(slot.due_s)}" + (
                    f"; {slot.missed} earlier heartbeat(s) missed while paused"
                    if slot.missed
                    else ""
                )
            self.alert(Level.INFO, AlertKind.HEARTBEAT, "HEARTBEAT", self.heartbeat_text() + late)

    def flush_digest(self) -> None:
        """Queue the fills summed so far as one message."""
        d = self.digest
        if not d.fills:
            return
        self.digest = FillDigest()
        inst = self.instrument
        self.alert(
            Level.INFO, AlertKind.FILLS, "FILLS", d.text(inst.size_unit, inst.quote, inst.settle)
        )

    # ---- delivery -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the delivery and timer tasks."""
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        self._tasks = [
            asyncio.create_task(self._deliver_loop(), name="telegram-deliver"),
            asyncio.create_task(self._timer_loop(), name="telegram-timer"),
        ]

    async def close(self, drain_s: float = 3.0) -> None:
        """Queue the pending digests, deliver what is waiting for up to ``drain_s``, then
        stop."""
        for one in (self, *self._markets):
            one.flush_digest()
        self._closing = True
        self._wake.set()
        deliver = self._tasks[0] if self._tasks else None
        if deliver is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(deliver), drain_s)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self.queue:
            log.warning("telegram: %d alert(s) not delivered at shutdown", len(self.queue))

    async def _timer_loop(self) -> None:
        # Short sleeps so a suspended machine notices the missed heartbeat soon after waking.
        while True:
            await self.sleep(self.config.tick_s)
            try:
                self.tick()
            except Exception:
                log.exception("telegram timer failed")

    async def _deliver_loop(self) -> None:
        while True:
            if not self.queue:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            batch = self._take_batch()
            text = "\n\n".join(render(a, self.config.mode) for a in batch)
            if self._dropped_unreported:
                text += (
                    f"\n\n({self._dropped_unreported} earlier routine alert(s) dropped: "
                    "Telegram was behind)"
                )
                self._dropped_unreported = 0
            silent = all(a.silent for a in batch)
            for chat in self.config.chats:
                await self._deliver(chat, text, silent)
            self.stats.alerts_sent += len(batch)

    def _warn(self, fmt: str, *args: object) -> None:
        """Log a delivery problem: the first of an outage, then at most once a minute."""
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
        if now - self._last_warning_s >= _WARN_EVERY_S:
            self._last_warning_s = now
            log.warning(fmt, *args)

    def _take_batch(self) -> list[Alert]:
        batch = [self.queue.popleft()]
        size = len(render(batch[0], self.config.mode))
        while self.queue and len(batch) < self.config.merge_max:
            nxt = len(render(self.queue[0], self.config.mode)) + 2
            if size + nxt > MAX_TEXT - 100:
                break
            batch.append(self.queue.popleft())
            size += nxt
        return batch

    async def _deliver(self, chat: int, text: str, silent: bool) -> bool:
        """Send until it goes through or Telegram refuses for good (close() cancels it)."""
        backoff = self.config.backoff_min_s
        while True:
            try:
                await self.send(chat, text, silent)
            except RetryAfter as exc:
                wait = retry_after_s(exc)
                self._warn("telegram: flood limit, retrying in %.0f s", wait)
            except (Forbidden, BadRequest, InvalidToken) as exc:
                self.stats.failed += 1
                key = (chat, type(exc).__name__)
                if key not in self._gave_up:
                    self._gave_up.add(key)
                    log.error("telegram: chat %d refused the alert: %s", chat, exc)
                return False
            except NetworkError as exc:
                wait = backoff * (0.5 + random.random())
                backoff = min(backoff * 2, self.config.backoff_max_s)
                self._warn("telegram: %s; retrying in %.1f s", exc, wait)
            else:
                self.stats.sent += 1
                if self._failing_since is not None:
                    log.info(
                        "telegram: delivering again after %.0f s",
                        time.monotonic() - self._failing_since,
                    )
                    self._failing_since = None
                return True
            self.stats.retries += 1
            await self.sleep(wait)


def retry_after_s(exc: RetryAfter) -> float:
    """The wait Telegram asked for, in seconds."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
