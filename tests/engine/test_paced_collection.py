"""The paper runners' garbage-collection policy (as LiveDriver's): no collection begins while an
engine handles an event or a timer (its pause would be timed as decision latency); the garbage
is still collected, between events; automatic collection is back once the run ends."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from tradetui.config import Settings
from tradetui.engine.engine import Command, CommandKind
from tradetui.host import BookHost, EngineHost, Host
from tradetui.session import build_paper_session


class Cycle:
    me: Any = None


@pytest.mark.parametrize("book", [False, True], ids=["run_paced", "run_book_paced"])
async def test_no_collection_begins_inside_an_engine_handler(book: bool) -> None:
    host = EngineHost(build_paper_session(Settings(), seed=1, virtual=True), None)
    engine = host.engine
    inside = [False]
    began = {"inside": 0, "between": 0}
    handle = engine.on_event

    def littering(ev: Any) -> None:
        inside[0] = True
        try:
            for _ in range(50):  # cyclic garbage: only the collector frees it
                c = Cycle()
                c.me = c
            handle(ev)
        finally:
            inside[0] = False

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began["inside" if inside[0] else "between"] += 1

    engine.on_event = littering  # type: ignore[method-assign]
    runner: Host = BookHost.of(host) if book else host
    runner.apply_now(Command(CommandKind.START, reason="test"))
    end = runner.now_ns() + 20 * 1_000_000_000
    gc.callbacks.append(watch)
    try:
        await runner.run(lambda: runner.now_ns() >= end)
    finally:
        gc.callbacks.remove(watch)

    assert engine.market_events > 1000
    assert began["inside"] == 0
    assert began["between"] > 0
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
