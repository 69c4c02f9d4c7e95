"""Pilot tests: every key action and state transition of the console on a seeded session."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, Sparkline, Static
from textual.widgets._footer import FooterKey

from tradetui.engine.engine import Command, CommandKind
from tradetui.engine.events import EngineState
from tradetui.engine.snapshot import take_snapshot
from tradetui.host import EngineHost
from tradetui.session import PaperSession
from tradetui.tui.app import TradeApp, make_app
from tradetui.tui.screens.confirm import ConfirmScreen
from tradetui.tui.screens.fills import FillsScreen
from tradetui.tui.screens.help import HelpScreen
from tradetui.tui.screens.params import ParamsScreen
from tradetui.tui.widgets.log import LogPane
from tradetui.tui.widgets.pnl import SessionChart
from tradetui.tui.widgets.status import Mode, StatusBar

MakeHost = Callable[..., EngineHost]
WaitFor = Callable[[Pilot[None], Callable[[], bool]], Awaitable[bool]]
FULL = (120, 35)


class FakeClock:
    """A monotonic clock the test moves by hand (seconds)."""

    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def app_for(host: EngineHost, **options: Any) -> TradeApp:
    return make_app(host, **options)


def top(app: TradeApp) -> Screen[Any]:
    """The screen on top now (a call, so type narrowing from an earlier check does not stick)."""
    return app.screen


async def test_s_starts_a_stopped_engine(make_host: MakeHost, wait_for: WaitFor) -> None:
    app = app_for(make_host(started=False))
    async with app.run_test(size=FULL) as pilot:
        assert app.engine.state is EngineState.STOPPED
        await pilot.press("s")
        assert await wait_for(pilot, lambda: app.engine.state is EngineState.RUNNING)
        assert await wait_for(pilot, lambda: app.engine.orders_placed > 0)


async def test_x_stops_and_cancels_every_order(make_host: MakeHost, wait_for: WaitFor) -> None:
    app = app_for(make_host(seconds=20))
    async with app.run_test(size=FULL) as pilot:
        assert app.engine.orders
        await pilot.press("x")
        assert await wait_for(pilot, lambda: app.engine.state is EngineState.STOPPED)
        assert not app.engine.orders


async def test_f_asks_then_flattens_to_a_flat_position(
    make_host: MakeHost, wait_for: WaitFor
) -> None:
    app = app_for(make_host(seconds=20))
    async with app.run_test(size=FULL) as pilot:
        assert app.engine.ledger.position_lots != 0
        await pilot.press("f")
        assert await wait_for(pilot, lambda: isinstance(top(app), ConfirmScreen))
        await pilot.press("y")
        assert await wait_for(pilot, lambda: app.engine.state is EngineState.STOPPED)
        assert app.engine.ledger.position_lots == 0
        assert not app.engine.orders


async def test_flatten_declined_changes_nothing(make_host: MakeHost, wait_for: WaitFor) -> None:
    app = app_for(make_host(seconds=20))
    async with app.run_test(size=FULL) as pilot:
        await pilot.press("f")
        # Under load the dialog can take longer than one key press to open: wait for it.
        assert await wait_for(pilot, lambda: isinstance(top(app), ConfirmScreen))
        await pilot.press("n")
        assert await wait_for(pilot, lambda: not isinstance(top(app), ConfirmScreen))
        await pilot.pause(0.05)
        assert app.engine.state is EngineState.RUNNING
        assert app.host.inbox.empty()


async def test_k_once_only_arms_the_kill_switch(make_host: MakeHost, wait_for: WaitFor) -> None:
    clock = FakeClock()
    app = app_for(make_host(seconds=20), monotonic=clock)
    async with app.run_test(size=FULL) as pilot:
        await pilot.press("k")
        clock.t += 2.5
        await pilot.press("k")
        await pilot.pause(0.05)
        assert app.engine.state is EngineState.RUNNING


async def test_k_twice_halts_and_cancels(make_host: MakeHost, wait_for: WaitFor) -> None:
    clock = FakeClock()
    app = app_for(make_host(seconds=20), monotonic=clock)
    async with app.run_test(size=FULL) as pilot:
        await pilot.press("k")
        clock.t += 0.5
        await pilot.press("k")
        assert await wait_for(pilot, lambda: app.engine.state is EngineState.HALTED)
        assert await wait_for(pilot, lambda: not app.engine.orders)
        assert "kill switch" in app.engine.halt_reason


async def test_start_after_halt_needs_confirmation(make_host: MakeHost, wait_for: WaitFor) -> None:
    clock = FakeClock()
    app = app_for(make_host(seconds=20), monotonic=clock)
    async with app.run_test(size=FULL) as pilot:
        await pilot.press("k", "k")
        assert await wait_for(pilot, lambda: app.engine.state is EngineState.HALTED)
        await pilot.press("s")
        assert await wait_for(pilot, lambda: isinstance(top(app), ConfirmScreen))
        await pilot.press("n")
        await pilot.pause(0.05)
        assert app.engine.state is EngineState.HALTED
        await pilot.press("s", "y")
        assert await wait_for(pilot, lambda: app.engine.state is EngineState.RUNNING)


async def open_params(pilot: Pilot[None], app: TradeApp, wait_for: WaitFor) -> ParamsScreen:
    """Press p and wait until the editor's inputs are mounted (a loaded machine is slow)."""
    await pilot.press("p")

    def mounted() -> bool:
        return isinstance(app.screen, ParamsScreen) and bool(
            app.screen.query("#param-venue-symbol")
        )

    assert await wait_for(pilot, mounted)
    screen = app.screen
    assert isinstance(screen, ParamsScreen)
    return screen


