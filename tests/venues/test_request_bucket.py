"""The REST request pacing: bursts go at once, the sustained rate is ccxt's, idle time counts."""

from __future__ import annotations

import asyncio
import time

import pytest

from tradetui.venues.clients import RequestBucket, make_client


class _Time:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time(monkeypatch: pytest.MonkeyPatch) -> _Time:
    t = _Time()
    monkeypatch.setattr(time, "monotonic", t.monotonic)
    monkeypatch.setattr(asyncio, "sleep", t.sleep)
    return t


async def test_a_burst_within_the_budget_goes_at_once(fake_time: _Time) -> None:
    bucket = RequestBucket(rate_limit_ms=50, burst_ms=2000)  # 40 tokens, 20 a second
    for _ in range(10):
        await bucket(4)  # ten Binance USD-M orders
    assert fake_time.slept == []


async def test_past_the_burst_requests_wait_for_their_cost_in_refill(fake_time: _Time) -> None:
    bucket = RequestBucket(rate_limit_ms=50, burst_ms=2000)
    for _ in range(10):
        await bucket(4)
    await bucket(4)
    await bucket(4)
    assert fake_time.slept == pytest.approx([0.2, 0.2])


async def test_idle_time_refills_the_bucket_up_to_the_burst(fake_time: _Time) -> None:
    bucket = RequestBucket(rate_limit_ms=50, burst_ms=2000)
    for _ in range(10):
        await bucket(4)
    fake_time.now += 1.0  # 20 tokens back: five orders
    for _ in range(5):
        await bucket(4)
    assert fake_time.slept == []
    await bucket(4)
    assert fake_time.slept == pytest.approx([0.2])
    fake_time.now += 3600.0  # a long quiet spell refills no more than the burst
    for _ in range(10):
        await bucket(4)
    await bucket(1)
    assert fake_time.slept == pytest.approx([0.2, 0.05])


def test_clients_pace_requests_with_the_bucket_only_when_rate_limited() -> None:
    paced = make_client("binanceusdm", rest_url="http://127.0.0.1:1")
    assert isinstance(paced.throttler, RequestBucket)
    unpaced = make_client("binanceusdm", rest_url="http://127.0.0.1:1", rate_limit=False)
    assert not isinstance(unpaced.throttler, RequestBucket)
    assert unpaced.enableRateLimit is False
