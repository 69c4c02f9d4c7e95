"""Desired quotes → order actions, requoting only when it is worth it.

Lessons from production bots (PRODUCT.md "Requoting"): an order replaced on every tick never
rests long enough to fill, so a working order is kept while it is close enough to the target
and young enough; a minimum age stops churn; the replacement goes in before the cancel when
the side's exposure allows it, so the book never sees us vanish.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

import msgspec

from tradetui.core.types import BUY, SELL, Side
from tradetui.strategy.avellaneda import DesiredQuote

_NS_PER_S = 1_000_000_000


class WorkingOrder(Protocol):
    """One of our resting orders as the engine tracks it: ticks, lots, ns; read only here.

    The engine hands its own order records to ``plan``, so a decision copies none of them.
    """

    @property
    def client_id(self) -> str: ...
    @property
    def side(self) -> Side: ...
    @property
    def price_ticks(self) -> int: ...
    @property
    def qty_lots(self) -> int: ...  # original size
    @property
    def leaves_lots(self) -> int: ...
    @property
    def placed_ns(self) -> int: ...
    @property
    def acked(self) -> bool: ...
    @property
    def cancel_pending(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class QuotePolicy:
    """When to keep, replace or cancel working orders.

    price_tolerance_ticks: keep while |price − target| is at most this. size_tolerance: keep
    while |original size − desired| ≤ this fraction of the desired size. max_age_ns: replace an
    order this old even if on target (refreshes queue-stale quotes). min_age_ns: never replace
    a younger order. new_before_cancel: place the replacement first when the side's working
    leaves plus the new size stay within max_side_lots.
    """

    price_tolerance_ticks: int = 1
    max_age_ns: int = 30 * _NS_PER_S
    min_age_ns: int = 500_000_000
    new_before_cancel: bool = True
    max_side_lots: int = 40
    size_tolerance: float = 0.1
    # Grids the reasons are written in (a reason shows prices and sizes, not tick counts).
    tick_size: Decimal = Decimal(1)
    lot_size: Decimal = Decimal(1)

    def px(self, ticks: int) -> str:
        """A price for a reason: exact, from ticks."""
        return f"{ticks * self.tick_size:,f}"

    def qty(self, lots: int) -> str:
        """A size for a reason (order units: base, or contracts): exact, from lots."""
        return f"{lots * self.lot_size:f}"

    def __post_init__(self) -> None:
        checks = (
            (
                self.price_tolerance_ticks >= 0,
                f"price_tolerance_ticks must be >= 0 (got {self.price_tolerance_ticks}); "
                "set quoting.price_tolerance_ticks to 0 to follow every tick, or more",
            ),
            (
                self.min_age_ns >= 0,
                f"min_age_ns must be >= 0 (got {self.min_age_ns}); "
                "set quoting.min_age_ms to 0 or more",
            ),
            (
                self.max_age_ns > self.min_age_ns,
                f"max_age_ns must be > min_age_ns ({self.min_age_ns}) (got {self.max_age_ns}); "
                "raise quoting.max_age_s",
            ),
            (
                self.max_side_lots >= 1,
                f"max_side_lots must be >= 1 (got {self.max_side_lots}); "
                "allow at least one lot of working orders per side",
            ),
            (
                self.size_tolerance >= 0.0,
                f"size_tolerance must be >= 0 (got {self.size_tolerance}); "
                "set quoting.size_tolerance to a fraction like 0.1",
            ),
        )
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


# Built per decision: Structs, as the decision's values (see strategy.avellaneda).
class PlaceStep(msgspec.Struct, frozen=True, gc=False):
    quote: DesiredQuote
    reason: str


class CancelStep(msgspec.Struct, frozen=True, gc=False):
    client_id: str
    reason: str


PlanStep = PlaceStep | CancelStep


class QuotePlan(msgspec.Struct, frozen=True, gc=False):
    """Actions in the order they must be sent, each with its human-readable reason."""

    steps: tuple[PlanStep, ...]

    @property
    def actions(self) -> tuple[DesiredQuote | str, ...]:
        """Orders to place (quotes) and to cancel (client ids), in send order."""
        return tuple(s.quote if isinstance(s, PlaceStep) else s.client_id for s in self.steps)

    @property
    def places(self) -> tuple[DesiredQuote, ...]:
        return tuple(s.quote for s in self.steps if isinstance(s, PlaceStep))

    @property
    def cancels(self) -> tuple[str, ...]:
        return tuple(s.client_id for s in self.steps if isinstance(s, CancelStep))

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(s.reason for s in self.steps)


def plan(
    desired: Mapping[Side, DesiredQuote | None],
    working: Sequence[WorkingOrder],
    now_ns: int,
    policy: QuotePolicy,
    *,
    force_replace: bool = False,
) -> QuotePlan:
    """Order actions that move ``working`` towards ``desired`` (a missing side means pull).

    ``force_replace`` replaces on-target orders too (a size change in the config); it still
    waits for min age. Sides are planned independently, bid first.
    """
    steps: list[PlanStep] = []
    for side in (BUY, SELL):
        mine = [o for o in working if o.side is side]
        steps.extend(_plan_side(side, desired.get(side), mine, now_ns, policy, force_replace))
    return QuotePlan(tuple(steps))


def _plan_side(
    side: Side,
    target: DesiredQuote | None,
    orders: list[WorkingOrder],
    now_ns: int,
    policy: QuotePolicy,
    force_replace: bool,
) -> list[PlanStep]:
    name = "bid" if side is BUY else "ask"
    live: list[WorkingOrder] = []
    pending_lots = 0
    for o in orders:
        if o.cancel_pending:
            pending_lots += o.leaves_lots
        else:
            live.append(o)

    # A pull is a risk decision, so it ignores min age.
    if target is None:
        return [CancelStep(o.client_id, f"{name} pulled: no desired quote") for o in live]
    if not live:
        return [
            PlaceStep(
                target,
                f"{name} new at {policy.px(target.price_ticks)} × {policy.qty(target.qty_lots)}",
            )
        ]

    # One live order per side: keep the one nearest the target (newest on ties). Extras are
    # exposure we never meant to have, not a requote, so they go at once like a pull.
    if len(live) == 1:  # the usual case, no choice to make
        keep = live[0]
        steps: list[PlanStep] = []
    else:
        keep = min(live, key=lambda o: (abs(o.price_ticks - target.price_ticks), -o.placed_ns))
        steps = [
            CancelStep(o.client_id, f"{name} extra order {o.client_id}: one live order per side")
            for o in live
            if o is not keep
        ]
    # An unacked order may not be on the book yet; replacing it races its own ack. Tested
    # before the reason, which is only worth writing for an order that may go.
    if not keep.acked or now_ns - keep.placed_ns < policy.min_age_ns:
        return steps
    why = _replace_reason(name, keep, target, now_ns, policy, force_replace)
    if why is None:
        return steps

    cancel = CancelStep(keep.client_id, why)
    exposure = pending_lots + keep.leaves_lots + target.qty_lots
    if policy.new_before_cancel and exposure <= policy.max_side_lots:
        place = PlaceStep(
            target,
            f"{name} place {policy.px(target.price_ticks)} × {policy.qty(target.qty_lots)} "
            f"before cancelling {keep.client_id}",
        )
        return [*steps, place, cancel]
    place = PlaceStep(
        target,
        f"{name} place {policy.px(target.price_ticks)} × {policy.qty(target.qty_lots)} after "
        f"cancelling {keep.client_id} (side would hold {policy.qty(exposure)} > max "
        f"{policy.qty(policy.max_side_lots)})",
    )
    return [*steps, cancel, place]


def _replace_reason(
    name: str,
    order: WorkingOrder,
    target: DesiredQuote,
    now_ns: int,
    policy: QuotePolicy,
    force_replace: bool,
) -> str | None:
    """Why ``order`` should give way to ``target``, or None when it is good enough."""
    off_ticks = abs(order.price_ticks - target.price_ticks)
    if off_ticks > policy.price_tolerance_ticks:
        return (
            f"{name} {policy.px(order.price_ticks)} → {policy.px(target.price_ticks)}: off "
            f"target by {off_ticks} ticks > tolerance {policy.price_tolerance_ticks}"
        )
    off_lots = abs(order.qty_lots - target.qty_lots)
    if off_lots > policy.size_tolerance * target.qty_lots:
        return (
            f"{name} size {policy.qty(order.qty_lots)} → {policy.qty(target.qty_lots)}: off by "
            f"{off_lots / max(target.qty_lots, 1):.0%} > tolerance {policy.size_tolerance:.0%}"
        )
    age_ns = now_ns - order.placed_ns
    if age_ns >= policy.max_age_ns:
        return f"{name} aged {age_ns / _NS_PER_S:.1f} s ≥ max {policy.max_age_ns / _NS_PER_S:g} s"
    if force_replace:
        return f"{name} replaced: quote size changed in config"
    return None