async def test_valid_parameter_edit_applies_live(make_host: MakeHost, wait_for: WaitFor) -> None:
    app = app_for(make_host(seconds=5))
    async with app.run_test(size=FULL) as pilot:
        screen = await open_params(pilot, app, wait_for)
        screen.query_one("#param-strategy-gamma", Input).value = "0.05"
        await pilot.press("ctrl+s")
        assert not isinstance(top(app), ParamsScreen)
        assert await wait_for(pilot, lambda: app.engine.settings.strategy.gamma == 0.05)


async def test_invalid_parameter_shows_inline_error_and_applies_nothing(
    make_host: MakeHost, wait_for: WaitFor
) -> None:
    app = app_for(make_host(seconds=5))
    async with app.run_test(size=FULL) as pilot:
        before = app.engine.settings
        screen = await open_params(pilot, app, wait_for)
        screen.query_one("#param-strategy-gamma", Input).value = "0.05"
        screen.query_one("#param-strategy-min_spread_ticks", Input).value = "-3"
        await pilot.press("ctrl+s")
        assert app.screen is screen
        error = screen.query_one("#params-error", Label)
        assert error.display
        assert "strategy.min_spread_ticks" in str(error.render())
        await pilot.press("escape")
        await pilot.pause(0.05)
        assert app.engine.settings is before
        assert app.host.inbox.empty()


async def test_symbol_is_locked_while_running(make_host: MakeHost, wait_for: WaitFor) -> None:
    app = app_for(make_host(seconds=5))
    async with app.run_test(size=FULL) as pilot:
        screen = await open_params(pilot, app, wait_for)
        assert screen.query_one("#param-venue-symbol", Input).disabled


async def test_symbol_is_editable_when_stopped(make_host: MakeHost, wait_for: WaitFor) -> None:
    app = app_for(make_host(started=False))
    async with app.run_test(size=FULL) as pilot:
        screen = await open_params(pilot, app, wait_for)
        assert not screen.query_one("#param-venue-symbol", Input).disabled


async def test_q_when_stopped_quits_at_once(make_host: MakeHost) -> None:
    app = app_for(make_host(started=False))
    async with app.run_test(size=FULL) as pilot:
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_q_when_running_asks_and_cancel_keeps_trading(
    make_host: MakeHost, wait_for: WaitFor
) -> None:
    app = app_for(make_host(seconds=5))
    async with app.run_test(size=FULL) as pilot:
        await pilot.press("q")
        assert await wait_for(pilot, lambda: isinstance(top(app), ConfirmScreen))
        await pilot.press("n")
        assert app.is_running
        assert app.engine.state is EngineState.RUNNING


