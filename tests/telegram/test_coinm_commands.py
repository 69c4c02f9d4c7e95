"""The chat commands on a COIN-M paper session (synthetic:coinm:BTCUSD_PERP), through the real
python-telegram-bot client and the sandbox Bot API: every answer names the contract traded,
sizes in contracts and money in BTC (with USD where it says so)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from tests.telegram.conftest import TRADER, VIEWER, Rig, start_rig, stop_rig, telegram_settings
from tradetui.engine.events import EngineState
from tradetui.sandbox.telegram import SandboxBotApi


@pytest.fixture
async def coinm_rig(api: SandboxBotApi) -> AsyncIterator[Rig]:
    settings = telegram_settings(api.base_url).replace(
        "market", source="synthetic:coinm:BTCUSD_PERP"
    )
    r = await start_rig(api, settings)
    await r.wait_state(EngineState.RUNNING)
    try:
        yield r
    finally:
        await stop_rig(r)


async def test_coinm_answers_name_contracts_btc_and_the_symbol(coinm_rig: Rig) -> None:
    status = await coinm_rig.ask(VIEWER, "/status", "risk")
    assert status.startswith("BTCUSD_PERP on ")
    assert re.search(r"\nposition [+-]?\d+ contracts \(", status)
    assert re.search(r"PnL [+-][0-9,]+\.\d{8} BTC\n", status)
    position = await coinm_rig.ask(VIEWER, "/position", "entry")
    assert re.match(r"position [+-]?\d+ contracts\n", position)
    pnl = await coinm_rig.ask(VIEWER, "/pnl", "PnL total")
    assert re.match(r"PnL total [+-][0-9,]+\.\d{8} BTC \([+-][0-9,]+\.\d\d USD at ", pnl)
    orders = await coinm_rig.ask(VIEWER, "/orders", "working order")
    assert " contracts @ " in orders
    params = await coinm_rig.ask(VIEWER, "/params", "strategy.gamma")
    assert params.splitlines()[0].startswith("venue.symbol = BTCUSD_PERP")
    assert "strategy.order_contracts = 1.0" in params
    refused = await coinm_rig.ask(TRADER, "/set order_size=0.05", "order_contracts")
    assert "❌" in refused
    assert coinm_rig.host.engine.settings.strategy.order_size == 0.01
    flatten = await coinm_rig.ask(TRADER, "/flatten", "Flatten the position")
    assert re.match(r"Flatten the position \([+-]?\d+ contracts\)\?", flatten)
