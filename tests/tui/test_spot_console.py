"""The console on spot ETHUSDT at 80x24: sizes read to the order step (0.0001 ETH), not to the
book's 1e-8 grid, so a quote's row fits the Quotes pane."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual.pilot import Pilot

from tradetui.config import Settings
from tradetui.host import EngineHost
from tradetui.tui.app import make_app
from tradetui.tui.widgets.position import PositionPane
from tradetui.tui.widgets.quotes import QuotesPane

MakeHost = Callable[..., EngineHost]
WaitFor = Callable[[Pilot[None], Callable[[], bool]], Awaitable[bool]]
SPOT = Settings().replace("market", source="synthetic:spot:ETHUSDT", start_price=2680.0)


async def test_spot_sizes_read_to_the_order_step_and_fit(
    make_host: MakeHost, wait_for: WaitFor
) -> None:
    app = make_app(make_host(seconds=60, settings=SPOT))
    async with app.run_test(size=(80, 24)) as pilot:
        quotes = app.query_one(QuotesPane)
        position = app.query_one(PositionPane)
        assert await wait_for(
            pilot, lambda: bool(app.snapshot and app.snapshot.quotes) and quotes._last is not None
        )
        assert quotes._last is not None
        assert position._last is not None
        rows = quotes._last.plain.splitlines()
        assert max(len(r) for r in rows) <= quotes.content_region.width, rows
        size = rows[1].split()[2]  # side, price, size, ...
        assert size == f"{float(size):.4f}", rows
        held = position._last.plain.splitlines()[0].split()[1]
        assert held == f"{float(held):.4f}"
