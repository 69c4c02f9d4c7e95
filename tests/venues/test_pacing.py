"""The pacer: limits read from exchangeInfo, counts from headers, waits by kind of request."""

from __future__ import annotations

import json

import pytest

from tradetui.venues.pacing import Kind, Pacer, limits_from, rate_limits

USDM = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
]
# A moment 30 s into a minute (and 0 s into a 10 s window): exchange time, s.
T = 1_700_000_010.0


def pacer(soft: float = 0.8) -> Pacer:
    return Pacer(limits_from(USDM), soft=soft)


def test_rate_limits_are_read_from_an_exchange_info_body() -> None:
    body = json.dumps({"timezone": "UTC", "rateLimits": USDM, "symbols": [{"filters": []}]})
    limits = limits_from(rate_limits(body))
    assert [(lim.header, lim.window_s, lim.limit) for lim in limits] == [
        ("x-mbx-used-weight-1m", 60, 2400),
        ("x-mbx-order-count-1m", 60, 1200),
        ("x-mbx-order-count-10s", 10, 300),
    ]
    assert rate_limits('{"symbols": []}') == []
    assert rate_limits('{"rateLimits": [oops]}') == []
    # Spot's RAW_REQUESTS and malformed entries are not ours to pace.
    odd = [{"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 1}]
    assert limits_from([*odd, {"rateLimitType": "ORDERS", "limit": "x"}]) == []


def test_below_the_soft_threshold_nothing_waits() -> None:
    p = pacer()
    p.observe({"X-MBX-USED-WEIGHT-1M": "1900", "x-mbx-order-count-10s": "239"}, T)
    for kind in Kind:
        assert p.delay(kind, T) == 0.0
    assert not p.engaged(T)


def test_above_it_reads_are_spread_over_what_is_left_of_the_window() -> None:
    p = pacer()
    p.observe({"x-mbx-used-weight-1m": "2000"}, T)  # 83% of 2400, 30 s left in the minute
    assert p.engaged(T)
    # Reads may use up to 95% (2280): 280 left over 30 s, one every 30/280 s; each read
    # scheduled is spaced from the one before.
    assert p.schedule(Kind.READ, T) == 0.0
    assert p.schedule(Kind.READ, T) == pytest.approx(30 / 280, rel=1e-6)
    assert p.schedule(Kind.READ, T) == pytest.approx(2 * 30 / 280, rel=1e-6)


def test_polls_yield_first_and_cancels_last() -> None:
    p = pacer()
    p.observe({"x-mbx-used-weight-1m": "2300"}, T)  # above 95%
    left = 30.0  # seconds to the minute's end
    assert p.delay(Kind.POLL, T) == pytest.approx(left)
    assert p.delay(Kind.READ, T) == pytest.approx(left)
    # A cancel still goes while a unit of weight is left ...
    assert p.delay(Kind.CANCEL, T) == 0.0
    # ... and waits only once the limit itself is reached.
    p.observe({"x-mbx-used-weight-1m": "2400"}, T)
    assert p.delay(Kind.CANCEL, T) == pytest.approx(left)
    # Between the soft threshold and 95% a poll waits for the next window, a read does not.
    q = pacer()
    q.observe({"x-mbx-used-weight-1m": "2000"}, T)
    assert q.delay(Kind.POLL, T) == pytest.approx(left)
    assert q.delay(Kind.READ, T) < 1.0


def test_placements_are_paced_by_the_order_limits_and_keep_weight_for_cancels() -> None:
    p = pacer()
    p.observe({"x-mbx-order-count-10s": "290"}, T)  # above 95% of 300
    assert p.delay(Kind.PLACE, T) == pytest.approx(10.0)  # the 10 s window's end
    # A reduce-only order reduces risk: it goes while one order is left.
    assert p.delay(Kind.REDUCE, T) == 0.0
    p.observe({"x-mbx-order-count-10s": "300"}, T)
    assert p.delay(Kind.REDUCE, T) == pytest.approx(10.0)
    # A new window starts from nothing.
    assert p.delay(Kind.PLACE, T + 10.0) == 0.0
    assert not p.engaged(T + 60.0)
    # A new order weighs nothing, but every resting order needs a cancel later: placements
    # stop at 95% of the weight, the rest is the cancels'.
    q = pacer()
    q.observe({"x-mbx-used-weight-1m": "2290"}, T)
    assert q.delay(Kind.PLACE, T) == pytest.approx(30.0)
    assert q.delay(Kind.REDUCE, T) == 0.0
    assert q.delay(Kind.CANCEL, T) == 0.0
    q.sent(Kind.PLACE, T)
    assert "weight 2290/2400" in q.figures(T)  # counted against the orders only


def test_requests_sent_count_until_the_exchange_says_more() -> None:
    p = pacer()
    for _ in range(240):
        p.sent(Kind.PLACE, T)
    assert p.engaged(T)  # 240 of 300 in 10 s, counted before any answer came back
    p.observe({"x-mbx-order-count-10s": "10"}, T)  # an answer sent before most of them
    assert "orders 240/300 per 10s" in p.figures(T)
    p.observe({"x-mbx-order-count-10s": "260"}, T)
    assert "orders 260/300 per 10s" in p.figures(T)


def test_bad_header_values_and_no_limits_are_harmless() -> None:
    p = pacer()
    p.observe({"x-mbx-used-weight-1m": "lots"}, T)
    p.observe(None, T)
    assert p.delay(Kind.READ, T) == 0.0
    empty = Pacer([])
    empty.observe({"x-mbx-used-weight-1m": "99999"}, T)
    assert empty.delay(Kind.CANCEL, T) == 0.0
    with pytest.raises(ValueError, match="soft <= hard"):
        Pacer([], soft=0.99)
