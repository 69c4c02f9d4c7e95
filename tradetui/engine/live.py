"""Drive an engine from a live venue: event-driven on the wall clock.

Market events (from the feed's sink) and account events (from the venue) are handed to the
engine the moment they arrive, in the task that received them: the engine never awaits, so
each event is handled whole before the next, and nothing queues between a depth message and
the decision it triggers. ``run`` handles the rest: commands from the host's inbox and the
engine's timers (``wakeup_ns``), until ``done()``.

While the engine runs, a decision falls due at the first market event after the decision
interval, so it reacts to the newest message; the timer makes the decision only when no event
came within ``decision_grace_ns`` after that (a quiet market).

Garbage collection: while ``run`` runs, Python's automatic collector is off and the objects
that existed when it started (markets, clients, modules) are frozen out of every collection.
The young generations are collected instead right after a decision, once the venue's tasks
have put that decision's requests on the wire — the one moment the next decision is a whole
decision interval away — and on the loop's periodic wake-ups, by CPython's own thresholds. An
automatic collection could otherwise land between a depth message and the order it triggers
(measured on the live bench: a young collection inside about one order span in ten, 0.1 ms;
the middle generation's 0.7-1.8 ms several times a minute; a full one 20-80 ms).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from tradetui.core.clock import Clock
from tradetui.core.types import AccountEvent, MarketEvent
from tradetui.engine.engine import Command, Engine
from tradetui.engine.events import EngineState
from tradetui.engine.runner import apply_command, collect_due, collector_back, collector_off

log = logging.getLogger(__name__)

# The longest the loop sleeps before looking at ``done()`` again, seconds.
_CHECK_S = 0.05


class EngineFailedError(RuntimeError):
    """The engine raised while handling an event; trading cannot go on."""


class LiveDriver:
    """Sinks for the feed and the venue, and the loop for commands and timers."""

    def __init__(self, engine: Engine, clock: Clock, decision_grace_ns: int = 50_000_000) -> None:
        self.engine = engine
        self.clock = clock
        self.decision_grace_ns = decision_grace_ns
        self.failure: BaseException | None = None
        self._kick = asyncio.Event()
        self._sleeping_until: int | None = None
        self._collect_handle: asyncio.Handle | None = None

    def on_event(self, ev: MarketEvent | AccountEvent) -> None:
        """Hand one event to the engine now (the feed's and the venue's sink)."""
        if self.failure is not None:
            return
        engine = self.engine
        before = engine.wakeup_ns
        try:
            engine.on_event(ev)
        except Exception as exc:
            log.exception("engine failed on %s", type(ev).__name__)
            self.failure = exc
            self._kick.set()
            return
        w = engine.wakeup_ns
        if w != before:
            self._collect_soon()  # a decision ran
        # Wake the loop only when the engine now needs a timer sooner than it is sleeping.
        if w is not None and (self._sleeping_until is None or w < self._sleeping_until):
            self._kick.set()

    def _collect_soon(self) -> None:
        """Collect what is due once the callbacks queued by now have run: the venue's tasks
        for orders just submitted go first (a collection already planned moves behind them)."""
        if self._collect_handle is not None:
            self._collect_handle.cancel()
        self._collect_handle = asyncio.get_running_loop().call_soon(self._collect)

    def _collect(self) -> None:
        self._collect_handle = None
        collect_due()

    async def run(
        self,
        inbox: asyncio.Queue[Command],
        done: Callable[[], bool],
        on_done: Callable[[Command, bool, str], None] | None = None,
    ) -> None:
        """Apply commands and timers until ``done()``; raises EngineFailedError when the
        engine failed on an event."""
        engine, clock = self.engine, self.clock
        getter: asyncio.Future[Command] | None = None
        kicked: asyncio.Future[Any] | None = None
        collector_off()
        try:
            while True:
                if self.failure is not None:
                    raise EngineFailedError(f"engine failed: {self.failure!r}") from self.failure
                if done():
                    return
                while not inbox.empty():
                    apply_command(engine, inbox.get_nowait(), on_done)
                now = clock.now_ns()
                w = engine.wakeup_ns
                if w is not None and engine.state is EngineState.RUNNING:
                    w += self.decision_grace_ns
                if w is not None and w <= now:
                    engine.on_timer()
                    continue
                timeout = _CHECK_S if w is None else min(_CHECK_S, (w - now) / 1e9)
                self._sleeping_until = w
                self._kick.clear()
                self._collect_soon()
                if getter is None:
                    getter = asyncio.ensure_future(inbox.get())
                if kicked is None:
                    kicked = asyncio.ensure_future(self._kick.wait())
                waiting: tuple[asyncio.Future[Any], ...] = (getter, kicked)
                finished, _ = await asyncio.wait(
                    waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                self._sleeping_until = None
                if getter in finished:
                    apply_command(engine, getter.result(), on_done)
                    getter = None
                if kicked in finished:
                    kicked = None
        finally:
            collector_back()
            for fut in (getter, kicked):
                if fut is not None and not fut.done():
                    fut.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await fut
            if getter is not None and getter.done() and not getter.cancelled():
                # A command taken off the queue but not applied goes back for the next run.
                inbox.put_nowait(getter.result())
