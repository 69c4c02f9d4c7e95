"""LiveDriver's garbage-collection policy: no automatic collection while it runs, young garbage
still collected, and a decision's collection only after its orders' requests started."""

from __future__ import annotations

import asyncio
import gc
import weakref
from typing import Any

import pytest

from tests.instruments import btcusdt_perpetual
from tradetui.config import Settings
from tradetui.core.clock import WallClock
from tradetui.core.types import (
    AccountSnapshot,
    BookSnapshot,
    OrderIntent,
    PlaceOrder,
    RequestAccount,
)
from tradetui.engine import live
from tradetui.engine.engine import Command, CommandKind
from tradetui.engine.events import EngineState
from tradetui.engine.live import LiveDriver
from tradetui.engine.parts import build_engine

BID, ASK = 617_000, 617_010


class TaskVenue:
    """Starts a task per intent, as LiveVenue does, and notes when each task first runs."""

    name = "tasks"
    clock_offset_ns = 0

    def __init__(self, log: list[str]) -> None:
        self.instrument = btcusdt_perpetual()
        self.log = log
        self.tasks: list[asyncio.Task[None]] = []

    def submit(self, intent: OrderIntent) -> None:
        async def send() -> None:
            self.log.append("place" if isinstance(intent, PlaceOrder) else "other")

        if not isinstance(intent, RequestAccount):
            self.tasks.append(asyncio.create_task(send()))


def running_driver(log: list[str]) -> LiveDriver:
    settings = Settings().replace("risk", stale_market_s=0.0, stale_account_s=0.0)
    clock = WallClock()
    engine = build_engine(settings, btcusdt_perpetual(), TaskVenue(log), clock)
    driver = LiveDriver(engine, clock)
    engine.control(Command(CommandKind.START))
    now = clock.now_ns()
    driver.on_event(AccountSnapshot(exch_ns=now, local_ns=now, position_lots=0, open_orders=()))
    assert engine.state is EngineState.RUNNING
    return driver


async def test_automatic_collection_is_off_while_the_driver_runs_and_back_after() -> None:
    driver = running_driver([])
    stop = asyncio.Event()
    assert gc.isenabled()

    task = asyncio.create_task(driver.run(asyncio.Queue(), stop.is_set))
    await asyncio.sleep(0.02)
    during = (gc.isenabled(), gc.get_freeze_count() > 0)
    stop.set()
    await task

    assert during == (False, True)
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


async def test_cyclic_garbage_is_still_collected_while_the_driver_runs() -> None:
    driver = running_driver([])
    stop = asyncio.Event()
    task = asyncio.create_task(driver.run(asyncio.Queue(), stop.is_set))
    await asyncio.sleep(0)

    class Node:
        me: Any = None

    node = Node()
    node.me = node  # a cycle: only the collector frees it
    gone = weakref.ref(node)
    del node
    # Young objects past the threshold (CPython counts those still alive).
    churn: list[list[int]] = [[] for _ in range(2 * gc.get_threshold()[0])]
    await asyncio.sleep(0.2)  # the driver wakes at least every 50 ms
    collected = gone() is None
    stop.set()
    await task
    del churn

    assert collected


async def test_a_decisions_collection_runs_after_its_orders_tasks_started(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log: list[str] = []

    def noted() -> int:
        log.append("collect")
        return -1

    monkeypatch.setattr(live, "collect_due", noted)
    driver = running_driver(log)
    engine = driver.engine
    await asyncio.sleep(0)
    log.clear()
    now = engine.clock.now_ns()

    driver.on_event(
        BookSnapshot(
            exch_ns=now,
            local_ns=now,
            update_id=1,
            bids=((BID, 2000),),
            asks=((ASK, 2000),),
        )
    )
    for _ in range(3):
        await asyncio.sleep(0)

    assert log == ["place", "place", "collect"]