async def test_q_when_running_and_confirmed_quits(make_host: MakeHost) -> None:
    app = app_for(make_host(seconds=5))
    async with app.run_test(size=FULL) as pilot:
        await pilot.press("q", "y")
        await pilot.pause()
    assert app.return_code == 0
    await app.engine_stopped()
    await app.host.wind_down(flatten=False)
    assert app.engine.state is EngineState.STOPPED
    assert not app.engine.orders


async def test_question_mark_shows_help_and_escape_closes(
    make_host: MakeHost, wait_for: WaitFor
) -> None:
    app = app_for(make_host(started=False), live=False)
    async with app.run_test(size=FULL) as pilot:
        await pilot.press("question_mark")
        assert await wait_for(pilot, lambda: isinstance(top(app), HelpScreen))
        await pilot.press("escape")
        assert not isinstance(top(app), HelpScreen)


async def test_slash_searches_the_log(make_host: MakeHost, wait_for: WaitFor) -> None:
    app = app_for(make_host(started=False), live=False)
    async with app.run_test(size=FULL) as pilot:
        logger = app.log_handler
        logging.getLogger("tradetui.test").info("alpha order placed")
        logging.getLogger("tradetui.test").info("beta order cancelled")
        app.refresh_view()
        pane = app.query_one(LogPane)
        await pilot.press("slash")
        search = pane.query_one("#log-search", Input)
        assert search.has_focus
        await pilot.press(*"beta")
        assert pane.needle == "beta"
        assert [ln.message for ln in logger.history if ln.matches(pane.min_level, pane.needle)] == [
            "beta order cancelled"
        ]
        await pilot.press("enter")
        assert not search.display
        await pilot.press("escape")
        assert pane.needle == ""


async def test_l_cycles_the_log_level(make_host: MakeHost) -> None:
    app = app_for(make_host(started=False), live=False)
    async with app.run_test(size=FULL) as pilot:
        pane = app.query_one(LogPane)
        assert pane.min_level == 20
        await pilot.press("l")
        assert pane.min_level == 30
        assert "WARNING" in str(pane.border_title)


async def test_too_small_terminal_shows_a_message_and_recovers(make_host: MakeHost) -> None:
    app = app_for(make_host(seconds=2), live=False)
    async with app.run_test(size=FULL) as pilot:
        await pilot.resize_terminal(60, 20)
        await pilot.pause()
        assert app.screen.has_class("-too-small")
        assert not app.query_one("#main").display or app.query_one("#main").region.area == 0
        assert app.query_one("#too-small").region.area > 0
        await pilot.resize_terminal(*FULL)
        await pilot.pause()
        assert not app.screen.has_class("-too-small")
        assert app.query_one("#book").region.area > 0


async def test_every_pane_is_visible_at_120x35(make_host: MakeHost) -> None:
    app = app_for(make_host(seconds=2), live=False)
    async with app.run_test(size=FULL) as pilot:
        await pilot.pause()
        for pane in ("#status", "#book", "#quotes", "#position", "#pnl", "#strategy", "#chart"):
            assert app.query_one(pane).region.area > 0, pane
        assert app.query_one("#log").region.area > 0


