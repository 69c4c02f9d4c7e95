"""One session's lifecycle, whatever shows it.

``Lifecycle.run(face)`` opens the session (paper on a synthetic or replayed market, paper on
an exchange's live market, or live), then the store, the control socket and Telegram (the
market recording is the session's, closed with the store); lets the face trade until it is
done; winds down (bounded: engine.stop_timeout_s, plus flatten_timeout_s when flattening);
closes everything in reverse order and returns the summary. When anything on the way fails,
a live session's leftover orders are cancelled at the exchange directly.

The console (``tradetui.tui.app.ConsoleFace``), a headless run (``HeadlessFace``) and a
backtest (``tradetui.backtest.run.BacktestFace``, on a session the caller built) differ only
in their face: what they show, when quoting starts and when the run is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from tradetui.alerts.setup import telegram_alongside
from tradetui.config import Settings
from tradetui.control import control_server
from tradetui.engine.engine import Command, CommandKind
from tradetui.host import BookHost, EngineHost, Host, StoreOptions
from tradetui.session import (
    BookSession,
    LiveSession,
    PaperSession,
    build_paper_session,
    market_source,
    open_book_session,
    open_live_paper_session,
    open_live_session,
)

log = logging.getLogger(__name__)

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@dataclass(frozen=True, slots=True)
class RunPlan:
    """What a run asks for beyond the settings: the market ``seed`` (None: market.seed),
    ``speed`` (1 = real time on the wall clock, N = N× on a virtual clock, None = unpaced),
    the ``store`` to persist to and the ``control`` socket to serve (None: neither);
    ``signals``: SIGINT/SIGTERM stop the run (off where the run is not the process's own,
    e.g. a backtest in a sweep's worker); ``telegram``: Telegram runs alongside when
    telegram.enabled (off for a backtest)."""

    seed: int | None = None
    speed: float | None = 1.0
    store: StoreOptions | None = None
    control: Path | None = None
    signals: bool = True
    telegram: bool = True


class StopSignals:
    """SIGINT and SIGTERM while a session runs (docs/shutdown.md): the first stops quoting,
    the second hurries the wind-down (nothing placed, cancel-all, confirm), the third stops
    waiting for the exchange."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.count = 0
        self._installed = False

    def install(self) -> None:
        """Handle the signals from now on (once)."""
        if self._installed:
            return
        loop = asyncio.get_running_loop()
        for sig in _SIGNALS:
            loop.add_signal_handler(sig, self._on_signal, sig.name)
        self._installed = True

    def remove(self) -> None:
        if self._installed:
            loop = asyncio.get_running_loop()
            for sig in _SIGNALS:
                loop.remove_signal_handler(sig)
            self._installed = False

    def stopping(self) -> None:
        """The face's own stop (the console's quit) counts as the first signal."""
        self.count = max(self.count, 1)

    @property
    def hurried(self) -> bool:
        return self.count > 1

    def _on_signal(self, signame: str) -> None:
        self.count += 1
        n = self.count
        what = ("stopping", "hurrying: cancel-all, confirm, exit", "exiting now")[min(n, 3) - 1]
        log.warning("%s received: %s", signame, what)
        if n == 1:
            # Quoting ends here, not at the runner's next look at the face's end: no decision
            # may place an order once the stop has begun.
            self.host.apply_now(Command(CommandKind.STOP, reason=f"{signame}: shutdown"))
        elif n >= 3:
            self.host.force()


class Face(Protocol):
    """What shows a session and says when it is done; all the wiring is the lifecycle's."""

    # Whether the wind-down flattens the position (else it only cancels).
    flatten_on_exit: bool

    def begin(self, host: Host, signals: StopSignals) -> None:
        """Once the store runs, before the control socket and Telegram open."""
        ...

    async def trade(self, host: Host, signals: StopSignals) -> None:
        """Until the user, a signal or the run's own end says stop."""
        ...


class HeadlessFace:
    """A run without a screen: quotes at once, until ``duration_s`` of market time (None: no
    limit), a signal, or a replayed market's end and its end action are done."""

    def __init__(self, duration_s: float | None = None, *, flatten_on_exit: bool = False) -> None:
        self.duration_s = duration_s
        self.flatten_on_exit = flatten_on_exit

    def begin(self, host: Host, signals: StopSignals) -> None:
        signals.install()
        host.apply_now(Command(CommandKind.START, reason="headless run"))

    async def trade(self, host: Host, signals: StopSignals) -> None:
        duration = self.duration_s
        end_ns = host.session.start_ns + int(duration * 1e9) if duration is not None else None

        def done() -> bool:
            return (
                signals.count > 0
                or (end_ns is not None and host.now_ns() >= end_ns)
                or host.market_finished()
            )

        await host.run(done)


class Lifecycle:
    """One session from open to summary (see the module docstring). ``env``: where live keys
    are read from (None: the process environment)."""

    def __init__(
        self,
        settings: Settings,
        plan: RunPlan,
        env: Mapping[str, str] | None = None,
        *,
        session: PaperSession | None = None,
    ) -> None:
        self.settings = settings
        self.plan = plan
        self.env = env
        # A session built by the caller (a backtest's market and venue) instead of the
        # configured one.
        self.session: PaperSession | LiveSession | BookSession | None = session
        self.host: Host | None = None

    async def run(self, face: Face) -> dict[str, Any]:
        """Trade the session with ``face`` and return its summary (with the store's figures).

        Raises ConfigError or ValueError for bad settings, VenueError when the exchange cannot
        be traded, ControlError or StoreError when the socket or the database cannot be used.
        """
        session = self.session = await self._open()
        try:
            return await self._run(session, face)
        except BaseException:
            if isinstance(session, LiveSession):
                await self._cancel_leftovers(session)
            raise
        finally:
            await session.close()

    async def _open(self) -> PaperSession | LiveSession | BookSession:
        if self.session is not None:
            return self.session
        settings = self.settings
        if settings.markets:  # several markets (docs/multi-market.md)
            return await open_book_session(
                settings, seed=self.plan.seed, virtual=self.plan.speed != 1.0
            )
        if market_source(settings) != "live":
            plan = self.plan
            return build_paper_session(settings, seed=plan.seed, virtual=plan.speed != 1.0)
        if settings.venue.exchange != "sim":
            return await open_live_session(settings, self.env)
        return await open_live_paper_session(settings)

    async def _run(
        self, session: PaperSession | LiveSession | BookSession, face: Face
    ) -> dict[str, Any]:
        plan = self.plan
        host: Host
        if isinstance(session, BookSession):
            host = BookHost(session, plan.speed)
        else:
            host = EngineHost(session, plan.speed)
        self.host = host
        signals = StopSignals(host)
        if plan.store is not None:
            host.open_store(plan.store)
        summary: dict[str, Any] | None = None
        # From the store's start on, every path out closes it: its thread would keep the
        # process alive after an exception, and its queue holds rows not yet stored.
        await host.start_store()
        wiring = contextlib.AsyncExitStack()
        try:
            face.begin(host, signals)
            if plan.control is not None:
                await wiring.enter_async_context(control_server(host, plan.control))
            if plan.telegram:
                await wiring.enter_async_context(telegram_alongside(host))
            await face.trade(host, signals)
            if isinstance(host, EngineHost) and host.book is not None:
                # The console added markets to this one: the book winds down and reports.
                host = self.host = signals.host = host.book
            if plan.signals:
                signals.install()
            await host.wind_down(face.flatten_on_exit, hurry=lambda: signals.hurried)
            if signals.hurried:
                await host.confirm_stop()
            summary = host.summary()
        finally:
            try:
                # Telegram closes first so it can still tell the stop or flatten that wound
                # down; the control socket after it.
                await wiring.aclose()
            finally:
                signals.remove()
                # Drains the queue even when trading raised, so no stored-looking fill is lost.
                figures = await host.close_store(summary)
        assert summary is not None
        if plan.store is not None:
            summary |= figures | {"db": str(plan.store.path)}
        return summary

    async def _cancel_leftovers(self, session: LiveSession) -> None:
        """The engine could not wind down: cancel our orders at the venue directly. The venue
        places nothing more, waits for the placements in flight and cancels ours until none
        is open (``LiveVenue.sweep``, without the cancel-all: that would hit others' orders
        of the symbol too), within engine.stop_timeout_s plus venue.recv_window_ms."""
        v = self.settings.venue
        timeout_s = self.settings.engine.stop_timeout_s + v.recv_window_ms / 1000
        try:
            unconfirmed = await session.venue.sweep(
                timeout_s, v.client_id_prefix, mass_cancel=False
            )
        except Exception as exc:
            unconfirmed = [f"the cancel failed: {exc}"]
        for item in unconfirmed:
            log.error("trading stopped on an error; not confirmed at the exchange: %s", item)
        if not unconfirmed:
            log.error("trading stopped on an error; no order of ours is left open at the venue")

    def damage(self) -> str | None:
        """The error of a replayed file found cut short (traded and stored up to the cut)."""
        session = self.session
        if isinstance(session, BookSession):  # several markets: the first damaged one
            replays = [m.replay for m in session.markets]
        else:
            replays = [session.replay if session is not None else None]
        damaged = [r.report.damage_error() for r in replays if r is not None]
        return next((d for d in damaged if d), None)
