"""A loopback Bot API, and a paper engine with Telegram attached through the real PTB client."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from tradetui.alerts.telegram import TelegramService
from tradetui.config import Settings, TelegramSettings
from tradetui.engine.engine import Command, CommandKind
from tradetui.engine.events import EngineState
from tradetui.host import EngineHost
from tradetui.sandbox.telegram import SandboxBotApi
from tradetui.session import build_paper_session

TOKEN = "4242:tg-test-token-SECRET-abcdef"
TRADER = 1001
VIEWER = 1002
STRANGER = 666


@pytest.fixture
async def api() -> AsyncIterator[SandboxBotApi]:
    async with SandboxBotApi(TOKEN) as server:
        yield server


@dataclass
class Rig:
    api: SandboxBotApi
    host: EngineHost
    service: TelegramService
    task: asyncio.Task[None]
    done: dict[str, bool]

    async def ask(self, chat: int, text: str, expect: str, timeout_s: float = 5.0) -> str:
        """Send ``text`` from ``chat``; the first new reply containing ``expect``."""
        before = len(self.api.sent_to(chat))
        self.api.inject_message(chat, text)
        m = await self.api.wait_for_message(chat, expect, timeout_s, after=before)
        assert m is not None, f"no reply containing {expect!r} to {text!r}: " + repr(
            [x.text for x in self.api.sent_to(chat)[before:]]
        )
        return m.text

    async def wait_state(self, *states: EngineState, timeout_s: float = 5.0) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        while self.host.engine.state not in states:
            assert loop.time() < end, f"engine is {self.host.engine.state}, wanted {states}"
            await asyncio.sleep(0.02)


def telegram_settings(base_url: str, **overrides: object) -> Settings:
    t = TelegramSettings(
        enabled=True,
        api_base_url=base_url,
        chats=f"{TRADER}:trader, {VIEWER}:viewer",
        **overrides,  # type: ignore[arg-type]
    )
    return dataclasses.replace(Settings(), telegram=t)


async def start_rig(api: SandboxBotApi, settings: Settings, speed: float | None = 5.0) -> Rig:
    session = build_paper_session(settings, virtual=True)
    host = EngineHost(session, speed)
    service = TelegramService(host, settings, TOKEN, poll_timeout_s=1.0)
    await service.start()
    done = {"v": False}
    task = asyncio.create_task(host.run(lambda: done["v"]))
    host.send(Command(CommandKind.START, reason="test"))
    await asyncio.wait_for(service.ready.wait(), 10)
    # Faults set by a test must meet the test's own messages, not the start alert in flight.
    assert await api.wait_for_message(VIEWER, "STARTED", timeout_s=10) is not None
    return Rig(api, host, service, task, done)


async def stop_rig(rig: Rig) -> None:
    rig.done["v"] = True
    rig.host.send(Command(CommandKind.STOP, reason="test end"))
    await asyncio.wait_for(rig.task, 10)
    await rig.service.stop(drain_s=1.0)


@pytest.fixture
async def rig(api: SandboxBotApi) -> AsyncIterator[Rig]:
    r = await start_rig(api, telegram_settings(api.base_url))
    await r.wait_state(EngineState.RUNNING)
    try:
        yield r
    finally:
        await stop_rig(r)
