"""The flatten policy always ends: flat, dust or timeout, with bounded backoff."""

from __future__ import annotations

from tradetui.engine.flatten import CloseOrder, Finished, Flattener, FlattenOutcome, Wait

MS = 1_000_000


def _flattener(timeout_ms: int = 10_000) -> Flattener:
    return Flattener(0, timeout_ns=timeout_ms * MS, backoff_ns=100 * MS, backoff_max_ns=800 * MS)


def test_flat_and_idle_finishes_flat() -> None:
    step = _flattener().step(0, position_lots=0, working_orders=0, min_close_lots=1)
    assert isinstance(step, Finished)
    assert step.outcome is FlattenOutcome.FLAT


def test_waits_while_orders_are_working() -> None:
    step = _flattener().step(0, position_lots=5, working_orders=2, min_close_lots=1)
    assert isinstance(step, Wait)


def test_closes_whole_position_with_one_order() -> None:
    step = _flattener().step(0, position_lots=-7, working_orders=0, min_close_lots=1)
    assert step == CloseOrder(7)


def test_flatten_stops_retrying_at_dust() -> None:
    step = _flattener().step(0, position_lots=3, working_orders=0, min_close_lots=5)
    assert isinstance(step, Finished)
    assert step.outcome is FlattenOutcome.DUST
    assert "below the minimum close size" in step.detail


def test_retries_back_off_exponentially_with_cap() -> None:
    f = _flattener(timeout_ms=1_000_000)
    now = 0
    delays = []
    for _ in range(8):
        step = f.step(now, position_lots=4, working_orders=0, min_close_lots=1)
        assert isinstance(step, CloseOrder)
        delays.append(f.next_try_ns - now)
        blocked = f.step(now, position_lots=4, working_orders=0, min_close_lots=1)
        assert isinstance(blocked, Wait)
        now = f.next_try_ns
    # Each delay lies in [d/2, d) of its nominal value 100 ms · 2^n capped at 800 ms.
    for n, d in enumerate(delays):
        nominal = min(800, 100 * 2**n) * MS
        assert nominal // 2 <= d < nominal
    assert max(delays) < 800 * MS


def test_deadline_ends_with_timeout_even_with_orders_working() -> None:
    f = _flattener(timeout_ms=500)
    step = f.step(500 * MS, position_lots=4, working_orders=1, min_close_lots=1)
    assert isinstance(step, Finished)
    assert step.outcome is FlattenOutcome.TIMEOUT
