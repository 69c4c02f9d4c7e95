"""Markout and spread capture as docs/metrics.md defines them, on hand-computed fills."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tests.core.test_inverse import btcusd_perp
from tests.instruments import btcusdt_perpetual
from tradetui.core.accounting import PositionLedger
from tradetui.core.metrics import MarkedFill, MarkoutTracker, markouts
from tradetui.core.types import Side

S = 1_000_000_000
INST = btcusdt_perpetual()  # tick 0.1 USDT, lot 0.001 BTC: one tick·lot is 0.0001 USDT


def test_markout_is_read_from_the_fill_price_against_the_mid_at_or_before_the_horizon() -> None:
    timeline: list[MarkedFill | tuple[int, float]] = [
        (0, 100.5),
        MarkedFill(0, Side.BUY, 100, 3, 100.5),
        (S, 104.0),  # exactly at t + 1 s: counts for 1 s
        (S + 1, 90.0),
        (5 * S - 1, 98.0),  # the last mid at or before t + 5 s
        (5 * S + 1, 200.0),
    ]
    m = markouts(INST, timeline)
    assert m["1s"] == {
        "fills": 1,
        "total_settle": Decimal("0.0012"),  # 3 lots × (104 − 100) ticks
        "total_quote": Decimal("0.0012"),
        "mean_bps": 3 * 4 / (3 * 100) * 1e4,
    }
    assert m["5s"]["total_settle"] == Decimal("-0.0006")  # 3 × (98 − 100)
    assert m["30s"]["fills"] == 0  # its horizon lies past the last mid


def test_a_sell_gains_when_the_mid_falls_below_its_price() -> None:
    m = markouts(INST, [MarkedFill(0, Side.SELL, 100, 2, 99.5), (S, 97.5)])
    assert m["1s"]["total_settle"] == Decimal("0.0005")  # 2 × (100 − 97.5)


def test_spread_capture_is_the_markout_at_the_booking_mid() -> None:
    ledger = PositionLedger(INST)
    ledger.on_fill(Side.BUY, 100, 3, 0.0, 101.5)
    ledger.on_fill(Side.SELL, 103, 1, 0.0, 102.0)
    # 3 × (101.5 − 100) + 1 × (103 − 102) tick·lots
    assert ledger.snapshot(102.0).spread_capture == Decimal("0.00055")


def test_inverse_markout_is_in_the_coin_and_again_in_quote_at_the_later_mid() -> None:
    inst = btcusd_perp()
    m = markouts(inst, [MarkedFill(0, Side.BUY, 500_000, 1, 500_000.0), (S, 510_000.0)])
    # One 100 USD contract bought at 50,000 and valued at 51,000: 100/50000 − 100/51000 BTC.
    coin = Decimal(100) / 50_000 - Decimal(100) / 51_000
    assert abs(Decimal(m["1s"]["total_settle"]) - coin) < Decimal("1e-12")
    assert abs(Decimal(m["1s"]["total_quote"]) - coin * 51_000) < Decimal("1e-6")


@given(
    st.lists(
        st.tuples(
            st.integers(0, 40 * S),
            st.booleans(),
            st.integers(95, 105),
            st.integers(1, 5),
            st.integers(190, 210),
        ),
        max_size=40,
    )
)
def test_the_running_tracker_counts_what_the_whole_session_counts(
    raw: list[tuple[int, bool, int, int, int]],
) -> None:
    """The console's running figures equal the report's for every fill already due."""
    timeline: list[MarkedFill | tuple[int, float]] = []
    for t, is_fill, price, qty, half in sorted(raw):
        if is_fill:
            timeline.append(MarkedFill(t, Side.BUY if qty % 2 else Side.SELL, price, qty, half / 2))
        else:
            timeline.append((t, half / 2))
    running = MarkoutTracker(INST)
    for item in timeline:
        if isinstance(item, MarkedFill):
            running.on_fill(item)
        else:
            running.on_mid(*item)
    whole = markouts(INST, timeline)
    for horizon, live in running.summary().items():
        # Closing may add fills due at the last mid's own time, never change resolved ones.
        assert live["fills"] <= whole[horizon]["fills"]
    running.close()
    assert running.summary() == whole
