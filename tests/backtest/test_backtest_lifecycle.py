"""A backtest is a session of the one lifecycle (tradetui.lifecycle) that headless runs and the
console go through: the same wind-down and the same summary, and nothing the backtest does not
ask for (Telegram, signal handlers) is opened."""

from __future__ import annotations

import asyncio
import itertools
import signal
from collections.abc import Callable
from typing import Any

import pytest

from tests.instruments import btcusdt_perpetual
from tradetui.backtest.run import run_backtest
from tradetui.config import Settings
from tradetui.core.types import MarketEvent
from tradetui.host import EngineHost
from tradetui.lifecycle import HeadlessFace, Lifecycle, RunPlan
from tradetui.market.synthetic import SyntheticMarket

INST = btcusdt_perpetual()
T0_NS = 1_700_000_000_000_000_000


def market(seconds: float) -> list[MarketEvent]:
    events = SyntheticMarket(INST, seed=3, start_ns=T0_NS).events()
    return list(itertools.takewhile(lambda e: e.exch_ns < T0_NS + seconds * 1e9, events))


def spy(monkeypatch: pytest.MonkeyPatch, name: str, calls: list[str]) -> None:
    """Count the calls of EngineHost.``name`` (the real method still runs)."""
    real: Callable[..., Any] = getattr(EngineHost, name)

    def counted(self: EngineHost, *args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(EngineHost, name, counted)


def test_backtest_and_headless_wind_down_and_sum_up_through_the_lifecycle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[str] = []
    spy(monkeypatch, "wind_down", calls)
    spy(monkeypatch, "summary", calls)

    result = run_backtest(Settings(), INST, market(60))
    assert calls == ["wind_down", "summary"]
    backtest = result.summary
    assert backtest["mode"] == "backtest"
    # The lifecycle's wind-down stopped the engine at the data's end, every quote cancelled.
    assert backtest["state"] == "stopped"
    assert not result.engine.orders
    assert backtest["duration_s"] == round((result.end_ns - result.start_ns) / 1e9, 3)
    assert backtest["fills"] == len(result.fills) > 0

    calls.clear()
    headless = Lifecycle(Settings(), RunPlan(seed=3, speed=None, signals=False)).run(
        HeadlessFace(duration_s=30.0)
    )
    summary = asyncio.run(headless)
    assert calls == ["wind_down", "summary"]
    assert summary["mode"] == "paper"
    # One summary: a backtest reports every figure a headless run does.
    assert set(summary) <= set(backtest)


def test_a_backtest_opens_no_telegram_and_leaves_the_signals_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_telegram(host: EngineHost) -> Any:
        raise AssertionError("a backtest opened Telegram")

    monkeypatch.setattr("tradetui.lifecycle.telegram_alongside", no_telegram)
    settings = Settings().replace("telegram", enabled=True)
    # A sweep's worker ignores Ctrl-C (the parent stops the pool): the run must keep that.
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        result = run_backtest(settings, INST, market(20))
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
    assert result.summary["state"] == "stopped"
