"""The engine trading live against the sandbox: real ccxt + ccxt.pro clients and the real
Binance feed on loopback — start, quote, fill by the user stream, stop, flatten."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from tests.sandbox.conftest import KEY, SECRET, ManualFeed
from tests.sandbox.live_harness import live_settings, running_live
from tradetui.core.types import Side
from tradetui.engine.engine import CommandKind
from tradetui.engine.events import EngineState, FillRecorded
from tradetui.sandbox.exchange import SandboxExchange

_SIGNATURE = re.compile(r"signature=[0-9a-f]{64}")


async def test_live_session_starts_quotes_fills_stops_and_flattens(
    live_sandbox: SandboxExchange,
    feed: ManualFeed,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    # The REST reconciliation timer set far out: the fill below must come on the user stream.
    settings = live_settings(
        live_sandbox,
        record={"enabled": True, "dir": str(tmp_path)},
        venue={"fill_reconcile_s": 600.0},
    )
    async with running_live(live_sandbox, feed, settings) as live:
        engine = live.engine
        await live.until(lambda: engine.book.valid)
        ok, _ = await live.command(CommandKind.START, reason="test")
        assert ok
        await live.until(lambda: len(live.quotes()) == 2)
        resting = {o.client_id for o in live_sandbox.account.open_orders}
        assert resting == set(engine.orders)
        assert all(cid.startswith("tt") for cid in resting)

        # A print through our bid fills it; the fill comes back on the user stream.
        bid = live.quotes()[int(Side.BUY)]
        feed.trade(bid - 1, 5_000, Side.SELL)
        live_sandbox.advance()
        await live.until(lambda: engine.ledger.position_lots > 0)
        assert ("GET", "/fapi/v1/userTrades") not in live_sandbox.requests
        filled = live.of(FillRecorded)
        assert filled[0].fill.client_id not in engine.orders

        await live.command(CommandKind.STOP, reason="test stop")
        await live.until(lambda: engine.state is EngineState.STOPPED)
        assert live_sandbox.account.open_orders == []

        await live.command(CommandKind.FLATTEN, reason="test flatten")
        await live.until(
            lambda: engine.state is EngineState.STOPPED and engine.ledger.position_lots == 0
        )
        assert live_sandbox.account.ledger.position_lots == 0

    # The market traded on was recorded through the feed's raw-message hook.
    assert [p.name.startswith("binanceusdm_btcusdt") for p in tmp_path.iterdir()] == [True]
    text = caplog.text
    assert "signature=<redacted>" in text  # ccxt's signed-request log was captured
    assert '"listenKey": "<redacted>"' in text  # the answer that carries it
    assert "venue position" not in text  # the venue and the engine agreed all along
    assert KEY not in text
    assert SECRET not in text
    assert not _SIGNATURE.search(text)
    listen_key = live_sandbox._listen_key
    assert listen_key
    assert listen_key not in text
