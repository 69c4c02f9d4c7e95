"""Telegram over a several-market run: /status lists every market, /status SYMBOL one, a
command acts on every market, every market's alerts name it and a confirmation shows each
market's position (real python-telegram-bot client against the sandbox Bot API)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator

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


@contextlib.asynccontextmanager
async def quoting_book(api: SandboxBotApi) -> AsyncIterator[BookHost]:
    """The three-market book quoting at 5× with Telegram for every market, connected."""
    telegram = telegram_settings(api.base_url).telegram
    settings = dataclasses.replace(book_settings(), telegram=telegram)
    host = BookHost(build_book_session(settings, virtual=True), speed=5.0)
    first = host.hosts[0]
    service = TelegramService(first, first.engine.settings, TOKEN, poll_timeout_s=1.0, book=host)
    await service.start()
    done = asyncio.Event()
    task = asyncio.create_task(host.run(done.is_set))
    host.send(Command(CommandKind.START, reason="test"))
    try:
        await asyncio.wait_for(service.ready.wait(), 10)
        yield host
    finally:
        done.set()
        await asyncio.wait_for(task, 10)
        await service.stop(drain_s=1.0)


async def test_status_of_one_market_or_all_and_stop_for_all(api: SandboxBotApi) -> None:
    async with quoting_book(api) as host:
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


async def test_every_markets_alerts_name_it_and_flatten_shows_and_acts_on_each(
    api: SandboxBotApi,
) -> None:
    async with quoting_book(api) as host:
        # Each market's start is its own alert, naming the market.
        for name in ("usdm:BTCUSDT", "usdm:ETHUSDT", "coinm:BTCUSD_PERP"):
            started = await api.wait_for_message(VIEWER, f"STARTED · PAPER · {name}", 10.0)
            assert started is not None, [m.text for m in api.sent_to(VIEWER)]
        # A halt of the second market alone: its alert names it, not the first market.
        host.send(Command(CommandKind.HALT, reason="test halt"), "ETHUSDT")
        halted = await api.wait_for_message(VIEWER, "HALTED · PAPER · usdm:ETHUSDT", 10.0)
        assert halted is not None, [m.text for m in api.sent_to(VIEWER)]
        assert "test halt" in halted.text
        assert await api.wait_for_message(VIEWER, "HALTED · PAPER · usdm:BTCUSDT", 0.5) is None
        # /position and the /flatten question show every market; the button flattens all.
        positions = await _ask(api, VIEWER, "/position", "BTCUSD_PERP on sim")
        assert all(f"{symbol} on sim" in positions for symbol in SYMBOLS)
        await _ask(api, TRADER, "/flatten", "Flatten every market's position")
        question = api.sent_to(TRADER)[-1]
        assert all(f"{symbol} " in question.text for symbol in SYMBOLS), question.text
        api.inject_callback(TRADER, question.message_id, question.buttons[0][1])
        assert await api.wait_until(lambda: "flatten:" in question.text)
        for _ in range(200):
            if all(h.engine.state is not EngineState.RUNNING for h in host.hosts):
                break
            await asyncio.sleep(0.05)
        # Every market flattened, the halted one too (a flatten is allowed from a halt).
        assert [h.engine.state for h in host.hosts] == [EngineState.STOPPED] * 3
        for name in ("usdm:BTCUSDT", "usdm:ETHUSDT", "coinm:BTCUSD_PERP"):
            flat = await api.wait_for_message(TRADER, f"FLATTEN FLAT · PAPER · {name}", 10.0)
            assert flat is not None, [m.text for m in api.sent_to(TRADER)]
