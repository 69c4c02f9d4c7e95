"""The console names its market source, and says so when a replay reaches its end."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from tests.market.test_replay_feed import capture
from tradetui.config import Settings
from tradetui.engine.events import EngineState
from tradetui.host import EngineHost
from tradetui.tui.app import make_app
from tradetui.tui.widgets.status import StatusBar

MakeHost = Callable[..., EngineHost]
WaitFor = Callable[[Pilot[None], Callable[[], bool]], Awaitable[bool]]
FULL = (120, 35)
pytestmark = pytest.mark.usefixtures("simulated_catalogs")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return capture(tmp_path_factory.mktemp("capture"), 30)


def status_text(app: object) -> str:
    bar = app.query_one(StatusBar)  # type: ignore[attr-defined]
    return str(bar.render())


async def test_the_status_bar_names_the_synthetic_market(make_host: MakeHost) -> None:
    app = make_app(make_host(), live=False)
    async with app.run_test(size=FULL) as pilot:
        await pilot.pause()
        assert " synthetic│BTCUSDT│" in status_text(app)


@pytest.mark.parametrize("end", ["stop", "flatten"])
async def test_a_replay_reaching_its_end_shows_a_banner_and_stops(
    make_host: MakeHost, wait_for: WaitFor, recorded: Path, end: str
) -> None:
    settings = Settings().replace("market", source=f"replay:{recorded}", replay_end=end)
    app = make_app(make_host(settings=settings, speed=None))
    async with app.run_test(size=FULL) as pilot:
        assert f" replay {recorded.name}│" in status_text(app)
        banner = app.query_one("#market-ended", Static)
        assert not banner.display
        assert await wait_for(pilot, lambda: banner.display)
        assert await wait_for(pilot, lambda: app.engine.state is EngineState.STOPPED)
        assert "MARKET ENDED" in str(banner.render())
        assert "reached its end" in str(banner.render())
        assert f" replay {recorded.name} ENDED│" in status_text(app)
        assert not app.engine.orders
        if end == "flatten":
            assert app.engine.ledger.position_lots == 0
        else:
            assert app.engine.ledger.position_lots != 0
        # s cannot restart quoting on a market that is gone; the refusal is shown.
        await pilot.press("s")
        assert await wait_for(pilot, lambda: bool(app.refusals))
        assert "has ended" in app.refusals[0]
        assert app.engine.state is EngineState.STOPPED
