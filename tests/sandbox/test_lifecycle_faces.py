"""The console and a headless run share one session lifecycle (tradetui/lifecycle.py): when
the engine cannot wind down a live session, both cancel our leftover orders at the exchange
directly, and both say so."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import pytest

from tests.sandbox.conftest import ManualFeed
from tests.sandbox.live_harness import ENV, WAIT_S, keep_market_moving, live_settings
from tradetui.engine.engine import Engine
from tradetui.engine.live import EngineFailedError
from tradetui.lifecycle import HeadlessFace, Lifecycle, RunPlan
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.tui.app import ConsoleFace, TradeApp

CRASH_LINE = "trading stopped on an error; no order of ours is left open at the venue"


class CancelFailedError(Exception):
    """The engine cannot send a cancel: it can neither stop nor pull a quote."""


def engine_cannot_cancel(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on every cancel the engine tries fails (a crash in the middle of trading)."""

    def cancel(self: Engine, now: int, client_id: str, reason: str) -> None:
        raise CancelFailedError(f"cancel of {client_id} ({reason})")

    monkeypatch.setattr(Engine, "_cancel", cancel)


async def until(check: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    async def poll() -> None:
        while not check():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout_s)


@contextlib.asynccontextmanager
async def moving(feed: ManualFeed, sandbox: SandboxExchange) -> AsyncIterator[None]:
    mover = asyncio.create_task(keep_market_moving(feed, sandbox))
    try:
        yield
    finally:
        mover.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await mover


class QuitWhenQuoting(ConsoleFace):
    """The console driven by Textual's pilot: s; once both quotes rest at the exchange the
    engine breaks, then q and y."""

    def __init__(self, sandbox: SandboxExchange, monkeypatch: pytest.MonkeyPatch) -> None:
        super().__init__()
        self.sandbox = sandbox
        self.monkeypatch = monkeypatch
        self.resting = 0

    async def show(self, app: TradeApp) -> None:
        async with app.run_test(size=(120, 35)) as pilot:
            await until(lambda: app.engine.book.valid)
            await pilot.press("s")
            await until(lambda: len(self.sandbox.account.open_orders) == 2)
            self.resting = len(self.sandbox.account.open_orders)
            engine_cannot_cancel(self.monkeypatch)
            await pilot.press("q")
            await pilot.pause()
            await pilot.press("y")
            await until(lambda: not app.is_running)


async def test_console_cancels_leftover_orders_when_the_engine_cannot_wind_down(
    live_sandbox: SandboxExchange,
    feed: ManualFeed,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    face = QuitWhenQuoting(live_sandbox, monkeypatch)
    lifecycle = Lifecycle(live_settings(live_sandbox), RunPlan(), ENV)
    with caplog.at_level(logging.ERROR, "tradetui"):
        async with moving(feed, live_sandbox):
            with pytest.raises(CancelFailedError):
                await lifecycle.run(face)

    assert face.resting == 2
    assert live_sandbox.account.open_orders == []
    assert CRASH_LINE in caplog.text


async def test_headless_run_cancels_leftover_orders_when_the_engine_cannot_wind_down(
    live_sandbox: SandboxExchange,
    feed: ManualFeed,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    lifecycle = Lifecycle(live_settings(live_sandbox), RunPlan(), ENV)
    resting: list[int] = []

    async def watch() -> None:
        await until(lambda: len(live_sandbox.account.open_orders) == 2)
        resting.append(len(live_sandbox.account.open_orders))
        engine_cannot_cancel(monkeypatch)

    with caplog.at_level(logging.ERROR, "tradetui"):
        async with moving(feed, live_sandbox):
            watcher = asyncio.create_task(watch())
            # A cancel on a market event fails inside the driver, which then stops the run.
            with pytest.raises((CancelFailedError, EngineFailedError)):
                await lifecycle.run(HeadlessFace(duration_s=3.0))
            await watcher

    assert resting == [2]
    assert live_sandbox.account.open_orders == []
    assert CRASH_LINE in caplog.text
