"""Telegram over a several-market run: /status lists every market, /status SYMBOL one, and a
command acts on every market (real python-telegram-bot client against the sandbox Bot API)."""

from __future__ import annotations

import asyncio
import dataclasses

from tests.multi.book import SYMBOLS, book_settings
from tests.telegram.conftest import TOKEN, TRADER, VIEWER, api, telegram_settings
from tradetui.alerts.telegram import TelegramService
from tradetui.engine.engine import Command, CommandKind
from tradetui.engine.events import EngineState
from tradetui.host import BookHost
from tradetui.sandbox.telegram import SandboxBotApi
from tradetui.session import build_book_session

__all__ = ["api"]  # the sandbox Bot API fixture


async def _ask(api: SandboxBotApi, chat: int, text: str, expect: str) -> str:
    before = len(api.sent_to(chat))
    api.inject_message(chat, text)
    m = await api.wait_for_message(chat, expect, 10.0, after=before)
    assert m is not None, f"no reply containing {expect!r} to {text!r}"
    return m.text


async def test_status_of_one_market_or_all_and_stop_for_all(api: SandboxBotApi) -> None:
    telegram = telegram_settings(api.base_url).telegram
    settings = dataclasses.replace(book_settings(), telegram=telegram)
    host = BookHost(build_book_session(settings, virtual=True), speed=5.0)
    first = host.hosts[0]
    service = TelegramService(first, first.engine.settings, TOKEN, poll_timeout_s=1.0)
    service.commands.book = host
    await service.start()
    done = asyncio.Event()
    task = asyncio.create_task(host.run(done.is_set))
    host.send(Command(CommandKind.START, reason="test"))
    try:
        await asyncio.wait_for(service.ready.wait(), 10)
        every = await _ask(api, VIEWER, "/status", "BTCUSD_PERP on sim")
        assert all(f"{symbol} on sim" in every for symbol in SYMBOLS)
        one = await _ask(api, VIEWER, "/status ETHUSDT", "ETHUSDT on sim")
        assert "BTCUSDT on sim" not in one
        missing = await _ask(api, VIEWER, "/status SOLUSDT", "no market")
        assert "BTCUSDT, ETHUSDT, BTCUSD_PERP" in missing
        await _ask(api, TRADER, "/stop", "stop")
        for _ in range(200):
            if all(h.engine.state is EngineState.STOPPED for h in host.hosts):
                break
            await asyncio.sleep(0.05)
        assert [h.engine.state for h in host.hosts] == [EngineState.STOPPED] * 3
    finally:
        done.set()
        await asyncio.wait_for(task, 10)
        await service.stop(drain_s=1.0)
