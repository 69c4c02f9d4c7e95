"""Shared builders for the console tests: seeded virtual sessions, paused or live."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
import textual.app
import textual.pilot
from textual.pilot import Pilot

from tradetui.config import Settings
from tradetui.core.clock import VirtualClock
from tradetui.engine.engine import Command, CommandKind
from tradetui.engine.runner import run_virtual
from tradetui.host import EngineHost
from tradetui.session import build_paper_session

SEED = 3
S = 1_000_000_000
# Market speed of live Pilot tests: fast enough for fills within a second of wall time.
LIVE_SPEED = 2.0

HostFactory = Callable[..., EngineHost]
WaitFor = Callable[[Pilot[None], Callable[[], bool]], Awaitable[bool]]


def _host(
    seconds: float = 0,
    speed: float | None = LIVE_SPEED,
    started: bool = True,
    settings: Settings | None = None,
) -> EngineHost:
    """A seeded paper session run for ``seconds`` of market time on the virtual clock."""
    session = build_paper_session(settings or Settings(), seed=SEED, virtual=True)
    clock = session.clock
    assert isinstance(clock, VirtualClock)
    if started:
        session.engine.control(Command(CommandKind.START, reason="test"))
    if seconds:
        run_virtual(session.engine, session.venue, clock, session.start_ns + int(seconds * S))
    return EngineHost(session, speed)


async def _brief_idle(min_sleep: float = 0.0, max_sleep: float = 1.0) -> None:
    await asyncio.sleep(0.01)


@pytest.fixture(autouse=True)
def _no_idle_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pilot waits for the process to go idle after each key, which never happens while the
    engine trades; tests wait for the outcome they assert instead (``wait_for``)."""
    monkeypatch.setattr(textual.pilot, "wait_for_idle", _brief_idle)
    monkeypatch.setattr(textual.app, "wait_for_idle", _brief_idle)


@pytest.fixture
def make_host() -> HostFactory:
    return _host


async def _wait_for(pilot: Pilot[None], condition: Callable[[], bool]) -> bool:
    """Let the app and engine run until ``condition()`` holds (bounded; not a timing test)."""
    for _ in range(400):
        if condition():
            return True
        await pilot.pause(0.01)
    return condition()


@pytest.fixture
def wait_for() -> WaitFor:
    return _wait_for
