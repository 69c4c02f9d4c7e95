"""The console on a COIN-M contract as a person sees it at 80x24 and 120x35: coin amounts to
eight decimals fit their pane without wrapping, and the parameter dialog names the contract
traded, not the config's default symbol; the fills name their size unit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from tradetui.config import Settings
from tradetui.host import EngineHost
from tradetui.tui.app import make_app
from tradetui.tui.screens.fills import FillsScreen
from tradetui.tui.screens.params import ParamsScreen
from tradetui.tui.widgets.fills import FillsPane
from tradetui.tui.widgets.pnl import PnlPane

MakeHost = Callable[..., EngineHost]
WaitFor = Callable[[Pilot[None], Callable[[], bool]], Awaitable[bool]]
COINM = Settings().replace("market", source="synthetic:coinm:BTCUSD_PERP")


@pytest.mark.parametrize("size", [(80, 24), (120, 35)])
async def test_coin_pnl_pane_fits_without_wrapping(
    make_host: MakeHost, wait_for: WaitFor, size: tuple[int, int]
) -> None:
    app = make_app(make_host(seconds=30, settings=COINM))
    async with app.run_test(size=size) as pilot:
        pane = app.query_one(PnlPane)
        assert await wait_for(pilot, lambda: pane._last is not None and app.engine.fills > 0)
        assert pane._last is not None
        lines = pane._last.plain.splitlines()
        assert lines[-1].startswith("markout")
        width = pane.content_region.width
        # The money rows fit (the markout row's fill count may run past the edge at 80
        # columns, on any market); none wraps and pushes the markout row out of the pane.
        assert max(len(line) for line in lines[:-1]) <= width, (width, lines)
        assert pane.content_region.height >= len(lines)
        assert pane.border_title == "PnL (BTC)"


async def test_params_dialog_names_the_contract_traded(
    make_host: MakeHost, wait_for: WaitFor
) -> None:
    app = make_app(make_host(seconds=1, settings=COINM))
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.press("p")
        assert await wait_for(pilot, lambda: isinstance(app.screen, ParamsScreen))
        field = app.screen.query_one("#param-venue-symbol", Input)
        assert field.value == "BTCUSD_PERP"
        await pilot.press("ctrl+s")  # unchanged: applies nothing, refuses nothing
        assert await wait_for(pilot, lambda: not isinstance(app.screen, ParamsScreen))


async def test_fills_pane_and_screen_name_contracts(make_host: MakeHost, wait_for: WaitFor) -> None:
    app = make_app(make_host(seconds=30, settings=COINM))
    async with app.run_test(size=(120, 35)) as pilot:
        pane = app.query_one(FillsPane)
        assert await wait_for(pilot, lambda: pane._shown >= 0)
        header = str(pane.render()).splitlines()[0]
        assert header.split() == ["time", "side", "price", "contracts", "L", "fee", "position"]
        await pilot.press("h")
        assert await wait_for(pilot, lambda: isinstance(app.screen, FillsScreen))
        screen = app.screen
        assert isinstance(screen, FillsScreen)
        assert "contracts" in screen._text.plain.splitlines()[0]
