"""Quantization, exact conversion and venue-minimum checks of Instrument."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.instruments import btcusdt_perpetual
from tradetui.core.instrument import Instrument
from tradetui.core.types import RejectCode, Side

# The float tolerance quantization allows for noise at exact grid points, in ticks or lots.
GRID_EPS = 1e-7
# Grid indices up to here (far beyond real markets) are where float noise stays below GRID_EPS.
MAX_GRID_INDEX = 10**8

TICK_SIZES = ["0.1", "0.01", "0.5", "0.25", "1", "5", "0.00001", "1E-8"]
LOT_SIZES = ["0.001", "0.1", "1", "0.00001", "10"]


def make(
    tick: str = "0.1", lot: str = "0.001", min_qty: str = "0.001", min_notional: str = "100"
) -> Instrument:
    return Instrument(
        symbol="TEST",
        base="B",
        quote="Q",
        tick_size=Decimal(tick),
        lot_size=Decimal(lot),
        min_qty=Decimal(min_qty),
        min_notional=Decimal(min_notional),
    )


instruments = st.builds(
    make,
    tick=st.sampled_from(TICK_SIZES),
    lot=st.sampled_from(LOT_SIZES),
    min_qty=st.sampled_from(["0", "0.001", "0.01", "1", "5"]),
    min_notional=st.sampled_from(["0", "5", "100", "1000"]),
)
prices = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)


@given(instruments, prices)
def test_buy_price_rounds_down_by_less_than_one_tick(ins: Instrument, price: float) -> None:
    x = price / ins.tick
    ticks = ins.quantize_price(price, Side.BUY)
    assert x - 1 < ticks <= x + GRID_EPS


@given(instruments, prices)
def test_sell_price_rounds_up_by_less_than_one_tick(ins: Instrument, price: float) -> None:
    x = price / ins.tick
    ticks = ins.quantize_price(price, Side.SELL)
    assert x - GRID_EPS <= ticks < x + 1


@given(instruments, st.integers(min_value=1, max_value=MAX_GRID_INDEX), st.sampled_from(Side))
def test_exact_grid_price_is_a_fixed_point(ins: Instrument, n: int, side: Side) -> None:
    assert ins.quantize_price(float(ins.price(n)), side) == n


@pytest.mark.parametrize("side", list(Side))
def test_float_noise_at_a_grid_point_does_not_move_the_price(side: Side) -> None:
    ins = btcusdt_perpetual()
    assert 23366.1 / 0.1 < 233661  # the binary-float noise this guards against
    assert ins.quantize_price(23366.1, side) == 233661
    assert ins.quantize_price(0.3, side) == 3
    assert ins.quantize_price(61234.5, side) == 612345


@given(instruments, st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_quantize_qty_never_rounds_up(ins: Instrument, qty: float) -> None:
    lots = ins.quantize_qty(qty)
    x = qty / ins.lot
    assert 0 <= lots <= x + GRID_EPS
    assert lots > x - 1


@given(instruments, st.integers(min_value=0, max_value=MAX_GRID_INDEX))
def test_exact_grid_size_is_a_fixed_point(ins: Instrument, n: int) -> None:
    assert ins.quantize_qty(float(ins.qty(n))) == n


def test_negative_size_quantizes_to_zero() -> None:
    assert btcusdt_perpetual().quantize_qty(-0.5) == 0


@given(instruments, st.integers(min_value=-(10**15), max_value=10**15))
def test_ticks_exact_inverts_price(ins: Instrument, n: int) -> None:
    assert ins.ticks_exact(ins.price(n)) == n


@given(instruments, st.integers(min_value=0, max_value=10**15))
def test_lots_exact_inverts_qty(ins: Instrument, n: int) -> None:
    assert ins.lots_exact(ins.qty(n)) == n


@given(instruments, st.integers(min_value=0, max_value=10**12))
def test_off_grid_decimal_price_and_size_are_refused(ins: Instrument, n: int) -> None:
    assert ins.ticks_exact(ins.price(n) + ins.tick_size / 2) is None
    assert ins.lots_exact(ins.qty(n) + ins.lot_size / 3) is None


def test_trailing_zeros_do_not_matter_for_exact_conversion() -> None:
    ins = btcusdt_perpetual()
    assert ins.ticks_exact(Decimal("61234.50")) == 612345
    assert ins.lots_exact(Decimal("1.2500")) == 1250


def test_check_reports_size_below_min_qty() -> None:
    ins = make(lot="0.001", min_qty="0.01", min_notional="0")
    assert ins.check(600_000, 9) is RejectCode.BELOW_MIN_QTY
    assert ins.check(600_000, 10) is None


def test_check_reports_notional_below_min_at_the_given_price() -> None:
    ins = btcusdt_perpetual()  # min notional 100 USDT = 1_000_000 tick·lots
    assert ins.check(500_000, 1) is RejectCode.BELOW_MIN_NOTIONAL  # 50 000 × 0.001 = 50
    assert ins.check(500_000, 2) is None  # 100 exactly
    assert ins.check(1_000_000, 1) is None


def test_zero_size_is_below_min_qty_even_without_a_minimum() -> None:
    assert make(min_qty="0", min_notional="0").check(100, 0) is RejectCode.BELOW_MIN_QTY


@given(instruments, st.integers(min_value=1, max_value=10**9))
def test_min_lots_at_is_the_smallest_accepted_size(ins: Instrument, price_ticks: int) -> None:
    lots = ins.min_lots_at(price_ticks)
    assert ins.check(price_ticks, lots) is None
    below = ins.check(price_ticks, lots - 1)
    assert below is not None
    if lots - 1 >= max(ins.min_qty_lots, 1):
        assert below is RejectCode.BELOW_MIN_NOTIONAL


@given(instruments, st.integers(min_value=-5, max_value=0))
def test_min_lots_at_without_a_price_is_still_accepted(ins: Instrument, price_ticks: int) -> None:
    assert ins.check(price_ticks, ins.min_lots_at(price_ticks)) is None


def test_min_notional_is_rounded_up_to_whole_tick_lots() -> None:
    ins = make(tick="0.1", lot="0.001", min_notional="0.00015")  # 1.5 tick·lots
    assert ins.min_notional_ticklots == 2


@pytest.mark.parametrize(
    ("tick", "lot", "min_qty", "min_notional"),
    [
        ("0", "0.001", "0", "0"),
        ("0.1", "0", "0", "0"),
        ("-0.1", "0.001", "0", "0"),
        ("0.1", "0.001", "-1", "0"),
        ("0.1", "0.001", "0", "-5"),
    ],
)
def test_invalid_instrument_raises(tick: str, lot: str, min_qty: str, min_notional: str) -> None:
    with pytest.raises(ValueError, match="TEST"):
        make(tick, lot, min_qty, min_notional)


def test_band_edges_and_limits_on_the_grids() -> None:
    inst = replace(
        make(),
        max_qty=Decimal("1000"),
        min_price=Decimal("0.1"),
        max_price=Decimal("4529764"),
        percent_price_up=Decimal("1.0500"),
        percent_price_down=Decimal("0.9500"),
    )

    # Mark 60000.05 (600000.5 ticks): 630000.525 rounds down for buys, 570000.475 up for sells.
    assert inst.band_limit_ticks(Side.BUY, 600_000.5) == 630_000
    assert inst.band_limit_ticks(Side.SELL, 600_000.5) == 570_001
    assert inst.band_limit_ticks(Side.BUY, 0.0) is None
    assert make().band_limit_ticks(Side.BUY, 600_000.5) is None
    assert (inst.max_qty_lots, inst.min_price_ticks, inst.max_price_ticks) == (
        1_000_000,
        1,
        45_297_640,
    )
    assert inst.check(600_000, 1_000_001) is RejectCode.ABOVE_MAX_QTY
    assert inst.check_price(Side.BUY, 630_001, 600_000.5) is RejectCode.ABOVE_PRICE_BAND
    assert inst.check_price(Side.BUY, 630_000, 600_000.5) is None
    assert inst.check_price(Side.SELL, 570_000, 600_000.5) is RejectCode.BELOW_PRICE_BAND
    assert inst.check_price(Side.SELL, 570_001, 600_000.5) is None
    # Exactly on the edge (600000 × 1.05 = 630000, × 0.95 = 570000) is inside: "price <=".
    assert inst.check_price(Side.BUY, 630_000, 600_000) is None
    assert inst.check_price(Side.SELL, 570_000, 600_000) is None
    assert inst.check_price(Side.SELL, 45_297_641, 0) is RejectCode.ABOVE_MAX_PRICE
