"""Inverse (coin-margined) contract math: PnL and fees in the coin, harmonic-mean entry."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradetui.core.accounting import PositionLedger
from tradetui.core.instrument import Instrument
from tradetui.core.types import RejectCode, Side


def btcusd_perp() -> Instrument:
    return Instrument(
        symbol="BTCUSD_PERP",
        base="BTC",
        quote="USD",
        tick_size=Decimal("0.1"),
        lot_size=Decimal(1),
        min_qty=Decimal(1),
        min_notional=Decimal(0),
        inverse=True,
        contract_size=Decimal(100),
    )


def test_inverse_round_trip_worked_by_hand() -> None:
    # PROTOCOLS.md: sell 1 at 61,827.4, buy 1 at 61,838.8 -> 100 × (1/61838.8 − 1/61827.4) BTC.
    ledger = PositionLedger(btcusd_perp())
    ledger.on_fill(Side.SELL, 618_274, 1, 0.0, 0.0)
    ledger.on_fill(Side.BUY, 618_388, 1, 0.0, 0.0)
    snap = ledger.snapshot(618_388)
    assert snap.settle == "BTC"
    assert snap.realized == Decimal("-0.000000298169")  # to 1e-12 BTC (money.MONEY_PLACES)
    assert snap.volume_quote == 200  # two contracts of 100 USD face
    assert float(snap.volume_settle) == pytest.approx(100 / 61827.4 + 100 / 61838.8, rel=1e-12)


def test_inverse_entry_is_the_harmonic_mean_of_fill_prices() -> None:
    ledger = PositionLedger(btcusd_perp())
    ledger.on_fill(Side.BUY, 600_000, 1, 0.0, 0.0)
    ledger.on_fill(Side.BUY, 620_000, 3, 0.0, 0.0)
    harmonic = 4 / (1 / Fraction(600_000) + 3 / Fraction(620_000))
    assert abs(ledger.avg_entry_ticks - harmonic) < Fraction(1, 10**12)


def test_inverse_long_gains_coin_as_price_rises() -> None:
    ledger = PositionLedger(btcusd_perp())
    ledger.on_fill(Side.BUY, 500_000, 10, 0.0, 0.0)  # 10 contracts at 50,000
    snap = ledger.snapshot(1_000_000)  # marked at 100,000
    assert snap.unrealized == Decimal("0.01")  # 10 × 100 × (1/50,000 − 1/100,000) BTC
    assert ledger.total_settle(1_000_000) == pytest.approx(float(snap.total), rel=1e-12)


def test_inverse_notional_is_face_value_in_usd_and_coin_at_price() -> None:
    inst = btcusd_perp()
    assert inst.notional(618_274, 3) == 300.0
    assert inst.notional_settle(618_274, 3) == pytest.approx(300 / 61827.4)
    assert inst.to_quote(0.01, 618_274) == pytest.approx(618.274)
    assert inst.size_unit == "contracts"


def test_inverse_minimum_is_counted_in_contracts() -> None:
    inst = Instrument(
        symbol="X",
        base="ETH",
        quote="USD",
        tick_size=Decimal("0.01"),
        lot_size=Decimal(1),
        min_qty=Decimal(1),
        min_notional=Decimal(20),  # two contracts of 10 USD
        inverse=True,
        contract_size=Decimal(10),
    )
    assert inst.min_lots_at(123_456) == 2
    assert inst.check(123_456, 1) is RejectCode.BELOW_MIN_QTY
    assert inst.check(123_456, 2) is None


@given(
    st.lists(
        st.tuples(
            st.sampled_from([Side.BUY, Side.SELL]),
            st.integers(500_000, 700_000),
            st.integers(1, 50),
        ),
        min_size=1,
        max_size=30,
    ),
    st.integers(500_000, 700_000),
)
def test_inverse_pnl_matches_a_cash_flow_recount(
    fills: list[tuple[Side, int, int]], mark: int
) -> None:
    # Realized + unrealized equals the cash flow of every fill plus the position's value at
    # the mark, each lot worth −CS/price coin (exact to the ledger's rounding of 1/price).
    inst = btcusd_perp()
    ledger = PositionLedger(inst)
    cash = Fraction(0)
    pos = 0
    for side, price, qty in fills:
        ledger.on_fill(side, price, qty, 0.0, 0.0)
        cash -= int(side) * qty * Fraction(-100, Fraction(price, 10))
        pos += int(side) * qty
    expected = cash + pos * Fraction(-100, Fraction(mark, 10))
    got = Fraction(ledger.snapshot(mark).gross)
    assert abs(got - expected) < Fraction(1, 10**12)


def test_spec_round_trip_keeps_every_field() -> None:
    inst = btcusd_perp()
    assert Instrument.from_spec(inst.to_spec()) == inst


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tick_size": None}, "tick_size is missing"),
        ({"lot_size": "abc"}, "lot_size 'abc' is not a number"),
        ({"kind": "option"}, "unknown kind 'option'"),
        ({"symbol": ""}, "symbol is missing"),
    ],
)
def test_bad_spec_is_refused_naming_the_field(change: dict[str, object], message: str) -> None:
    spec: dict[str, object] = dict(btcusd_perp().to_spec())
    for k, v in change.items():
        if v is None:
            spec.pop(k)
        else:
            spec[k] = v
    with pytest.raises(ValueError, match=message):
        Instrument.from_spec(spec)