async def test_80x24_shows_the_reduced_layout(make_host: MakeHost) -> None:
    app = app_for(make_host(seconds=2), live=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.screen.has_class("-compact")
        for pane in ("#status", "#book", "#quotes", "#position", "#pnl"):
            assert app.query_one(pane).region.area > 0, pane
        assert app.query_one("#strategy").region.area == 0


async def test_live_mode_is_spelled_out_in_the_status_bar(make_host: MakeHost) -> None:
    app = app_for(make_host(seconds=2), live=False, mode=Mode.LIVE)
    async with app.run_test(size=FULL) as pilot:
        await pilot.pause()
        text = str(app.query_one(StatusBar).render())
        assert "LIVE" in text
        assert "REAL MONEY" in text
        assert "PAPER" not in text


async def test_command_palette_offers_every_action(make_host: MakeHost) -> None:
    app = app_for(make_host(started=False), live=False)
    async with app.run_test(size=FULL):
        titles = {c.title for c in app.get_system_commands(app.screen)}
    for title in ("Start quoting", "Stop", "Flatten", "Halt (kill switch)", "Parameters"):
        assert title in titles


async def test_refused_command_is_reported(make_host: MakeHost, wait_for: WaitFor) -> None:
    app = app_for(make_host(seconds=5))
    async with app.run_test(size=FULL) as pilot:
        app.engine.control(Command(CommandKind.HALT, reason="test"))
        app.send(Command(CommandKind.START))
        assert await wait_for(pilot, lambda: bool(app.refusals))
        assert "halted" in app.refusals[0]
        assert app.engine.state is EngineState.HALTED


async def test_ml_drift_reaches_the_log_pane_and_the_strategy_pane(
    make_host: MakeHost, tmp_path: Path
) -> None:
    from tests.ml.conftest import tiny_model
    from tradetui.config import Settings
    from tradetui.core.clock import VirtualClock
    from tradetui.engine.runner import run_virtual
    from tradetui.tui.widgets.strategy import StrategyPane

    # A 100 % hit rate is out of reach: the live check must report drift once 20 are scored.
    settings = Settings().replace(
        "ml",
        enabled=True,
        model=str(tiny_model(tmp_path / "m")),
        drift_min_hit_rate=1.0,
        drift_min_predictions=20,
        monitor_window=50,
    )
    host = make_host(seconds=1, settings=settings)
    app = app_for(host, live=False)
    async with app.run_test(size=FULL) as pilot:
        clock = host.session.clock
        assert isinstance(clock, VirtualClock)
        assert isinstance(host.session, PaperSession)
        run_virtual(host.engine, host.session.venue, clock, clock.now_ns() + 60 * 10**9)
        app.refresh_view()
        await pilot.pause()
        drift = [ln for ln in app.log_handler.history if "ml model drifting" in ln.message]
        assert drift
        assert drift[0].levelno == logging.WARNING
        shown = app.query_one(StrategyPane).render_snapshot(take_snapshot(host.engine, 10))
        assert "DRIFT hit" in shown.plain


COMPACT = (80, 24)


async def test_search_typed_at_80x24_never_reaches_the_trading_keys(
    make_host: MakeHost, wait_for: WaitFor
) -> None:
    app = app_for(make_host(started=False), live=False)
    async with app.run_test(size=COMPACT) as pilot:
        await pilot.pause()
        assert app.engine.state is EngineState.STOPPED
        await pilot.press("slash", *"starts", "enter")
        await pilot.pause()
        assert app.engine.state is EngineState.STOPPED
        assert app.query_one(LogPane).needle == "starts"


async def test_search_typed_at_80x24_never_stops_a_running_engine(
    make_host: MakeHost, wait_for: WaitFor
) -> None:
    app = app_for(make_host(seconds=20))
    async with app.run_test(size=COMPACT) as pilot:
        assert app.engine.state is EngineState.RUNNING
        await pilot.press("slash", *"exit", "escape")
        await pilot.pause()
        assert app.engine.state is EngineState.RUNNING
        assert app.engine.orders


async def test_help_and_quit_keys_show_in_the_footer_at_80x24(
    make_host: MakeHost, wait_for: WaitFor
) -> None:
    app = app_for(make_host(started=False), live=False)
    async with app.run_test(size=COMPACT) as pilot:
        footer = app.query_one(Footer)
        assert await wait_for(pilot, lambda: bool(footer.query(FooterKey)))
        await pilot.pause()
        shown = [
            k.key
            for k in footer.query(FooterKey)
            if k.region.area > 0 and k.region.right <= COMPACT[0]
        ]
        assert "question_mark" in shown
        assert "q" in shown


async def test_parameter_editor_buttons_are_reachable_at_80x24(make_host: MakeHost) -> None:
    app = app_for(make_host(started=False), live=False)
    async with app.run_test(size=COMPACT) as pilot:
        await pilot.press("p")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ParamsScreen)
        for button in ("#apply", "#cancel"):
            region = screen.query_one(button).region
            assert region.area > 0, button
            assert region.right <= COMPACT[0], button
            assert region.bottom <= COMPACT[1], button


