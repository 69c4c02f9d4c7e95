"""PositionLedger: average-cost realized PnL, fees, spread capture and exact invariants."""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.instruments import btcusdt_perpetual
from tradetui.core.accounting import PositionLedger
from tradetui.core.types import Side

BUY, SELL = Side.BUY, Side.SELL
INS = btcusdt_perpetual()  # tick 0.1, lot 0.001: one tick·lot is 0.0001 USDT

# (side, price_ticks, qty_lots, fee_quote, mid_ticks)
FillArgs = tuple[Side, int, int, float, float]

fill_args = st.tuples(
    st.sampled_from(Side),
    st.integers(min_value=1, max_value=2_000),
    st.integers(min_value=1, max_value=60),
    st.sampled_from([0.0, 0.02, 0.5, -0.01, -0.3]),
    st.integers(min_value=2, max_value=4_000).map(lambda h: h / 2),
)
fill_seqs = st.lists(fill_args, max_size=40)
marks = st.integers(min_value=2, max_value=4_000).map(lambda h: h / 2)


def ledger_after(fills: list[FillArgs]) -> PositionLedger:
    ledger = PositionLedger(INS)
    for args in fills:
        ledger.on_fill(*args)
    return ledger


def test_buy_then_sell_higher_realizes_the_difference() -> None:
    ledger = ledger_after([(BUY, 600_000, 10, 0.0, 600_000), (SELL, 600_100, 10, 0.0, 600_100)])
    snap = ledger.snapshot(600_100)
    assert ledger.realized_units == 10 * 100
    assert snap.realized == Decimal("0.1")  # exact: a 10 USDT move on 0.01 BTC is 0.1 USDT
    assert snap.position_lots == 0
    assert snap.unrealized == 0


def test_short_then_buy_lower_realizes_a_gain() -> None:
    ledger = ledger_after([(SELL, 1_000, 4, 0.0, 1_000), (BUY, 990, 4, 0.0, 990)])
    assert ledger.realized_units == 40


def test_partial_close_uses_the_average_cost() -> None:
    ledger = ledger_after(
        [(BUY, 100, 10, 0.0, 100), (BUY, 110, 10, 0.0, 110), (SELL, 120, 5, 0.0, 120)]
    )
    assert ledger.realized_units == 5 * (120 - 105)
    assert ledger.avg_entry_ticks == 105
    assert ledger.position_lots == 15
    assert ledger.snapshot(120).unrealized == Decimal("0.0225")  # 15 lots × 15 ticks


def test_average_entry_stays_exact() -> None:
    ledger = ledger_after([(BUY, 100, 1, 0.0, 100), (BUY, 101, 2, 0.0, 101)])
    assert ledger.avg_entry_ticks == Fraction(302, 3)
    assert ledger.snapshot(101).avg_entry == pytest.approx(302 / 3 * 0.1)


def test_fill_through_zero_closes_at_average_and_opens_the_rest_at_fill_price() -> None:
    ledger = ledger_after([(BUY, 100, 10, 0.0, 100), (SELL, 90, 15, 0.0, 90)])
    assert ledger.realized_units == 10 * (90 - 100)
    assert ledger.position_lots == -5
    assert ledger.avg_entry_ticks == 90
    ledger.on_fill(BUY, 80, 8, 0.0, 80)
    assert ledger.realized_units == -100 + 5 * (90 - 80)
    assert ledger.position_lots == 3
    assert ledger.avg_entry_ticks == 80


def test_fees_and_rebates_are_kept_apart_and_both_count_in_total() -> None:
    ledger = ledger_after([(BUY, 100, 10, 0.5, 100), (SELL, 110, 10, -0.2, 110)])
    snap = ledger.snapshot(110)
    # Both are amounts >= 0 (paid, received); exact decimals, no float sums.
    assert (snap.fees, snap.rebates, snap.net_fees) == (
        Decimal("0.5"),
        Decimal("0.2"),
        Decimal("0.3"),
    )
    assert snap.gross == Decimal("0.01")
    assert snap.total == Decimal("0.01") - Decimal("0.5") + Decimal("0.2") == Decimal("-0.29")
    assert snap.realized == Decimal("0.01")  # fees never enter realized


