"""The engine host: one paper or live session running inside an asyncio loop.

Shared by the headless CLI and the console, so both start, command and wind down the engine
the same way. Commands from any surface go through one inbox queue and are applied between
events; the engine never sees two callers at once.

With a store attached, every engine event is also written to SQLite behind the engine's back
(write-behind, batched); if persistence fails the host halts the engine, because trading on
without a record of fills is worse than not trading.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from tradetui.config import Settings
from tradetui.core.clock import VirtualClock
from tradetui.core.instrument import Instrument
from tradetui.core.types import Fill
from tradetui.engine.engine import Command, CommandKind
from tradetui.engine.events import EngineState, MarketEnded
from tradetui.engine.runner import apply_command, run_live_market, run_paced, run_virtual
from tradetui.engine.summary import close_markouts, session_summary
from tradetui.session import BookSession, LiveSession, PaperSession, market_source
from tradetui.store.lifecycle import (
    OpenedSession,
    SessionMeta,
    begin_session,
    join_book,
    session_meta,
    unlock,
)
from tradetui.store.queries import iso_utc
from tradetui.store.recorder import SessionRecorder
from tradetui.store.recovery import recovery_anchor
from tradetui.store.writer import StoreWriter, WriterConfig

if TYPE_CHECKING:
    from tradetui.engine.runner import PacedMarket
    from tradetui.risk.portfolio import MarketExposure, PortfolioBreach

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoreOptions:
    """Where and how a session is persisted."""

    path: Path
    mode: str = "paper"
    writer: WriterConfig = field(default_factory=WriterConfig)
    snapshot_interval_s: float = 1.0


def store_options(settings: Settings, path: Path, mode: str) -> StoreOptions:
    """Persistence of a ``mode`` session to ``path`` as ``[store]`` configures it."""
    st = settings.store
    writer = WriterConfig(
        batch_rows=st.batch_rows,
        batch_ms=st.batch_ms,
        queue_rows=st.queue_rows,
        busy_timeout_ms=st.busy_timeout_ms,
    )
    return StoreOptions(path, mode, writer, snapshot_interval_s=st.snapshot_interval_s)


def venue_label(exchange: str, rest_url: str) -> str:
    """The venue a session's fills belong to: the exchange id, plus the host when its URL is
    overridden (a sandbox numbers its trades apart from the real exchange). The simulated
    exchange stays 'sim' whatever market it reads (its fills are its own, numbered per run)."""
    if not rest_url or exchange == "sim":
        return exchange
    return f"{exchange}@{urlsplit(rest_url).netloc}"


class EngineHost:
    """Runs a session's engine against its venue; ``speed`` None = unpaced (paper only: a
    live session runs on the wall clock, event by event)."""

    def __init__(self, session: PaperSession | LiveSession, speed: float | None) -> None:
        self.session = session
        self.engine = session.engine
        self.speed = speed
        self.inbox: asyncio.Queue[Command] = asyncio.Queue()
        self._pending: dict[int, asyncio.Future[tuple[bool, str]]] = {}
        # Callbacks told about refused commands (the console shows them).
        self.refusals: list[Callable[[Command, str], None]] = []
        self._wall0 = time.monotonic()
        self._trading_end_ns: int | None = None
        # Set once a replayed market has reached its end (see ``_market_end``).
        self.market_ended: MarketEnded | None = None
        self.store: OpenedSession | None = None
        self.writer: StoreWriter | None = None
        self.recorder: SessionRecorder | None = None
        # A hurried stop (second signal): set by ``confirm_stop``, with what it could not
        # confirm at the exchange; a third signal (``force``) cuts its wait short.
        self.hurried = False
        self.unconfirmed: list[str] = []
        self._forced = asyncio.Event()
        # Fills made while tradetui was down, stored at this start (docs/shutdown.md).
        self.recovered_fills = 0
        # Where the session is stored (``open_store``), and the book this market was made
        # part of while running (``BookHost.of``), which then runs it.
        self.store_options: StoreOptions | None = None
        self.book: BookHost | None = None
        if isinstance(session, LiveSession):
            # The venue asks for a halt (IP ban, refused keys) through the same inbox as people.
            session.venue.on_halt = lambda reason: self.send(
                Command(CommandKind.HALT, reason=reason)
            )

    def _done(self, cmd: Command, ok: bool, message: str) -> None:
        if not ok:
            log.warning("%s refused: %s", cmd.kind, message)
            for callback in self.refusals:
                callback(cmd, message)
        future = self._pending.pop(id(cmd), None)
        if future is not None and not future.done():
            future.set_result((ok, message))

    def send(self, cmd: Command) -> None:
        """Queue a command for the engine (safe from any coroutine or callback in the loop).

        Once the replayed market has ended there is nothing to quote on: a start is refused.
        """
        if cmd.kind is CommandKind.START and self.market_ended is not None:
            self._done(
                cmd,
                False,
                f"the {self.market_ended.source} market has ended; run again to replay it "
                "(market.replay_end = 'loop' starts the files over)",
            )
            return
        self.inbox.put_nowait(cmd)

    async def request(self, cmd: Command, timeout_s: float = 5.0) -> tuple[bool, str]:
        """Queue a command and wait until the engine has applied (or refused) it."""
        future: asyncio.Future[tuple[bool, str]] = asyncio.get_running_loop().create_future()
        self._pending[id(cmd)] = future
        self.send(cmd)
        try:
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            self._pending.pop(id(cmd), None)
            return False, f"no answer from the engine within {timeout_s:g} s"

    def now_ns(self) -> int:
        return self.session.clock.now_ns()

    def apply_now(self, cmd: Command) -> None:
        """Apply ``cmd`` to the engine at once (a signal's stop, a headless start)."""
        self.engine.control(cmd)

    async def run(self, done: Callable[[], bool]) -> None:
        """Run until ``done()`` is true; a replay reaching its end is acted on meanwhile."""
        s = self.session
        if isinstance(s, LiveSession):
            await s.driver.run(self.inbox, done, self._done)
            return
        if s.live is not None:
            assert isinstance(s.clock, VirtualClock)  # stepped by its runner (session.py)
            await run_live_market(
                s.engine, s.venue, s.clock, self.inbox, s.live.arrived, done, self._done
            )
            return
        until = done
        feed, venue = s.replay, s.venue
        if feed is not None and self.market_ended is None:

            def until() -> bool:
                if self.market_ended is None and feed.ended and venue.market_done:
                    self._market_end()
                return done()

        await run_paced(
            s.engine, s.venue, s.clock, self.inbox, self.speed, until, self._done, self._turn
        )

    async def run_to(self, until_ns: int) -> None:
        """Run a paper session on the virtual clock, unpaced, to market time ``until_ns``
        (queued commands applied first), then give the loop (and the store) its turn: a
        backtest's steps, in the venue's own tight loop."""
        s = self.session
        assert isinstance(s, PaperSession)
        assert isinstance(s.clock, VirtualClock)
        while not self.inbox.empty():
            apply_command(s.engine, self.inbox.get_nowait(), self._done)
        run_virtual(s.engine, s.venue, s.clock, until_ns)
        await self._turn()

    def _market_end(self) -> None:
        """The replay's last event has been handled: say so (log, and on the bus for the
        console, the store and Telegram) and stop quoting as market.replay_end says."""
        engine = self.engine
        action = engine.settings.market.replay_end
        now = self.now_ns()
        label = self.session.market
        inst = engine.instrument
        lots = engine.ledger.position_lots
        position = f"{inst.qty(lots):+} {inst.size_unit}".rstrip() if lots else "flat"
        outcome = {
            "flatten": f"flattening the position ({position}) and stopping",
            "stop": "stopping quotes, "
            + (f"the position ({position}) stays open" if lots else "flat"),
        }[action]
        if engine.state is EngineState.HALTED:
            outcome = "the engine is halted"
        elif engine.state is EngineState.STOPPED and action == "stop":
            outcome = "the engine was stopped"
        detail = f"{label} reached its end at market time {iso_utc(now)}: {outcome}"
        self.market_ended = MarketEnded(now, label, action, detail)
        log.warning("market ended: %s (market.replay_end = %s)", detail, action)
        self.session.bus.publish(self.market_ended)
        if engine.state is EngineState.HALTED:
            return
        kind = CommandKind.FLATTEN if action == "flatten" else CommandKind.STOP
        if kind is CommandKind.STOP and engine.state is EngineState.STOPPED:
            return
        self.send(Command(kind, reason=f"{label} ended"))

    def market_finished(self) -> bool:
        """Whether a replayed market has ended and its end action (stop or flatten) is done:
        a headless run ends there."""
        return (
            self.market_ended is not None
            and self.inbox.empty()
            and self.engine.state in (EngineState.STOPPED, EngineState.HALTED)
        )

    async def _turn(self) -> None:
        """An unpaced run's pause: one turn of the loop (the store's thread works meanwhile),
        and a wait whenever more than two batches are queued, so the store commits on its
        cadence and its queue (memory) stays short however long the run."""
        await asyncio.sleep(0)
        writer = self.writer
        if writer is not None:
            await writer.wait_below(2 * writer.config.batch_rows)

    async def wind_down(self, flatten: bool, hurry: Callable[[], bool] = lambda: False) -> None:
        """Cancel everything (and flatten if asked); bounded in market and wall time.

        ``hurry()`` true (a second Ctrl+C) stops waiting for confirmations.
        """
        self._trading_end_ns = self.now_ns()
        engine = self.engine
        kind = CommandKind.FLATTEN if flatten else CommandKind.STOP
        engine.control(Command(kind, reason="shutdown"))
        e = engine.settings.engine
        limit_s = e.stop_timeout_s + (e.flatten_timeout_s if flatten else 0.0)
        clock_end = self.now_ns() + int(limit_s * 1e9)
        wall_end = time.monotonic() + limit_s + 1.0

        def finished() -> bool:
            return (
                engine.state in (EngineState.STOPPED, EngineState.HALTED)
                or hurry()
                or self.now_ns() >= clock_end
                or time.monotonic() >= wall_end
            )

        await self.run(finished)

    def force(self) -> None:
        """Stop waiting for the exchange now (a third signal); what was not confirmed is
        reported as such."""
        self._forced.set()

    async def confirm_stop(self) -> None:
        """After a hurried stop of a live session: no order is placed from now on (engine and
        venue both refuse), a cancel-all goes to the exchange, and the venue confirms within
        engine.stop_timeout_s plus venue.recv_window_ms that nothing of ours still works and
        every fill is in (``LiveVenue.sweep``); ``unconfirmed`` lists what it could not."""
        s = self.session
        self.hurried = True
        engine = self.engine
        engine.freeze("hurried stop")
        if not isinstance(s, LiveSession):
            return
        v = engine.settings.venue
        timeout_s = engine.settings.engine.stop_timeout_s + v.recv_window_ms / 1000
        sweep = asyncio.ensure_future(
            s.venue.sweep(timeout_s, v.client_id_prefix, mass_cancel=True)
        )
        forced = asyncio.ensure_future(self._forced.wait())
        await asyncio.wait((sweep, forced), return_when=asyncio.FIRST_COMPLETED)
        forced.cancel()
        if sweep.done():
            self.unconfirmed = sweep.result()
        else:
            sweep.cancel()
            with contextlib.suppress(BaseException):
                await sweep
            self.unconfirmed = ["forced exit (third signal): orders and fills not confirmed"]
        for item in self.unconfirmed:
            log.error("not confirmed at the exchange: %s", item)

    def summary(self) -> dict[str, Any]:
        """Session summary; the duration is market time until trading ended."""
        end = self._trading_end_ns if self._trading_end_ns is not None else self.now_ns()
        # The session is over: its mid path ends here, as a stored session's last mark does.
        close_markouts(self.engine)
        out = session_summary(self.engine, (end - self.session.start_ns) / 1e9)
        out["seed"] = self.engine.seed
        s = self.session
        out["mode"] = "live" if isinstance(s, LiveSession) else "paper"
        out["market_source"] = market_source(self.engine.settings)
        if isinstance(s, PaperSession) and s.live is not None:  # paper on an exchange's market
            out["market_venue"] = s.live.exchange
        out["speed"] = "max" if self.speed is None else self.speed
        out["wall_s"] = round(time.monotonic() - self._wall0, 3)
        out["hurried"] = self.hurried
        out["unconfirmed"] = list(self.unconfirmed)
        out["recovered_fills"] = self.recovered_fills
        if s.capture is not None:  # record.enabled: what `tradetui reconcile` replays
            out["recording"] = [str(p.resolve()) for p in s.capture.files]
        return out

    # ---- persistence ----------------------------------------------------------------------

    def open_store(self, options: StoreOptions) -> OpenedSession:
        """Start this session in the database (blocking; before the loop trades).

        Raises StoreError (one line) when the file is unusable; reports unclean sessions.
        """
        meta = self._meta(options)
        opened = begin_session(options.path, meta, options.writer.busy_timeout_ms)
        self.store_options = options
        if opened.replayed_rows:
            log.warning("replayed %d unwritten rows from the journal", opened.replayed_rows)
        for u in opened.unclean:
            log.warning(
                "previous session %d (started %s) did not end cleanly: last activity %s, "
                "%d fills stored",
                u.session_id,
                iso_utc(u.started_ns),
                iso_utc(u.last_seen_ns),
                u.fills,
            )
        writer = StoreWriter(options.path, options.writer, on_failure=self._store_failed)
        venue_key = self._record(options, opened, meta.venue, writer)
        if isinstance(self.session, LiveSession):
            self._arm_recovery(options.path, venue_key, opened.session_id)
        return opened

    def _meta(self, options: StoreOptions) -> SessionMeta:
        engine = self.engine
        settings = engine.settings
        return session_meta(
            options.mode,
            venue_label(settings.venue.exchange, settings.venue.rest_url),
            engine.instrument,
            settings,
            engine.seed,
            self.session.start_ns,
        )

    def join_store(self, options: StoreOptions, first: EngineHost) -> OpenedSession:
        """Store this market as a session of its own in the book of ``first`` (whose store is
        open), through ``first``'s writer (several markets, docs/multi-market.md)."""
        assert first.store is not None
        assert first.writer is not None
        meta = self._meta(options)
        opened = join_book(options.path, first.store, meta, options.writer.busy_timeout_ms)
        self._record(options, opened, meta.venue, first.writer)
        return opened

    def _record(
        self, options: StoreOptions, opened: OpenedSession, venue: str, writer: StoreWriter
    ) -> str:
        """Record this session's events as session ``opened`` through ``writer``; returns
        the venue key its fills are stored under."""
        engine = self.engine
        # A simulated exchange numbers its trades from 1 in every run; scoping its venue key
        # to the session keeps (venue, trade id) unique across sessions.
        venue_key = venue if venue != "sim" else f"sim:{opened.uuid[:12]}"
        self.recorder = SessionRecorder(
            opened.session_id,
            venue_key,
            engine.instrument.settle,
            writer.put,
            lambda: engine.mid_ticks,
            engine.pnl,
            int(options.snapshot_interval_s * 1e9),
        )
        self.store, self.writer = opened, writer
        if isinstance(self.session, LiveSession):
            # Each order request's times, for the measured latency model (venues/latency.py).
            self.session.venue.on_request = self.recorder.request
        return venue_key

    def _arm_recovery(self, path: Path, venue_key: str, session_id: int) -> None:
        """Have the start's account read store the fills made while tradetui was down (since
        the store's last fill of this venue and symbol), once each (docs/shutdown.md)."""
        from tradetui.venues.live import Recovery

        s = self.session
        assert isinstance(s, LiveSession)
        anchor = recovery_anchor(path, venue_key, self.engine.instrument.symbol, session_id)
        if anchor is None:
            return

        def store(fills: list[Fill]) -> None:
            self.recovered_fills += len(fills)
            if self.recorder is not None:
                self.recorder.recovered(fills, anchor.position_lots, self.now_ns())

        prefix = self.engine.settings.venue.client_id_prefix
        s.venue.recover(Recovery(anchor.since_ms, prefix, anchor.known, store))

    def finish_recording(self, summary: dict[str, Any] | None) -> None:
        """Stop recording this session's events and store its end (the writer stays open)."""
        recorder = self.recorder
        if recorder is None:
            return
        self.session.bus.unsubscribe(recorder.on_event)
        end_state = str(self.engine.state) if summary is not None else "error"
        recorder.finish(self.now_ns(), end_state, summary or {})

    def _store_failed(self, reason: str) -> None:
        why = f"persistence failed: {reason}"
        if self.recorder is not None:
            self.recorder.event(self.now_ns(), "store_error", "failed", why)
        self.send(Command(CommandKind.HALT, reason=why))

    async def start_store(self) -> None:
        """Start the writer task and subscribe it to the engine's events."""
        if self.writer is None or self.recorder is None:
            return
        # The writer's thread competes for the GIL; at the default 5 ms switch interval the
        # engine can wait that long for it mid-decision. 0.5 ms bounds that wait.
        sys.setswitchinterval(0.0005)
        await self.writer.start()
        self.session.bus.subscribe(self.recorder.on_event)

    async def close_store(self, summary: dict[str, Any] | None) -> dict[str, Any]:
        """Record the session end, drain every queued row and close; the store's figures.

        A recording of the session's market (record.enabled) is finished here too."""
        if self.session.capture is not None:
            self.session.capture.close()
        writer, recorder, opened = self.writer, self.recorder, self.store
        if writer is None or recorder is None or opened is None:
            return {}
        self.finish_recording(summary)
        try:
            await writer.close()
        finally:
            unlock(opened.lock_fd)
            self.writer = self.recorder = None
        return {
            "session_id": opened.session_id,
            "fills_stored": writer.fills_stored,
            "fills_journaled": writer.fills_journaled,
            "store_failed": writer.failed,
            "unclean_sessions": [u.session_id for u in opened.unclean],
        }


def _book_state(states: list[str]) -> str:
    """A book's state: halted when any market is (a halt ends the run badly), else the
    markets' common state, else 'mixed'."""
    if "halted" in states:
        return "halted"
    return states[0] if len(set(states)) == 1 else "mixed"


class BookHost:
    """Several markets' engines (one EngineHost each: its own book, strategy, risk guard,
    quoting state, sim venue and store session) on one event loop and one clock, under one
    portfolio guard that halts every market on a breach (docs/multi-market.md).

    It offers what the lifecycle, the control socket and Telegram use of an EngineHost;
    ``engine`` is the first market's. A command without a market goes to every market;
    ``send(cmd, market)`` to the one(s) named (``SYMBOL`` or ``VENUE:SYMBOL``)."""

    def __init__(
        self, book: BookSession, speed: float | None, hosts: list[EngineHost] | None = None
    ) -> None:
        from tradetui.engine.runner import KickQueue
        from tradetui.risk.portfolio import PortfolioGuard, PortfolioLimits

        self.session = book
        self.speed = speed
        self.kick = book.kick
        # ``hosts``: the markets' hosts already made (``of``), else one each.
        self.hosts = hosts if hosts is not None else [EngineHost(m, speed) for m in book.markets]
        for h in self.hosts:
            queued, h.inbox = h.inbox, KickQueue(self.kick)
            while not queued.empty():
                h.inbox.put_nowait(queued.get_nowait())
        self.engine = self.hosts[0].engine
        self.refusals = self.hosts[0].refusals
        p = book.settings.portfolio
        self.guard = PortfolioGuard(
            PortfolioLimits(
                p.max_gross_usd,
                p.max_net_usd,
                p.max_asset_usd,
                p.max_drawdown_usd,
                p.max_daily_loss_usd,
            )
        )
        self._check_ns = int(p.check_interval_ms * 1e6)
        self._next_check_ns = 0
        # The portfolio limit that halted every market, with its reason (None: none yet).
        self.portfolio_halt: PortfolioBreach | None = None
        self._wall0 = time.monotonic()
        self._trading_end_ns: int | None = None
        self.hurried = False
        self.unconfirmed: list[str] = []
        # The running markets (``run``'s, while it runs: a market added joins it at once).
        self._paced: list[PacedMarket] = []

    @classmethod
    def of(cls, host: EngineHost) -> BookHost:
        """A one-market paper session's ``host`` as a book of that market, so markets can be
        added to it while it runs (the console's screener): the same session, engine, store
        session and queued commands; ``host.book`` names the book from now on. The caller
        runs the book instead of ``host`` (not both)."""
        s = host.session
        assert isinstance(s, PaperSession)
        book = cls(BookSession(s.engine.settings, [s], s.clock, s.start_ns), host.speed, [host])
        host.book = book
        return book

    @property
    def writer(self) -> StoreWriter | None:
        return self.hosts[0].writer

    def markets(self, market: str | None) -> list[EngineHost]:
        """The hosts ``market`` names (SYMBOL or VENUE:SYMBOL, any case; None: all); [] when
        none is traded here."""
        if market is None:
            return list(self.hosts)
        want = market.upper()
        return [h for h in self.hosts if want in _market_names(h)]

    def now_ns(self) -> int:
        return self.session.clock.now_ns()

    def apply_now(self, cmd: Command) -> None:
        for h in self.hosts:
            h.apply_now(cmd)

    def send(self, cmd: Command, market: str | None = None) -> None:
        if cmd.kind is CommandKind.START and market is None:
            self.portfolio_halt = None  # a start of the whole book clears a portfolio halt
        for h in self.markets(market):
            h.send(cmd)

    async def request(
        self, cmd: Command, timeout_s: float = 5.0, market: str | None = None
    ) -> tuple[bool, str]:
        """Apply ``cmd`` to the market(s) named (all: None) and wait for every answer; the
        answers joined as ``SYMBOL: message``."""
        hosts = self.markets(market)
        if not hosts:
            known = ", ".join(_venue_symbol(h) for h in self.hosts)
            return False, f"no market {market!r} here; markets: {known}"
        if cmd.kind is CommandKind.START and market is None:
            self.portfolio_halt = None
        copies = [dataclasses.replace(cmd) for _ in hosts]
        answers = await asyncio.gather(
            *(h.request(c, timeout_s) for h, c in zip(hosts, copies, strict=True))
        )
        ok = all(a[0] for a in answers)
        text = "; ".join(
            f"{h.engine.instrument.symbol}: {m}" for h, (_, m) in zip(hosts, answers, strict=True)
        )
        return ok, text

    async def run(self, done: Callable[[], bool]) -> None:
        """Run every market until ``done()``; a replay's end is acted on per market."""
        from tradetui.engine.runner import PacedMarket, run_book_paced

        paced = self._paced = [
            PacedMarket(h.engine, m.venue, h.inbox, h._done, live=m.live is not None)
            for h, m in zip(self.hosts, self.session.markets, strict=True)
        ]

        def until() -> bool:
            for h, m in zip(self.hosts, self.session.markets, strict=True):
                feed = m.replay
                if (
                    feed is not None
                    and h.market_ended is None
                    and feed.ended
                    and m.venue.market_done
                ):
                    h._market_end()
            return done()

        await run_book_paced(
            paced, self.session.clock, self.kick, self.speed, until, self._turn, self._after
        )

    async def _turn(self) -> None:
        await self.hosts[0]._turn()

    async def add_market(
        self, settings: Settings, instrument: Instrument | None = None
    ) -> EngineHost:
        """Add a paper market of ``settings`` (one market's, as ``Settings.per_market`` makes
        them; ``instrument``: its listing, else looked up) to the running book: its session
        starts now on the book's clock, joins the book in the store and the portfolio guard,
        and is stepped from the runner's next turn on. Stopped until started. Raises
        ConfigError for bad settings, StoreError when the store refuses it."""
        from tradetui.engine.runner import KickQueue, PacedMarket
        from tradetui.session import build_paper_session

        book = self.session
        market = build_paper_session(
            settings,
            virtual=isinstance(book.clock, VirtualClock),
            start_ns=book.clock.now_ns(),
            clock=book.clock,
            instrument=instrument,
        )
        host = EngineHost(market, self.speed)
        host.inbox = KickQueue(self.kick)
        first = self.hosts[0]
        if first.store_options is not None and first.writer is not None:
            # In a thread: the writer must commit meanwhile (its transaction holds the lock
            # across the loop's turns), or the join would wait for a lock it holds itself.
            await asyncio.to_thread(host.join_store, first.store_options, first)
            if host.recorder is not None:
                market.bus.subscribe(host.recorder.on_event)
        book.markets.append(market)
        self.hosts.append(host)
        self._paced.append(PacedMarket(host.engine, market.venue, host.inbox, host._done))
        self.kick.set()
        log.info("market %s added to the book", _venue_symbol(host))
        return host

    def _after(self, _market: PacedMarket, t: int) -> None:
        if t >= self._next_check_ns:
            self._next_check_ns = t + self._check_ns
            self.check_portfolio(t)

    def exposures(self) -> list[MarketExposure]:
        from tradetui.risk.portfolio import market_exposure

        out = []
        for h in self.hosts:
            e = h.engine
            pnl = float(e.pnl().total) if e.mark_ticks else 0.0
            out.append(market_exposure(e.instrument, e.ledger.position_lots, e.mark_ticks, pnl))
        return out

    def check_portfolio(self, now_ns: int) -> None:
        """Measure the book; on a breach halt every market, once, with the limit's reason."""
        breach = self.guard.check(self.exposures(), now_ns)
        if breach is None or self.portfolio_halt is not None:
            return
        self.portfolio_halt = breach
        log.error("portfolio halt (%s): %s", breach.limit, breach.reason)
        for h in self.hosts:
            if h.engine.state is not EngineState.HALTED:
                h.send(Command(CommandKind.HALT, reason=f"portfolio: {breach.reason}"))

    def market_finished(self) -> bool:
        return all(h.market_finished() for h in self.hosts)

    async def wind_down(self, flatten: bool, hurry: Callable[[], bool] = lambda: False) -> None:
        """Every market's wind-down (``EngineHost.wind_down``) at once, on the one clock."""
        self._trading_end_ns = self.now_ns()
        kind = CommandKind.FLATTEN if flatten else CommandKind.STOP
        limit_s = 0.0
        for h in self.hosts:
            h._trading_end_ns = self._trading_end_ns
            h.engine.control(Command(kind, reason="shutdown"))
            e = h.engine.settings.engine
            limit_s = max(limit_s, e.stop_timeout_s + (e.flatten_timeout_s if flatten else 0.0))
        clock_end = self.now_ns() + int(limit_s * 1e9)
        wall_end = time.monotonic() + limit_s + 1.0
        engines = [h.engine for h in self.hosts]

        def finished() -> bool:
            return (
                all(e.state in (EngineState.STOPPED, EngineState.HALTED) for e in engines)
                or hurry()
                or self.now_ns() >= clock_end
                or time.monotonic() >= wall_end
            )

        await self.run(finished)

    def force(self) -> None:
        for h in self.hosts:
            h.force()

    async def confirm_stop(self) -> None:
        self.hurried = True
        for h in self.hosts:
            await h.confirm_stop()
            self.unconfirmed += h.unconfirmed

    def summary(self) -> dict[str, Any]:
        """Every market's summary (``EngineHost.summary``) and the book's total in USD."""
        from tradetui.engine.summary import book_total

        end = self._trading_end_ns if self._trading_end_ns is not None else self.now_ns()
        markets = []
        for h in self.hosts:
            h._trading_end_ns = end
            markets.append(h.summary())
        state = self.guard.measure(self.exposures(), end)
        breach = self.portfolio_halt
        first = markets[0]
        return {
            "state": _book_state([m["state"] for m in markets]),
            "mode": first["mode"],
            "speed": first["speed"],
            "duration_s": first["duration_s"],
            "wall_s": round(time.monotonic() - self._wall0, 3),
            "hurried": self.hurried,
            "unconfirmed": list(self.unconfirmed),
            "markets": markets,
            "total": book_total(markets) | {"open_orders": sum(m["open_orders"] for m in markets)},
            "portfolio": {
                **state.to_dict(),
                "halt_limit": breach.limit if breach else None,
                "halt_reason": breach.reason if breach else None,
            },
        }

    def open_store(self, options: StoreOptions) -> OpenedSession:
        """The first market opens the database (lock, journal, unclean sessions); every
        other market is a session of its own in its book, through the same writer."""
        first = self.hosts[0]
        opened = first.open_store(options)
        try:
            for h in self.hosts[1:]:
                h.join_store(options, first)
        except BaseException:
            unlock(opened.lock_fd)  # nothing was written through the writer yet
            raise
        return opened

    async def start_store(self) -> None:
        first = self.hosts[0]
        await first.start_store()
        for h in self.hosts[1:]:
            if h.recorder is not None:
                h.session.bus.subscribe(h.recorder.on_event)

    async def close_store(self, summary: dict[str, Any] | None) -> dict[str, Any]:
        """Every market's end stored, then the one writer drained and closed."""
        per_market = summary["markets"] if summary is not None else [None] * len(self.hosts)
        for h, one in zip(self.hosts[1:], per_market[1:], strict=True):
            h.finish_recording(one)
            h.writer = h.recorder = None
        figures = await self.hosts[0].close_store(per_market[0])
        if figures:
            figures["session_ids"] = [h.store.session_id for h in self.hosts if h.store]
        return figures


def _venue_symbol(h: EngineHost) -> str:
    """A market's name with its venue: ``usdm:BTCUSDT``."""
    from tradetui.venues.lookup import short_venue

    inst = h.engine.instrument
    return f"{short_venue(inst.venue)}:{inst.symbol}" if inst.venue else inst.symbol


def _market_names(h: EngineHost) -> tuple[str, ...]:
    """What addresses a market, upper case: SYMBOL, VENUE:SYMBOL and EXCHANGE:SYMBOL."""
    inst = h.engine.instrument
    return (inst.symbol.upper(), _venue_symbol(h).upper(), f"{inst.venue}:{inst.symbol}".upper())


# What a face, the control socket and Telegram drive: one market's host, or a book's.
Host = EngineHost | BookHost


def market_name(book: BookHost, host: EngineHost) -> str:
    """What a surface calls ``host``'s market in ``book``: its symbol, or VENUE:SYMBOL when
    another market of the book trades the same symbol."""
    symbol = host.engine.instrument.symbol
    same = sum(h.engine.instrument.symbol == symbol for h in book.hosts)
    return symbol if same == 1 else _venue_symbol(host)