async def test_a_fill_shows_in_the_fills_pane_and_the_log_at_the_next_repaint(
    make_host: MakeHost, wait_for: WaitFor
) -> None:
    app = app_for(make_host(seconds=20))
    async with app.run_test(size=FULL) as pilot:
        assert await wait_for(pilot, lambda: app.fills_seen > 0)
        app.refresh_view()
        first = app.fills[0]
        pane_text = str(app.query_one("#fills", Static).render())
        price = f"{first.fill.price_ticks * app.engine.instrument.tick:,.1f}"
        assert price in pane_text
        assert "no fills yet" not in pane_text
        logged = [ln.message for ln in app.log_handler.history if ln.message.startswith("fill ")]
        assert logged
        assert price in logged[0]
        assert ("BUY" if first.fill.side > 0 else "SELL") in logged[0]


async def test_h_lists_the_session_fills_at_80x24(make_host: MakeHost, wait_for: WaitFor) -> None:
    app = app_for(make_host(seconds=20))
    async with app.run_test(size=COMPACT) as pilot:
        assert await wait_for(pilot, lambda: app.fills_seen > 0)
        await pilot.press("h")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, FillsScreen)
        title = str(screen.query_one("#dialog-title", Label).render())
        shown = int(title.removeprefix("Fills this session: ").split()[0])
        assert 0 < shown <= app.fills_seen
        await pilot.press("escape")
        assert not isinstance(app.screen, FillsScreen)


async def test_q_with_an_open_position_says_it_stays_open(
    make_host: MakeHost, wait_for: WaitFor
) -> None:
    app = app_for(make_host(started=False), live=False)
    async with app.run_test(size=FULL) as pilot:
        app.engine.ledger.adopt(3, 618_000)  # stopped, holding 0.003 BTC
        await pilot.press("q")
        assert await wait_for(pilot, lambda: isinstance(top(app), ConfirmScreen))
        body = str(app.screen.query_one("#dialog-body", Label).render())
        assert "position (+0.003 BTC) stays open" in body
        assert "press f first" in body
        await pilot.press("n")
        assert app.is_running


async def test_x_with_an_open_position_says_it_stays_open(
    make_host: MakeHost, wait_for: WaitFor
) -> None:
    app = app_for(make_host(started=False), live=False)
    async with app.run_test(size=FULL) as pilot:
        app.engine.ledger.adopt(-2, 618_000)
        await pilot.press("x")
        await pilot.pause()
        assert any("(-0.002 BTC) stays open" in n.message for n in app._notifications)


async def test_command_palette_lists_keys_once(make_host: MakeHost) -> None:
    app = app_for(make_host(started=False), live=False)
    async with app.run_test(size=FULL):
        titles = [c.title for c in app.get_system_commands(app.screen)]
    assert titles.count("Keys") == 1
    assert len(titles) == len(set(titles))


async def test_parameter_editor_opens_on_a_field_and_says_when_nothing_changed(
    make_host: MakeHost, wait_for: WaitFor
) -> None:
    app = app_for(make_host(seconds=5))  # running: the symbol is locked, so gamma comes first
    async with app.run_test(size=FULL) as pilot:
        screen = await open_params(pilot, app, wait_for)
        focused = app.focused
        assert isinstance(focused, Input)
        assert not focused.disabled
        assert focused.id == "param-strategy-gamma"
        await pilot.press("ctrl+s")
        assert await wait_for(pilot, lambda: not isinstance(top(app), ParamsScreen))
        assert await wait_for(
            pilot, lambda: any("unchanged" in n.message for n in app._notifications)
        )
        screen = await open_params(pilot, app, wait_for)
        await pilot.press("end", "backspace", "backspace", "backspace", "backspace", *"0.05")
        assert screen.query_one("#param-strategy-gamma", Input).value == "0.05"
        await pilot.press("ctrl+s")
        assert await wait_for(pilot, lambda: app.engine.settings.strategy.gamma == 0.05)


async def test_chart_shows_equity_past_ten_and_no_block_for_one_sample(
    make_host: MakeHost, wait_for: WaitFor
) -> None:
    app = app_for(make_host(seconds=20))
    async with app.run_test(size=FULL) as pilot:
        chart = app.query_one(SessionChart)
        assert await wait_for(pilot, lambda: len(chart.equity) == 1)
        # One sample would paint a solid block the chart's height; it draws a baseline.
        assert chart.query_one("#equity-chart", Sparkline).data == []
        label = chart.query_one(".chart-label", Label)
        label.update("equity -12.3456", layout=False)
        await pilot.pause()
        assert label.size.width >= len("equity -12.3456")