def test_passive_fills_inside_the_mid_earn_positive_spread_capture() -> None:
    ledger = ledger_after([(BUY, 99, 2, 0.0, 100.0), (SELL, 102, 3, 0.0, 100.5)])
    assert ledger.spread_capture_units == 2 * 1 + 3 * Fraction(3, 2)
    assert ledger.snapshot(100).spread_capture == Decimal("0.00065")


def test_crossing_the_mid_costs_spread_capture() -> None:
    ledger = ledger_after([(BUY, 101, 4, 0.0, 100.5)])
    assert ledger.spread_capture_units == -2


def test_inventory_pnl_is_what_price_moves_did_beyond_the_captured_edge() -> None:
    # Bought 1 tick under the mid, then the market fell 5 ticks.
    ledger = ledger_after([(BUY, 99, 10, 0.0, 100.0)])
    snap = ledger.snapshot(95)
    assert snap.spread_capture == Decimal("0.001")
    assert snap.gross == Decimal("-0.004")
    assert snap.inventory_pnl == Decimal("-0.005")


def test_fill_without_a_mid_counts_no_edge() -> None:
    ledger = ledger_after([(BUY, 99, 10, 0.0, 0.0), (SELL, 99, 1, 0.0, float("nan"))])
    assert ledger.spread_capture_units == 0


def test_cost_per_10k_is_minus_total_over_volume_in_basis_points() -> None:
    # 0.01 BTC bought and sold at 60 000 USDT paying 0.12 + 0.12 USDT of fees.
    ledger = ledger_after(
        [(BUY, 600_000, 10, 0.12, 600_000.5), (SELL, 600_000, 10, 0.12, 599_999.5)]
    )
    snap = ledger.snapshot(600_000)
    assert snap.volume_quote == Decimal("1200")
    assert snap.total == Decimal("-0.24")
    assert snap.cost_per_10k == pytest.approx(0.24 / 1_200.0 * 10_000)  # 2 bps


def test_cost_per_10k_is_zero_without_volume() -> None:
    snap = PositionLedger(INS).snapshot(600_000)
    assert snap.cost_per_10k == 0.0
    assert snap.volume_quote == 0.0
    assert snap.fills == 0


def test_missing_mark_values_the_position_at_its_entry() -> None:
    ledger = ledger_after([(BUY, 600_000, 10, 0.0, 600_000)])
    for mark in (0.0, -1.0, float("nan"), float("inf")):
        snap = ledger.snapshot(mark)
        assert snap.unrealized == 0.0
        assert snap.mark == pytest.approx(60_000.0)


def test_snapshot_reports_sizes_prices_and_counts_in_their_units() -> None:
    ledger = ledger_after([(BUY, 600_000, 30, 0.0, 600_000), (SELL, 600_010, 50, 0.0, 600_010)])
    snap = ledger.snapshot(600_020)
    assert snap.position_lots == -20
    assert snap.position_size == pytest.approx(-0.02)
    assert snap.avg_entry == pytest.approx(60_001.0)
    assert snap.mark == pytest.approx(60_002.0)
    assert (snap.fills, snap.buy_lots, snap.sell_lots) == (2, 30, 50)
    assert (snap.max_position_lots, snap.min_position_lots) == (30, -20)
    assert snap.volume_quote == Decimal("4800.05")  # (600 000 × 30 + 600 010 × 50) tick·lots


