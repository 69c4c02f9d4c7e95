"""The console app: one factory for the CLI and the tests, and ``ConsoleFace``, the console as
a session's face for ``tradetui.lifecycle`` (which does all the wiring).

The engine runs as a task in the same asyncio loop as Textual. The UI never waits on it: ten
times a second it takes an ``EngineSnapshot`` (only the newest state is ever painted, so
updates coalesce by construction) and drains the buffered log records in one write. Keys
send ``Command``s to the engine's inbox through ``EngineHost.send``.

Over several markets (a ``BookHost``) a markets table selects the market the panes show and
the single-market keys act on; shifted keys act on every market (docs/console.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.events import Key, Resize
from textual.screen import Screen
from textual.widgets import Footer, Static

from tradetui.config import ConfigError, Settings
from tradetui.core.instrument import Instrument
from tradetui.core.types import Side
from tradetui.engine.engine import Command, CommandKind, Engine
from tradetui.engine.events import EngineState, FillRecorded, MarketEnded
from tradetui.engine.snapshot import EngineSnapshot, QueueAhead, take_snapshot
from tradetui.host import BookHost, EngineHost, Host, market_name
from tradetui.lifecycle import StopSignals
from tradetui.screener.stats import ScreenRow
from tradetui.session import LiveSession, PaperSession, market_source
from tradetui.store.schema import StoreError
from tradetui.tui.logbuffer import BufferingLogHandler
from tradetui.tui.screens.confirm import ConfirmScreen
from tradetui.tui.screens.fills import FillsScreen
from tradetui.tui.screens.help import HelpScreen
from tradetui.tui.screens.params import ParamsScreen
from tradetui.tui.widgets.fills import KEPT, FillsPane, fill_line
from tradetui.tui.widgets.log import LogPane
from tradetui.tui.widgets.markets import MarketRow, MarketsTable
from tradetui.tui.widgets.orderbook import OrderBookView
from tradetui.tui.widgets.pane import SnapshotPane
from tradetui.tui.widgets.pnl import PnlPane, SessionChart
from tradetui.tui.widgets.position import PositionPane
from tradetui.tui.widgets.quotes import QuotesPane
from tradetui.tui.widgets.status import Mode, StatusBar
from tradetui.tui.widgets.strategy import StrategyPane
from tradetui.venues.lookup import short_venue

log = logging.getLogger(__name__)
# Fill lines in the console's log pane (its own name, so they can be filtered by "fill").
_fills_log = logging.getLogger("tradetui.fills")

MIN_SIZE = (80, 24)
FULL_SIZE = (120, 35)
# Portfolio-wide actions: only over several markets.
_BOOK_ACTIONS = frozenset({"start_all", "stop_all", "flatten_all", "halt_all"})
# Bindings that change what the engine does; none fires while a text box owns the keys.
_TRADING_ACTIONS = frozenset({"start", "stop", "flatten", "halt", "params", "quit"}) | _BOOK_ACTIONS
HALT_DOUBLE_PRESS_S = 2.0
# A screened market's tick, in bps of its price, this many times the first market's: the
# strategy's tick-based parameters may quote it wide (said when it is added).
_COARSE_TICK = 10
_IDLE = (EngineState.STOPPED, EngineState.HALTED)


def sim_queue_ahead(venue: Any) -> QueueAhead | None:
    """Queue-ahead estimates from a venue that can tell them (the sim venue), else None."""
    ahead: QueueAhead | None = getattr(venue, "queue_ahead", None)
    return ahead


@dataclass(slots=True)
class _MarketFills:
    """A market's newest fills (pane and fills screen) and how many there were."""

    newest: deque[FillRecorded] = field(default_factory=lambda: deque(maxlen=KEPT))
    seen: int = 0


