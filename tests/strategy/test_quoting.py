"""Requoting rules: desired quotes → places and cancels."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from tradetui.core.types import Side
from tradetui.strategy.avellaneda import DesiredQuote
from tradetui.strategy.quoting import CancelStep, PlaceStep, QuotePolicy, plan

S = 1_000_000_000


@dataclass(frozen=True)
class Working:
    """A working order as plain values (the engine passes its own records)."""

    client_id: str
    side: Side
    price_ticks: int
    qty_lots: int
    leaves_lots: int
    placed_ns: int
    acked: bool
    cancel_pending: bool


NOW = 1_000 * S
POLICY = QuotePolicy(
    price_tolerance_ticks=1,
    max_age_ns=30 * S,
    min_age_ns=S,
    new_before_cancel=True,
    max_side_lots=20,
    size_tolerance=0.1,
    tick_size=Decimal("0.1"),  # reasons read in prices and sizes: BTCUSDT's grids
    lot_size=Decimal("0.001"),
)


def bid(price: int = 612_338, qty: int = 5) -> DesiredQuote:
    return DesiredQuote(Side.BUY, price, qty)


def ask(price: int = 612_350, qty: int = 5) -> DesiredQuote:
    return DesiredQuote(Side.SELL, price, qty)


def order(
    client_id: str = "b1",
    side: Side = Side.BUY,
    price: int = 612_338,
    qty: int = 5,
    *,
    leaves: int | None = None,
    age_s: float = 5.0,
    acked: bool = True,
    cancel_pending: bool = False,
) -> Working:
    return Working(
        client_id=client_id,
        side=side,
        price_ticks=price,
        qty_lots=qty,
        leaves_lots=qty if leaves is None else leaves,
        placed_ns=NOW - int(age_s * S),
        acked=acked,
        cancel_pending=cancel_pending,
    )


def test_places_a_new_order_on_an_empty_side() -> None:
    p = plan({Side.BUY: bid(), Side.SELL: None}, [], NOW, POLICY)
    assert p.places == (bid(),)
    assert p.cancels == ()
    assert p.reasons == ("bid new at 61,233.8 × 0.005",)


def test_keeps_an_order_within_price_tolerance() -> None:
    p = plan({Side.BUY: bid(612_339)}, [order(price=612_338)], NOW, POLICY)
    assert p.steps == ()


def test_replaces_an_order_off_target_by_more_than_tolerance() -> None:
    p = plan({Side.BUY: bid(612_338)}, [order(price=612_340)], NOW, POLICY)
    assert p.places == (bid(612_338),)
    assert p.cancels == ("b1",)
    assert "bid 61,234.0 → 61,233.8: off target by 2 ticks > tolerance 1" in p.reasons


def test_replaces_an_order_whose_size_is_off_by_more_than_tolerance() -> None:
    p = plan({Side.BUY: bid(qty=8)}, [order(qty=5)], NOW, POLICY)
    assert p.cancels == ("b1",)
    assert "bid size 0.005 → 0.008: off by 38% > tolerance 10%" in p.reasons


def test_keeps_a_partially_filled_order_judged_by_its_original_size() -> None:
    p = plan({Side.BUY: bid(qty=5)}, [order(qty=5, leaves=1)], NOW, POLICY)
    assert p.steps == ()


def test_replaces_an_order_older_than_max_age() -> None:
    p = plan({Side.SELL: ask()}, [order("a1", Side.SELL, 612_350, age_s=30.2)], NOW, POLICY)
    assert p.cancels == ("a1",)
    assert "ask aged 30.2 s ≥ max 30 s" in p.reasons


def test_never_replaces_an_order_younger_than_min_age() -> None:
    p = plan({Side.BUY: bid(612_300)}, [order(price=612_338, age_s=0.5)], NOW, POLICY)
    assert p.steps == ()


def test_pull_cancels_at_once_even_a_young_order() -> None:
    p = plan({Side.BUY: None}, [order(age_s=0.01, acked=False)], NOW, POLICY)
    assert p.cancels == ("b1",)
    assert p.places == ()
    assert p.reasons == ("bid pulled: no desired quote",)


def test_a_side_missing_from_desired_is_pulled() -> None:
    p = plan({}, [order("a1", Side.SELL, 612_350)], NOW, POLICY)
    assert p.cancels == ("a1",)
    assert p.reasons == ("ask pulled: no desired quote",)


def test_cancel_pending_orders_are_not_cancelled_again() -> None:
    working = [order("b0", price=612_300, cancel_pending=True)]
    p = plan({Side.BUY: None}, working, NOW, POLICY)
    assert p.steps == ()
    p = plan({Side.BUY: bid()}, working, NOW, POLICY)
    assert p.places == (bid(),)
    assert p.cancels == ()


def test_cancel_pending_leaves_count_toward_side_exposure() -> None:
    # 12 pending + 5 live + 5 new = 22 > 20: the old order must go first.
    working = [order("b0", qty=12, cancel_pending=True), order("b1", price=612_300)]
    p = plan({Side.BUY: bid()}, working, NOW, POLICY)
    assert isinstance(p.steps[0], CancelStep)
    assert p.steps[0].client_id == "b1"
    assert isinstance(p.steps[1], PlaceStep)


def test_extra_live_orders_are_cancelled_keeping_the_nearest() -> None:
    working = [
        order("far", price=612_300, age_s=0.1),
        order("near", price=612_338),
        order("other", price=612_345, age_s=0.1),
    ]
    p = plan({Side.BUY: bid()}, working, NOW, POLICY)
    assert set(p.cancels) == {"far", "other"}
    assert p.places == ()
    assert "bid extra order far: one live order per side" in p.reasons


def test_new_order_goes_before_the_cancel_when_exposure_allows() -> None:
    p = plan({Side.BUY: bid()}, [order(price=612_300)], NOW, POLICY)
    assert isinstance(p.steps[0], PlaceStep)
    assert isinstance(p.steps[1], CancelStep)
    assert p.steps[0].reason == "bid place 61,233.8 × 0.005 before cancelling b1"
    assert p.actions == (bid(), "b1")


def test_cancel_goes_first_when_combined_leaves_exceed_max_side() -> None:
    policy = QuotePolicy(max_side_lots=9, min_age_ns=S, max_age_ns=30 * S)
    p = plan({Side.BUY: bid()}, [order(price=612_300)], NOW, policy)
    assert isinstance(p.steps[0], CancelStep)
    assert isinstance(p.steps[1], PlaceStep)
    assert p.steps[1].reason.endswith("(side would hold 10 > max 9)")
    assert p.actions == ("b1", bid())


def test_cancel_goes_first_when_new_before_cancel_is_off() -> None:
    policy = QuotePolicy(new_before_cancel=False, min_age_ns=S, max_age_ns=30 * S)
    p = plan({Side.BUY: bid()}, [order(price=612_300)], NOW, policy)
    assert [type(s) for s in p.steps] == [CancelStep, PlaceStep]


def test_force_replace_replaces_an_on_target_order() -> None:
    p = plan({Side.BUY: bid()}, [order()], NOW, POLICY, force_replace=True)
    assert p.cancels == ("b1",)
    assert p.places == (bid(),)
    assert "bid replaced: quote size changed in config" in p.reasons


def test_force_replace_still_waits_for_min_age() -> None:
    p = plan({Side.BUY: bid()}, [order(age_s=0.5)], NOW, POLICY, force_replace=True)
    assert p.steps == ()


def test_unacked_order_is_not_replaced() -> None:
    p = plan({Side.BUY: bid(612_300)}, [order(acked=False)], NOW, POLICY)
    assert p.steps == ()


def test_each_side_is_planned_independently() -> None:
    working = [order("b1", price=612_300), order("a1", Side.SELL, 612_350)]
    p = plan({Side.BUY: bid(), Side.SELL: ask()}, working, NOW, POLICY)
    assert p.cancels == ("b1",)
    assert p.places == (bid(),)


def test_policy_rejects_bad_values_with_a_fix() -> None:
    with pytest.raises(ValueError, match=r"max_age_ns must be > min_age_ns \(5\) \(got 5\)"):
        QuotePolicy(min_age_ns=5, max_age_ns=5)
    with pytest.raises(ValueError, match=r"size_tolerance must be >= 0 \(got -0.5\)"):
        QuotePolicy(size_tolerance=-0.5)
