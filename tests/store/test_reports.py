"""Reports over stored fills: PnL equal to a naive recomputation, markouts, drawdown."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tests.instruments import btcusdt_perpetual
from tradetui.core.types import Side
from tradetui.store.reports import StoredFill, StoredMark, build_report

INST = btcusdt_perpetual()
S = 1_000_000_000


def naive_total(fills: list[StoredFill], mark_half_ticks: int) -> Decimal:
    """Cash flow plus the position at the mark, minus fees, all in Decimal."""
    cash = Decimal(0)
    position = Decimal(0)
    for f in fills:
        price = f.price_ticks * INST.tick_size
        qty = f.qty_lots * INST.lot_size
        cash -= int(f.side) * price * qty
        position += int(f.side) * qty
        cash -= Decimal(repr(f.fee))
    return cash + position * mark_half_ticks * INST.tick_size / 2


fill_st = st.builds(
    lambda side, price, qty, fee_bp: (side, price, qty, fee_bp),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(500_000, 700_000),
    st.integers(1, 50),
    st.integers(-1, 5),
)


@given(st.lists(fill_st, min_size=1, max_size=60), st.integers(1_000_000, 1_400_000))
def test_report_pnl_equals_naive_recomputation(
    raw: list[tuple[Side, int, int, int]], mark: int
) -> None:
    fills = [
        StoredFill(
            i + 1, side, price, qty, price * qty * 1e-4 * fee_bp * 1e-4, True, i * S, 2 * price
        )
        for i, (side, price, qty, fee_bp) in enumerate(raw)
    ]
    marks = [StoredMark(len(fills) + 1, len(fills) * S, mark)]
    r = build_report(INST, fills, marks, 0)
    assert abs(r["pnl_total"] - naive_total(fills, mark)) < Decimal("1e-6")
    assert r["fills"] == len(fills)


def test_markouts_are_read_from_the_fill_price_on_the_stored_mids() -> None:
    fills = [
        StoredFill(1, Side.BUY, 100, 1, 0.0, True, 0, 200),
        StoredFill(2, Side.SELL, 101, 2, 0.0, True, 0, 200),
    ]
    marks = [StoredMark(3, 1 * S, 204), StoredMark(4, 5 * S, 196), StoredMark(5, 6 * S, 196)]
    m = build_report(INST, fills, marks, 0)["markouts"]
    # At 1 s the mid is 102: the buy at 100 gained 2 ticks, the sell of 2 at 101 lost 1 each.
    assert m["1s"]["fills"] == 2
    assert m["1s"]["total_quote"] == Decimal("0.0000")  # (2 × 1 − 1 × 2) tick·lots, exact
    # At 5 s the mid is 98: the buy lost 2, the sell gained 3 × 2.
    assert m["5s"]["total_quote"] == Decimal("0.0004")
    assert m["30s"]["fills"] == 0


def test_max_drawdown_is_the_deepest_fall_from_a_peak() -> None:
    # Long 1 lot at 100 ticks; the mid goes 100 → 110 → 90 → 95 (ticks).
    fills = [StoredFill(1, Side.BUY, 100, 1, 0.0, True, 0, 200)]
    marks = [
        StoredMark(2, 1 * S, 220),
        StoredMark(3, 2 * S, 180),
        StoredMark(4, 3 * S, 190),
    ]
    r = build_report(INST, fills, marks, 0)
    assert r["max_drawdown_quote"] == Decimal("0.002")  # 20 tick·lots, exact
    assert r["pnl_total"] == Decimal("-0.0005")


def test_per_minute_sharpe_and_inventory_stats() -> None:
    m = 60 * S
    fills = [StoredFill(1, Side.BUY, 100, 2, 0.0, True, 0, 200)]
    marks = [
        StoredMark(2, m - 1, 202),
        StoredMark(3, 2 * m - 1, 206),
        StoredMark(4, 3 * m - 1, 208),
    ]
    r = build_report(INST, fills, marks, 0)
    assert r["minutes"] == 3
    # Per-minute PnL 2, 4, 2 ticks·2 lots: mean/std = (8/3) / sqrt(4/3).
    assert r["sharpe_per_minute"] is not None
    assert abs(r["sharpe_per_minute"] - (8 / 3) / (4 / 3) ** 0.5) < 1e-9
    assert r["inventory"]["flat_fraction"] == 0.0
    assert abs(r["inventory"]["mean_base"] - 0.002) < 1e-12