class TradeApp(App[None]):
    """The trading console over one market's ``EngineHost`` or several markets' ``BookHost``
    (then with a markets table selecting the market shown)."""

    CSS_PATH = "app.tcss"
    TITLE = "tradetui"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "start", "Start"),
        Binding("x", "stop", "Stop"),
        Binding("f", "flatten", "Flatten"),
        Binding("k", "halt", "Halt(kk)"),
        Binding("p", "params", "Params"),
        # Help and quit before the log keys, so an 80-column footer still shows them.
        Binding("question_mark", "help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("h", "fills", "Fills"),
        Binding("slash", "search", "Search"),
        Binding("l", "log_level", "Log lvl"),
        Binding("escape", "clear_search", "Clear search", show=False),
        Binding("w", "screener", "Screener", show=False),
        # Every market of a several-market session (shift: the same letters, all markets).
        Binding("S", "start_all", "Start all", show=False),
        Binding("X", "stop_all", "Stop all", show=False),
        Binding("F", "flatten_all", "Flatten all", show=False),
        Binding("H", "halt_all", "Halt all", show=False),
    ]

    def __init__(
        self,
        host: Host,
        *,
        mode: Mode = Mode.PAPER,
        live: bool = True,
        market: str | None = None,
        depth_levels: int = 20,
        refresh_s: float = 0.1,
        queue_ahead: QueueAhead | None = None,
        log_handler: BufferingLogHandler | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        # What runs the session's markets (one market's host, or the book).
        self.runner = host
        # Several markets: the book, and the market shown (one market: that market's host).
        self.book = host if isinstance(host, BookHost) else None
        self.selected: EngineHost = host.hosts[0] if isinstance(host, BookHost) else host
        self.mode = mode
        self.live = live
        self._market_option = market
        self.market = market_label(self.selected.session) if market is None else market
        self.depth_levels = depth_levels
        self.refresh_s = refresh_s
        self.queue_ahead = queue_ahead
        self.log_handler = log_handler or BufferingLogHandler()
        self.monotonic = monotonic
        self.snapshot: EngineSnapshot | None = None
        self.feed_per_s = 0.0
        self._feed_mark: tuple[int, int] | None = None
        self.refusals: list[str] = []
        self._engine_done = False
        self._engine_task: asyncio.Task[None] | None = None
        # Set while the engine task is ended to run a book instead (``_become_book``).
        self._pausing = False
        self._halt_armed_at: float | None = None
        self._tradetui_log = logging.getLogger("tradetui")
        # Each market's newest fills, by its host.
        self._fills: dict[int, _MarketFills] = {}
        self._subscribed: list[EngineHost] = []
        self._engine_events: dict[int, Callable[[object], None]] = {}
        # The replayed market's end, once reached (shown as a banner at the next repaint).
        self.market_ended: MarketEnded | None = None
        self._banner_shown = False
        self._tradetui_level = self._tradetui_log.level

    @property
    def host(self) -> EngineHost:
        """The shown market's host."""
        return self.selected

    @property
    def engine(self) -> Engine:
        """The shown market's engine."""
        return self.selected.engine

    @property
    def fills(self) -> deque[FillRecorded]:
        """The shown market's newest fills."""
        return self._market_fills(self.selected).newest

    @property
    def fills_seen(self) -> int:
        return self._market_fills(self.selected).seen

    def _market_fills(self, host: EngineHost) -> _MarketFills:
        return self._fills.setdefault(id(host), _MarketFills())

    def _hosts(self) -> list[EngineHost]:
        """Every market's host (one: the session's)."""
        return list(self.book.hosts) if self.book is not None else [self.selected]

    # ---- layout ---------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusBar(self.mode, market=self.market, id="status")
        yield Static(id="market-ended")
        if self.book is not None:
            yield MarketsTable(id="markets")
        with Vertical(id="main"):
            with Horizontal(id="top"):
                yield OrderBookView(id="book")
                with Vertical(id="middle"):
                    yield QuotesPane(id="quotes")
                    yield PositionPane(id="position")
                    yield PnlPane(id="pnl")
                with Vertical(id="right"):
                    yield StrategyPane(id="strategy")
                    yield SessionChart(id="chart")
            with Horizontal(id="bottom"):
                yield LogPane(self.log_handler.history, id="log")
                yield FillsPane(id="fills")
        yield Static(id="too-small")
        yield Footer()

    def on_mount(self) -> None:
        self._tradetui_log.addHandler(self.log_handler)
        self._set_logger_level(logging.INFO)
        self._fit(self.size.width, self.size.height)
        # Panes are looked up once: a modal screen on top must not hide them from updates.
        self._status = self.query_one(StatusBar)
        self._panes: tuple[OrderBookView | SnapshotPane | SessionChart, ...] = (
            self.query_one(OrderBookView),
            self.query_one(QuotesPane),
            self.query_one(PositionPane),
            self.query_one(PnlPane),
            self.query_one(StrategyPane),
            self.query_one(SessionChart),
        )
        self._log_pane = self.query_one(LogPane)
        self._fills_pane = self.query_one(FillsPane)
        self._position = self.query_one(PositionPane)
        for h in self._hosts():
            self._watch(h)
        if self.book is not None:
            self.screen.add_class("-book")
            self._markets = self.query_one(MarketsTable)
            self._markets.focus()
        if self.live:
            self._engine_task = asyncio.create_task(self._run_engine(), name="engine")
        self.refresh_view()
        self.set_interval(self.refresh_s, self.refresh_view)

    def _watch(self, host: EngineHost) -> None:
        """Show ``host``'s fills and refused commands (each market's, over several)."""
        callback = self._engine_events[id(host)] = partial(self.on_engine_event, host)
        host.session.bus.subscribe(callback)
        host.refusals.append(self._on_refused)
        self._subscribed.append(host)

    def on_unmount(self) -> None:
        for h in self._subscribed:
            h.session.bus.unsubscribe(self._engine_events[id(h)])
            with contextlib.suppress(ValueError):
                h.refusals.remove(self._on_refused)
        self._engine_done = True
        self._tradetui_log.removeHandler(self.log_handler)
        self._tradetui_log.setLevel(self._tradetui_level)

    def on_resize(self, event: Resize) -> None:
        self._fit(event.size.width, event.size.height)

    def _fit(self, width: int, height: int) -> None:
        """Full, compact or too-small layout for a terminal of ``width`` × ``height`` cells."""
        too_small = width < MIN_SIZE[0] or height < MIN_SIZE[1]
        compact = not too_small and (width < FULL_SIZE[0] or height < FULL_SIZE[1])
        screen = self.screen
        screen.set_class(too_small, "-too-small")
        screen.set_class(compact, "-compact")
        if too_small:
            self.query_one("#too-small", Static).update(
                f"Terminal too small: {width}×{height}.\n"
                f"tradetui needs at least {MIN_SIZE[0]}×{MIN_SIZE[1]} "
                f"({FULL_SIZE[0]}×{FULL_SIZE[1]} shows every pane).\n"
                "Enlarge the window; trading continues meanwhile."
            )

    # ---- engine ---------------------------------------------------------------------------

    async def _run_engine(self) -> None:
        try:
            await self.runner.run(lambda: self._engine_done or self._pausing)
        except Exception:
            log.exception("engine task failed")
            self.notify("engine task failed; see the log", severity="error", timeout=30)

    async def engine_stopped(self) -> None:
        """Stop the engine task (between events) and wait for it to end."""
        self._engine_done = True
        await self._engine_task_ended()

    async def _engine_task_ended(self) -> None:
        task = self._engine_task
        if task is None:
            return
        # The runner checks the flag between events; cancel only if it is parked waiting.
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(task), timeout=0.5)
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _on_refused(self, cmd: Command, why: str) -> None:
        self.refusals.append(why)
        self.notify(f"{cmd.kind} refused: {why}", severity="warning", timeout=8)

    def send(self, cmd: Command) -> None:
        """Send a command to the shown market's engine."""
        self.selected.send(cmd)

    def refresh_view(self) -> None:
        """Pull the newest snapshot and paint it; drain pending log records in one write."""
        if self.market_ended is not None and not self._banner_shown:
            self._show_market_end(self.market_ended)
        queue_ahead = self.queue_ahead
        if self.book is not None:
            queue_ahead = sim_queue_ahead(self.selected.session.venue)
        snap = take_snapshot(self.engine, self.depth_levels, queue_ahead)
        self.snapshot = snap
        self._update_feed_rate(snap)
        uptime_ns = snap.ts_ns - self.runner.session.start_ns
        self._status.show(snap, self.feed_per_s, uptime_ns)
        for pane in self._panes:
            pane.show(snap)
        if self.book is not None:
            self._show_book(self.book, snap)
        self._fills_pane.show(self.fills, self.fills_seen, self.engine.instrument)
        lines = self.log_handler.drain()
        if lines:
            self._log_pane.append(lines)

    def _show_market_end(self, ended: MarketEnded) -> None:
        self._banner_shown = True
        self._status.market_ended = True
        banner = self.query_one("#market-ended", Static)
        banner.update(f"MARKET ENDED: {ended.detail}. Press q to quit.")
        banner.add_class("-shown")

    def _show_book(self, book: BookHost, shown: EngineSnapshot) -> None:
        """The markets table and every market's position (the shown one from ``shown``)."""
        rows = []
        for h, exposure in zip(book.hosts, book.exposures(), strict=True):
            snap = shown if h is self.selected else take_snapshot(h.engine, 1)
            rows.append(MarketRow(market_name(book, h), snap, exposure))
        self._markets.show(rows)
        self._position.show_book([(r.name, r.snap) for r in rows])

    def on_data_table_row_highlighted(self, event: MarketsTable.RowHighlighted) -> None:
        if self.book is not None and isinstance(event.data_table, MarketsTable):
            self.select_market(event.cursor_row)

    def select_market(self, index: int) -> None:
        """Show market ``index`` of the book in the panes; the single-market keys act on it."""
        assert self.book is not None
        host = self.book.hosts[index]
        if host is self.selected:
            return
        self.selected = host
        self._halt_armed_at = None  # a k pressed on another market does not arm this one
        self._feed_mark = None
        self.feed_per_s = 0.0
        if self._market_option is None:
            self.market = self._status.market = market_label(host.session)
        self.refresh_view()

    async def _become_book(self) -> BookHost:
        """Make this one-market paper session a book of its market (``BookHost.of``) and run
        the book from now on: the engine task ends between events and starts again on the
        book; the markets table appears."""
        self._pausing = True
        try:
            await self._engine_task_ended()
        finally:
            self._pausing = False
        book = BookHost.of(self.selected)
        self.book = self.runner = book
        main = self.screen_stack[0]  # the screener may be on top
        self._markets = MarketsTable(id="markets")
        await main.mount(self._markets, before=main.query_one("#main"))
        main.add_class("-book")
        main.set_focus(self._markets)
        if self.live:
            self._engine_task = asyncio.create_task(self._run_engine(), name="engine")
        return book

    def on_engine_event(self, host: EngineHost, event: object) -> None:
        # Called inside the engine's step: keep it to a deque append and one log record.
        if isinstance(event, MarketEnded):
            self.market_ended = event
        elif isinstance(event, FillRecorded):
            fills = self._market_fills(host)
            fills.newest.append(event)
            fills.seen += 1
            inst = host.engine.instrument
            line = fill_line(event, inst, clock=False)
            if self.book is None:
                _fills_log.info("fill %s", line)
            else:
                _fills_log.info("fill %s %s", inst.symbol, line)

    def _update_feed_rate(self, snap: EngineSnapshot) -> None:
        """Market events per second of engine time, over windows of at least one second."""
        mark = self._feed_mark
        if mark is None:
            self._feed_mark = (snap.ts_ns, snap.market_events)
            return
        elapsed_ns = snap.ts_ns - mark[0]
        if elapsed_ns >= 1_000_000_000:
            self.feed_per_s = (snap.market_events - mark[1]) / (elapsed_ns / 1e9)
            self._feed_mark = (snap.ts_ns, snap.market_events)

    # ---- actions --------------------------------------------------------------------------

    @property
    def state(self) -> EngineState:
        return self.engine.state

    def _confirm(self, title: str, body: str, yes: str, then: Callable[[], None]) -> None:
        def answered(ok: bool | None) -> None:
            if ok:
                then()

        self.push_screen(ConfirmScreen(title, body, yes=yes), answered)

    def action_start(self) -> None:
        if self.state is EngineState.HALTED:
            reason = self.engine.halt_reason or "kill switch"
            self._confirm(
                "Restart after a halt?",
                f"The engine halted: {reason}.\nStart quoting again?",
                "Start",
                lambda: self.send(Command(CommandKind.START, reason="console", confirm=True)),
            )
            return
        self.send(Command(CommandKind.START, reason="console"))

    def action_stop(self) -> None:
        self.send(Command(CommandKind.STOP, reason="console stop"))
        held = _open_position(self.engine)
        if held:
            self.notify(f"stopping: the position ({held}) stays open; f flattens it", timeout=4)

    def _open_positions(self) -> str:
        """Every market's open position (``+0.004 BTC``, with its market's name over
        several), or "" when all are flat."""
        book = self.book
        if book is None:
            return _open_position(self.engine)
        held = ((market_name(book, h), _open_position(h.engine)) for h in book.hosts)
        return ", ".join(f"{name} {size}" for name, size in held if size)

    def _shown_name(self) -> str:
        """The shown market's name in a dialog over several markets ("" with one)."""
        return f" of {market_name(self.book, self.selected)}" if self.book is not None else ""

    def action_flatten(self) -> None:
        snap = self.snapshot
        size = f"{snap.pnl.position_size:+g} {snap.size_unit}" if snap is not None else "?"
        self._confirm(
            f"Flatten the position{self._shown_name()}?",
            f"Cancel every order and close the position ({size}) at market.",
            "Flatten",
            lambda: self.send(Command(CommandKind.FLATTEN, reason="console flatten")),
        )

    def action_halt(self) -> None:
        now = self.monotonic()
        armed = self._halt_armed_at
        if armed is not None and now - armed <= HALT_DOUBLE_PRESS_S:
            self._halt_armed_at = None
            self._halt()
            return
        self._halt_armed_at = now
        self.notify(
            f"press k again within 2 s to HALT{self._shown_name()} (kill switch)",
            severity="warning",
            timeout=2,
        )

    def _halt(self) -> None:
        self.send(Command(CommandKind.HALT, reason="kill switch (console)"))

    def action_halt_confirm(self) -> None:
        self._confirm(
            f"Halt trading{self._shown_name()}?",
            "Kill switch: cancel everything and refuse to quote until restarted.",
            "Halt",
            self._halt,
        )

    def action_params(self) -> None:
        def apply(commands: list[Command] | None) -> None:
            if commands is None:  # cancelled
                return
            for cmd in commands:
                self.send(cmd)
            if commands:
                self.notify("parameters sent: " + ", ".join(c.section for c in commands))
            else:
                self.notify("parameters unchanged: nothing to apply", timeout=3)

        locked = self.state is not EngineState.STOPPED
        screen = ParamsScreen(self.engine.settings, locked, self.engine.instrument.symbol)
        self.push_screen(screen, apply)

    # ---- every market (several markets only) ----------------------------------------------

    def _send_all(self, cmd: Command) -> None:
        assert self.book is not None
        self.book.send(cmd)

    def action_start_all(self) -> None:
        book = self.book
        assert book is not None
        halted = [market_name(book, h) for h in book.hosts if h.engine.state is EngineState.HALTED]
        start = Command(CommandKind.START, reason="console start all", confirm=True)
        if not halted:
            self._send_all(start)
            return
        self._confirm(
            "Restart every market after a halt?",
            f"Halted: {', '.join(halted)}.\nStart quoting on every market again?",
            "Start all",
            lambda: self._send_all(start),
        )

    def action_stop_all(self) -> None:
        self._send_all(Command(CommandKind.STOP, reason="console stop all"))
        held = self._open_positions()
        if held:
            self.notify(f"stopping all: positions stay open ({held}); F flattens them", timeout=4)

    def action_flatten_all(self) -> None:
        held = self._open_positions() or "all flat"
        self._confirm(
            "Flatten every market?",
            f"Cancel every order of every market and close the positions at market ({held}).",
            "Flatten all",
            lambda: self._send_all(Command(CommandKind.FLATTEN, reason="console flatten all")),
        )

    def action_halt_all(self) -> None:
        self._confirm(
            "Halt every market?",
            "Kill switch on every market: cancel everything and refuse to quote until "
            "restarted (S).",
            "Halt all",
            lambda: self._send_all(Command(CommandKind.HALT, reason="kill switch all (console)")),
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in _BOOK_ACTIONS and self.book is None:
            return False
        # While the search box is open every key is text: no binding may trade.
        return not (action in _TRADING_ACTIONS and self._log_pane.search_open)

    def on_key(self, event: Key) -> None:
        pane = self._log_pane
        if pane.search_open and event.is_printable and event.character:
            event.stop()
            pane.type_ahead(event.character)

    def action_fills(self) -> None:
        self.push_screen(FillsScreen(self.fills, self.fills_seen, self.engine.instrument))

    def action_screener(self) -> None:
        from tradetui.tui.screens.screener import ScreenerScreen
        from tradetui.venues.binance_stream import feed_hosts

        venue, feed = self.engine.settings.venue, self.engine.settings.feed
        # A paper session (the sim venue) screens Binance USD-M, the market it plays.
        exchange = venue.exchange if feed_hosts(venue.exchange) else "binanceusdm"
        ws, rest = feed_hosts(exchange) or ("", "")
        routed = exchange == "binanceusdm" and feed.ws_routing == "split"
        self.push_screen(
            ScreenerScreen(
                exchange,
                venue.rest_url or rest,
                venue.ws_url or ws,
                routed=routed,
                add_market=self.add_screened_market,
            )
        )

    async def add_screened_market(self, instrument: Instrument, row: ScreenRow) -> tuple[bool, str]:
        """Add the screened ``instrument`` to the running session as a paper market on the
        synthetic market scaled to its screened price, and start it quoting; what was done
        (or why not), one line, also logged. A one-market paper session becomes a book of
        two (``_become_book``); a live session, or a book of replayed or live markets,
        refuses."""
        ok, message = await self._add_market(instrument, row)
        (log.info if ok else log.warning)("add market: %s", message)
        return ok, message

    async def _add_market(self, instrument: Instrument, row: ScreenRow) -> tuple[bool, str]:
        symbol = instrument.symbol
        session = self.selected.session
        if isinstance(session, LiveSession):
            return False, f"{symbol} not added: markets are added to paper sessions only"
        settings = session.engine.settings if self.book is None else self.book.session.settings
        # A book's markets each have their own source (synthetic, replay, live feed).
        kinds = {market_source(one) for one in settings.per_market()} if settings.markets else set()
        kind = next((k for k in kinds if k != "synthetic"), market_source(settings))
        if kind != "synthetic":
            return False, (
                f"{symbol} not added: this session trades {kind} markets; screened markets "
                "are added to sessions on the synthetic market only"
            )
        venue = short_venue(instrument.venue)
        hosts = self._hosts()
        if any(
            h.engine.instrument.symbol == symbol and h.engine.instrument.venue == instrument.venue
            for h in hosts
        ):
            return False, f"{symbol} is traded in this session already"
        mid = (row.bid + row.ask) / 2
        if not mid > 0:  # NaN before its first bookTicker
            return False, f"{symbol} not added: no price seen yet; wait for its first quote"
        first = hosts[0].engine
        ref_price = first.mid_ticks * first.instrument.tick
        if not ref_price > 0:
            return False, f"{symbol} not added: no price for {first.instrument.symbol} yet"
        base = dataclasses.replace(settings, markets=())
        try:
            one = screened_market_settings(base, instrument, mid, ref_price).replace(
                "market",
                source=f"synthetic:{venue}:{symbol}",
                seed=base.market.seed + len(hosts),
                start_price=mid,
            )
            book = self.book or await self._become_book()
            host = await book.add_market(one, instrument)
        except (ConfigError, StoreError) as exc:
            return False, f"{symbol} not added: {exc}"
        self._watch(host)
        host.send(Command(CommandKind.START, reason="added from the screener"))
        size = one.strategy.order_size
        added = (
            f"{symbol} added: paper, synthetic market at {mid:g} {instrument.quote}, "
            f"quoting {size:g} {instrument.base}"
        )
        # The strategy's parameters are in ticks: on a much coarser tick it quotes wide.
        tick_bps = instrument.tick / mid * 1e4
        ref_bps = first.instrument.tick / ref_price * 1e4
        if tick_bps > _COARSE_TICK * ref_bps:
            added += (
                f"; its tick is {tick_bps:.2g} bps of the price ({first.instrument.symbol}: "
                f"{ref_bps:.2g}): p tunes its strategy"
            )
        return True, added

    def action_search(self) -> None:
        self._log_pane.open_search()

    def action_clear_search(self) -> None:
        self._log_pane.close_search()

    def action_log_level(self) -> None:
        pane = self._log_pane
        pane.cycle_level()
        self._set_logger_level(pane.min_level)
        self.notify(f"log shows {logging.getLevelName(pane.min_level)} and above", timeout=2)

    def _set_logger_level(self, shown: int) -> None:
        # DEBUG records cost the engine time to format, so they are emitted only when shown.
        self._tradetui_log.setLevel(min(shown, logging.INFO))

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        held = self._open_positions()
        active = [h.engine.state for h in self._hosts() if h.engine.state not in _IDLE]
        if active or held:
            lines = []
            if active:
                what = "engine is" if self.book is None else f"{len(active)} markets are"
                lines.append(f"The {what} {active[0]}. Quitting cancels all working orders.")
            if held:
                # Quitting never flattens (the console winds down with flatten off).
                lines.append(f"The position ({held}) stays open; press f first to flatten it.")
            self._confirm("Stop and quit?", "\n".join(lines), "Stop and quit", self.exit)
            return
        self.exit()

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        # Textual's own "Keys" (its key panel) would stand next to ours (the key reference).
        yield from (c for c in super().get_system_commands(screen) if c.title != "Keys")
        yield SystemCommand("Start quoting", "Start the engine (s)", self.action_start)
        yield SystemCommand(
            "Stop", "Cancel all working orders; the position stays open (x)", self.action_stop
        )
        yield SystemCommand("Flatten", "Close the position at market (f)", self.action_flatten)
        yield SystemCommand("Halt (kill switch)", "Cancel all and halt", self.action_halt_confirm)
        yield SystemCommand("Parameters", "Edit strategy and quoting (p)", self.action_params)
        yield SystemCommand(
            "Screener", "Every symbol of the venue from public streams (w)", self.action_screener
        )
        yield SystemCommand("Search log", "Filter the log by text (/)", self.action_search)
        yield SystemCommand("Log level", "Cycle the log level filter (l)", self.action_log_level)
        yield SystemCommand("Keys", "Show the key reference (?)", self.action_help)
        if self.book is not None:
            yield SystemCommand(
                "Start all markets", "Every market quotes (S)", self.action_start_all
            )
            yield SystemCommand(
                "Stop all markets", "Cancel every market's orders (X)", self.action_stop_all
            )
            yield SystemCommand(
                "Flatten all markets", "Close every position at market (F)", self.action_flatten_all
            )
            yield SystemCommand(
                "Halt all markets", "Kill switch on every market (H)", self.action_halt_all
            )


def market_label(session: Any) -> str:
    """The status bar's name of the market: a paper session's source ("synthetic", "replay
    FILE", "live usdm" on an exchange's live market); '' for a live session (its exchange is
    named)."""
    if not isinstance(session, PaperSession):
        return ""
    if session.live is not None:
        return f"live {short_venue(session.live.exchange)}"
    return session.market


def screened_market_settings(
    base: Settings, inst: Instrument, price: float, ref_price: float
) -> Settings:
    """``base`` (a session's settings) for a screened ``inst`` trading at ``price``: the
    sizes and limits written in the base asset (strategy.order_size, risk.max_position_base,
    risk.max_order_base) scaled by ``ref_price / price``, so they keep the quote value they
    have at ``ref_price`` (the session's first market's price); the order size on the
    instrument's lot grid and at least its minimum order."""
    factor = ref_price / price
    price_ticks = inst.quantize_price(price, Side.BUY)
    lots = max(
        1, inst.quantize_qty(base.strategy.order_size * factor), inst.min_lots_at(price_ticks)
    )
    size = float(inst.qty(lots))
    r = base.risk
    return (
        base.replace("venue", symbol=inst.symbol)
        .replace("strategy", order_size=size)
        .replace(
            "risk",
            max_position_base=max(r.max_position_base * factor, size)
            if r.max_position_base
            else 0.0,
            max_order_base=max(r.max_order_base * factor, size) if r.max_order_base else 0.0,
        )
    )


def _open_position(engine: Engine) -> str:
    """``engine``'s position as ``+0.004 BTC``, or "" when flat."""
    lots = engine.ledger.position_lots
    if not lots:
        return ""
    inst = engine.instrument
    return f"{'+' if lots > 0 else '-'}{inst.qty(abs(lots))} {inst.size_unit}"


def make_app(host: Host, *, mode: Mode = Mode.PAPER, live: bool = True, **options: Any) -> TradeApp:
    """The console over ``host``; ``live`` False paints the engine without running it."""
    if isinstance(host, EngineHost):  # over several markets, the shown market's venue's
        options.setdefault("queue_ahead", sim_queue_ahead(host.session.venue))
    return TradeApp(host, mode=mode, live=live, **options)


@contextlib.contextmanager
def _stdout_on_terminal() -> Iterator[None]:
    """Point fd 1 at the terminal while the console runs when stdout is redirected.

    Textual draws on stderr but reads the terminal size from stdout, so ``--json > file``
    would otherwise lay the screen out at a fallback 80×24 and ignore resizes.
    """
    if os.isatty(1) or not os.isatty(2):
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


class ConsoleFace:
    """The console as a session's face (``tradetui.lifecycle``): it shows the session until
    the user quits; quitting never flattens. With ``autostart`` quoting starts at once, as if
    `s` were pressed."""

    flatten_on_exit = False

    def __init__(self, *, no_mouse: bool = False, autostart: bool = False) -> None:
        self.no_mouse = no_mouse
        self.autostart = autostart

    def begin(self, host: Host, signals: StopSignals) -> None:
        if self.autostart:
            # Applied by the engine task as soon as it runs, like a press of `s`.
            host.send(Command(CommandKind.START, reason="console start"))

    async def trade(self, host: Host, signals: StopSignals) -> None:
        live = isinstance(host.session, LiveSession)
        app = make_app(host, mode=Mode.LIVE if live else Mode.PAPER)
        await self.show(app)
        await app.engine_stopped()
        # With the terminal back, a SIGINT or SIGTERM hurries the wind-down (nothing placed,
        # cancel-all, confirm) and a second one stops waiting for the exchange.
        signals.stopping()

    async def show(self, app: TradeApp) -> None:
        """Run the app until the user quits."""
        with _stdout_on_terminal():
            await app.run_async(mouse=not self.no_mouse)