@pytest.mark.parametrize(("price_ticks", "qty_lots"), [(100, 0), (100, -1), (0, 1)])
def test_fill_without_positive_price_and_size_is_refused(price_ticks: int, qty_lots: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        PositionLedger(INS).on_fill(BUY, price_ticks, qty_lots, 0.0, 100.0)


# ---- properties over random fill sequences --------------------------------------------------


@given(fill_seqs, marks)
def test_gross_equals_cash_flow_plus_marked_position_exactly(
    fills: list[FillArgs], mark: float
) -> None:
    ledger = ledger_after(fills)
    cash = -sum(int(side) * price * qty for side, price, qty, _, _ in fills)
    position = sum(int(side) * qty for side, _, qty, _, _ in fills)
    assert ledger.cash_flow_units == cash
    assert ledger.position_lots == position
    assert ledger.gross_units(mark) == cash + position * Fraction(mark)


@given(fill_seqs)
def test_fills_that_grow_the_position_leave_realized_unchanged(fills: list[FillArgs]) -> None:
    ledger = PositionLedger(INS)
    for args in fills:
        side = args[0]
        before_pos, before_realized = ledger.position_lots, ledger.realized_units
        ledger.on_fill(*args)
        if before_pos * int(side) >= 0:  # flat, or adding to the same side
            assert ledger.realized_units == before_realized


@given(fill_seqs)
def test_flat_position_has_no_unrealized_and_total_is_realized_net_of_fees(
    fills: list[FillArgs],
) -> None:
    ledger = ledger_after(fills)
    if ledger.position_lots:
        # Close out so every sequence ends flat.
        side = SELL if ledger.position_lots > 0 else BUY
        ledger.on_fill(side, 1_000, abs(ledger.position_lots), 0.1, 1_000.0)
    snap = ledger.snapshot(1_234.5)
    assert snap.unrealized == 0.0
    assert ledger.cost_units == 0
    assert snap.total == snap.realized - snap.fees + snap.rebates
    assert ledger.realized_units == ledger.cash_flow_units


@given(fill_seqs)
def test_fees_and_rebates_are_sums_of_positive_and_negative_fees(fills: list[FillArgs]) -> None:
    snap = ledger_after(fills).snapshot(1_000)
    assert snap.fees == sum(Decimal(repr(f)) for *_, f, _ in fills if f > 0)
    assert snap.rebates == sum(-Decimal(repr(f)) for *_, f, _ in fills if f < 0)
    assert snap.fees >= 0
    assert snap.rebates >= 0


def plain_average_cost(fills: list[FillArgs]) -> tuple[Fraction, Fraction, Fraction]:
    """Realized (tick·lots), average entry (ticks) and spread capture, written the long way."""
    qty = 0  # signed lots
    avg = Fraction(0)
    realized = Fraction(0)
    capture = Fraction(0)
    for side, price, size, _, mid in fills:
        s = int(side)
        capture += s * (Fraction(mid) - price) * size
        if qty == 0 or (qty > 0) == (s > 0):
            avg = (avg * abs(qty) + price * size) / (abs(qty) + size)
            qty += s * size
            continue
        closed = min(size, abs(qty))
        direction = 1 if qty > 0 else -1
        realized += closed * (price - avg) * direction
        qty += s * size
        if qty == 0:
            avg = Fraction(0)
        elif (qty > 0) != (direction > 0):
            avg = Fraction(price)
    return realized, avg, capture


def plain_fifo_realized(fills: list[FillArgs]) -> int:
    """Realized PnL (tick·lots) matching each close against the oldest open lots."""
    open_lots: deque[list[int]] = deque()  # [signed lots, price ticks], oldest first
    realized = 0
    for side, price, size, _, _ in fills:
        s, left = int(side), size
        while left and open_lots and open_lots[0][0] * s < 0:
            lot = open_lots[0]
            take = min(left, abs(lot[0]))
            realized += take * (price - lot[1]) * (1 if lot[0] > 0 else -1)
            lot[0] += s * take
            left -= take
            if lot[0] == 0:
                open_lots.popleft()
        if left:
            open_lots.append([s * left, price])
    return realized


@given(fill_seqs)
def test_realized_agrees_with_a_plain_average_cost_loop(fills: list[FillArgs]) -> None:
    ledger = ledger_after(fills)
    realized, avg, capture = plain_average_cost(fills)
    assert ledger.realized_units == realized
    assert ledger.avg_entry_ticks == avg
    assert ledger.spread_capture_units == capture


@given(fill_seqs)
def test_round_trip_realized_agrees_with_fifo_once_flat(fills: list[FillArgs]) -> None:
    closing = []
    position = sum(int(side) * qty for side, _, qty, _, _ in fills)
    if position:
        closing = [(SELL if position > 0 else BUY, 777, abs(position), 0.0, 777.0)]
    ledger = ledger_after(fills + closing)
    assert ledger.realized_units == plain_fifo_realized(fills + closing)


@given(fill_seqs, marks)
def test_fast_total_agrees_with_the_exact_snapshot(fills: list[FillArgs], mark: int) -> None:
    ledger = ledger_after(fills)
    assert ledger.total_settle(mark) == pytest.approx(float(ledger.snapshot(mark).total), abs=1e-6)
