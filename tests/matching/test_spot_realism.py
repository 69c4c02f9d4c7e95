"""Spot as Binance spot trades it: no selling base the account does not hold (without margin),
the basic spot fee, and a strategy that does not send what would be refused (issue 21 item 3)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest

from tests.instruments import btcusdt_perpetual
from tradetui.backtest.run import run_backtest
from tradetui.config import Settings
from tradetui.core.instrument import Instrument, InstrumentKind
from tradetui.core.types import BookSnapshot, Fill, RejectCode, Side, Trade
from tradetui.engine.params import quote_policy, risk_limits
from tradetui.market.cache import load_events
from tradetui.market.instruments import infer_instrument
from tradetui.matching import MatchingConfig, MatchingEngine
from tradetui.session import with_sim_fees

SPOT_DIR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "binance-spot"


def spot() -> Instrument:
    """Tick 0.1, whole-unit lots, spot."""
    return Instrument(
        symbol="TEST",
        base="T",
        quote="USDT",
        tick_size=Decimal("0.1"),
        lot_size=Decimal("1"),
        min_qty=Decimal("1"),
        min_notional=Decimal("10"),
        kind=InstrumentKind.SPOT,
    )


def engine(spot_short: bool = False) -> MatchingEngine:
    e = MatchingEngine(spot(), MatchingConfig(spot_short=spot_short))
    e.on_market(
        BookSnapshot(exch_ns=0, local_ns=0, update_id=1, bids=((1000, 5),), asks=((1004, 5),)), 0
    )
    return e


def sell(e: MatchingEngine, cid: str, lots: int) -> list[object]:
    return list(e.place(cid, Side.SELL, Decimal("100.4"), Decimal(lots), t_ns=1))


def test_a_spot_sell_without_the_base_is_refused_as_binance_spot_does() -> None:
    e = engine()
    (rej,) = sell(e, "s1", 1)
    assert getattr(rej, "code", None) is RejectCode.INSUFFICIENT_MARGIN
    assert "0 free" in getattr(rej, "reason", "")
    # Buy 3 (a taker buy at the ask), then sell: up to the 3 held, less what is offered.
    events = e.place("b", Side.BUY, Decimal("100.4"), Decimal(3), post_only=False, t_ns=2)
    assert sum(ev.qty_lots for ev in events if isinstance(ev, Fill)) == 3
    assert sell(e, "s2", 2)[0].__class__.__name__ == "OrderAccepted"
    (rej,) = sell(e, "s3", 2)  # 2 already offered: 1 free
    assert getattr(rej, "code", None) is RejectCode.INSUFFICIENT_MARGIN
    assert sell(e, "s4", 1)[0].__class__.__name__ == "OrderAccepted"
    # A public buy through both asks: the position never goes short.
    e.on_market(
        Trade(exch_ns=3, local_ns=3, trade_id=1, price_ticks=1010, qty_lots=50, aggressor=Side.BUY),
        3,
    )
    assert e.position_lots == 0


def test_with_margin_borrowing_a_spot_sell_may_go_short() -> None:
    e = engine(spot_short=True)
    assert sell(e, "s1", 2)[0].__class__.__name__ == "OrderAccepted"


def test_futures_are_not_held_to_the_spot_rule() -> None:
    e = MatchingEngine(dataclasses.replace(spot(), kind=InstrumentKind.PERPETUAL), MatchingConfig())
    e.on_market(
        BookSnapshot(exch_ns=0, local_ns=0, update_id=1, bids=((1000, 5),), asks=((1004, 5),)), 0
    )
    assert sell(e, "s1", 2)[0].__class__.__name__ == "OrderAccepted"


def test_spot_fees_default_to_binance_basic_spot_tier() -> None:
    settings = Settings()
    assert with_sim_fees(spot(), settings).maker_fee_rate == pytest.approx(0.001)
    assert with_sim_fees(spot(), settings).taker_fee_rate == pytest.approx(0.001)
    assert with_sim_fees(btcusdt_perpetual(), settings).maker_fee_rate == pytest.approx(0.0002)
    custom = settings.replace("sim", spot_maker_fee_bps=7.5)
    assert with_sim_fees(spot(), custom).maker_fee_rate == pytest.approx(0.00075)


def test_spot_asks_are_cut_to_the_base_held_and_replaced_after_the_cancel() -> None:
    settings = Settings().replace("strategy", order_size=2.0)
    limits = risk_limits(settings, spot())
    assert limits.spot_no_short
    assert not risk_limits(settings, btcusdt_perpetual()).spot_no_short
    assert not risk_limits(settings.replace("sim", spot_short=True), spot()).spot_no_short
    # The old order's balance stays locked until it is cancelled on Binance spot.
    assert not quote_policy(settings, spot()).new_before_cancel
    assert quote_policy(settings, btcusdt_perpetual()).new_before_cancel


@pytest.mark.skipif(not SPOT_DIR.exists(), reason=f"shared recordings not found at {SPOT_DIR}")
@pytest.mark.usefixtures("simulated_catalogs")
def test_a_spot_backtest_never_goes_short_and_pays_the_spot_fee(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADETUI_CACHE_DIR", str(tmp_path))
    paths = sorted(SPOT_DIR.glob("btcusdt_*.gz"))
    inst = infer_instrument(paths).instrument
    events, _data, _cached = load_events(paths, inst)
    # The fee floor off: the spot rules are checked over many fills.
    settings = Settings().replace("strategy", fee_floor=False)
    result = run_backtest(settings, inst, events[: len(events) // 3])
    assert result.fills
    assert min(f.position_lots for f in result.fills) >= 0
    pnl = result.engine.pnl()
    assert float(pnl.fees) == pytest.approx(float(pnl.volume_quote) * 0.001, rel=0.01)  # 10 bps
    assert result.venue.orders_rejected - result.engine.post_only_rejects <= 3


def spot_fine() -> Instrument:
    """Spot BTCUSDT as the catalog has it: sizes in 1e-8 BTC, orders in steps of 0.00001."""
    return dataclasses.replace(
        spot(),
        tick_size=Decimal("0.01"),
        lot_size=Decimal("0.00000001"),
        min_qty=Decimal("0.00001"),
        min_notional=Decimal("5"),
        order_step=Decimal("0.00001"),
    )


def test_a_spot_order_off_the_lot_size_step_is_refused() -> None:
    e = MatchingEngine(spot_fine(), MatchingConfig(spot_short=True))
    e.on_market(
        BookSnapshot(
            exch_ns=0,
            local_ns=0,
            update_id=1,
            bids=((6_000_000, 10**9),),
            asks=((6_000_100, 10**9),),
        ),
        0,
    )
    (rej,) = e.place("a", Side.BUY, Decimal("60000.00"), Decimal("0.0100653"), t_ns=1)
    assert getattr(rej, "code", None) is RejectCode.OFF_STEP
    assert "step size 0.00001" in getattr(rej, "reason", "")
    ok = e.place("b", Side.BUY, Decimal("60000.00"), Decimal("0.01006"), t_ns=1)
    assert ok[0].__class__.__name__ == "OrderAccepted"


def test_the_order_step_survives_the_instrument_spec_and_sizes_floor_to_it() -> None:
    inst = spot_fine()
    assert inst.step_lots == 1000
    assert Instrument.from_spec(inst.to_spec()) == inst
    assert inst.floor_to_step(1_006_530) == 1_006_000
    assert spot().floor_to_step(7) == 7
    with pytest.raises(ValueError, match="multiple of lot_size"):
        dataclasses.replace(inst, order_step=Decimal("0.000015001"))


@pytest.mark.usefixtures("simulated_catalogs")
def test_the_spot_catalog_keeps_binance_lot_size_step() -> None:
    from tradetui.venues.lookup import resolve_instrument

    inst = resolve_instrument("BTCUSDT", "spot")
    assert (inst.lot_size, inst.order_step) == (Decimal("1E-8"), Decimal("0.00001"))


def test_the_guard_cuts_a_spot_ask_to_the_base_held_and_to_whole_steps() -> None:
    from tradetui.risk.guard import RiskGuard, RiskInputs, RiskLimits
    from tradetui.strategy.avellaneda import DesiredQuote

    inst = spot_fine()
    guard = RiskGuard(RiskLimits(spot_no_short=True), inst)

    def ask_after(position_lots: int) -> DesiredQuote | None:
        x = RiskInputs(
            now_ns=1,
            mid_ticks=6_000_050.0,
            position_lots=position_lots,
            open_orders=0,
            last_market_ns=1,
            last_account_ns=1,
            feed_latency_ns=0,
            sigma_ratio=1.0,
        )
        bid = DesiredQuote(Side.BUY, 6_000_000, 1_000_000)
        d = guard.check(bid, DesiredQuote(Side.SELL, 6_000_100, 1_000_000), x)
        reasons.extend(d.reasons)
        return d.ask

    reasons: list[str] = []
    assert ask_after(0) is None  # nothing held: no ask
    # Sizes in the base asset to the order step (0.00001), not in the book's 1e-8 lots.
    base = inst.size_unit
    assert reasons == [f"ask size 0.01000→0.00000 {base}: spot, no more than the base held"]
    held = ask_after(606_530)  # 0.0060653 held: 0.00606 offered
    assert held is not None
    assert held.qty_lots == 606_000
    full = ask_after(5_000_000)
    assert full is not None
    assert full.qty_lots == 1_000_000


def test_a_spot_refusal_names_the_base_free_in_plain_digits() -> None:
    # Zero of a 1e-8 lot is Decimal('0E-8'): the reason reads 0.00000000, never 0E-8.
    e = MatchingEngine(spot_fine(), MatchingConfig())
    e.on_market(
        BookSnapshot(exch_ns=0, local_ns=0, update_id=1, bids=((6_000_000, 10**9),), asks=()), 0
    )
    (rej,) = e.place("s", Side.SELL, Decimal("60001.00"), Decimal("0.01"), t_ns=1)
    assert getattr(rej, "code", None) is RejectCode.INSUFFICIENT_MARGIN
    assert "spot sell of 0.01 needs base the account does not hold: 0.00000000 free" in str(
        getattr(rej, "reason", "")
    )
