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


def _most_in_window(stamps: list[float], window_s: float, weights: list[float]) -> float:
    """The largest total weight of the stamps inside any window of ``window_s``."""
    best, start, total = 0.0, 0, 0.0
    for end, t in enumerate(stamps):
        total += weights[end]
        while t - stamps[start] >= window_s:
            total -= weights[start]
            start += 1
        best = max(best, total)
    return best


async def test_default_burst_keeps_binance_usdm_within_its_published_limits(
    fake_time: _Time,
) -> None:
    client = make_client("binanceusdm", rest_url="http://127.0.0.1:1")
    bucket = client.throttler  # ccxt's rate (50 ms a unit) and our default burst
    order_cost = client.api["fapiPrivate"]["post"]["order"]["cost"]
    stamps: list[float] = []
    while fake_time.now < 1000.0 + 120.0:  # orders back to back for two minutes, full bucket
        await bucket(order_cost)
        stamps.append(fake_time.now)
    orders = [1.0] * len(stamps)

    assert _most_in_window(stamps, 10.0, orders) <= 300  # orders per 10 s per account
    assert _most_in_window(stamps, 60.0, orders) <= 1200  # orders per minute per account
    # Request weight per minute per IP, counting every ccxt cost unit as weight.
    assert _most_in_window(stamps, 60.0, [float(order_cost)] * len(stamps)) <= 2400
    # The burst itself: this many orders go at once from a quiet start.
    assert stamps.count(1000.0) == 50
