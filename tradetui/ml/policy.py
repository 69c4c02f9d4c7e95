"""How the model's probabilities change a quote decision (pure).

With p_up and p_down the probabilities that the mid moves up / down by more than the model's
threshold within its horizon:
- skew: both quotes move by round((p_up − p_down) · skew_ticks) ticks (towards the expected
  move, like shifting the reservation price);
- widen: the bid, which a down move fills adversely, drops by round(p_down · widen_ticks);
  the ask rises by round(p_up · widen_ticks);
- pull: the bid is pulled when p_down > pull_threshold, the ask when p_up > pull_threshold.
Quotes stay post-only (bid ≤ best ask − 1, ask ≥ best bid + 1). The adjustment is appended to
the decision's ``adjustments`` with the probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from tradetui.core.types import Side
from tradetui.strategy.avellaneda import DesiredQuote, QuoteDecision


@dataclass(frozen=True, slots=True)
class PolicyParams:
    """skew_ticks and widen_ticks in ticks per unit probability; pull_threshold in (0, 1]."""

    skew_ticks: float
    widen_ticks: float
    pull_threshold: float


def apply_policy(
    d: QuoteDecision,
    p_down: float,
    p_up: float,
    best_bid_ticks: int,
    best_ask_ticks: int,
    params: PolicyParams,
) -> QuoteDecision:
    """``d`` with its quotes skewed, widened or pulled by the model's probabilities."""
    shift = round((p_up - p_down) * params.skew_ticks)
    widen_bid = round(p_down * params.widen_ticks)
    widen_ask = round(p_up * params.widen_ticks)
    parts = [f"ml p_up {p_up:.2f} p_down {p_down:.2f}"]
    if shift:
        parts.append(f"shift {shift:+d} ticks")
    bid, ask = d.bid, d.ask
    if bid is not None:
        if p_down > params.pull_threshold:
            parts.append(f"bid pulled (p_down > {params.pull_threshold:g})")
            bid = None
        else:
            px = min(bid.price_ticks + shift - widen_bid, best_ask_ticks - 1)
            if widen_bid:
                parts.append(f"bid widened {widen_bid} ticks")
            bid = DesiredQuote(Side.BUY, px, bid.qty_lots) if px > 0 else None
    if ask is not None:
        if p_up > params.pull_threshold:
            parts.append(f"ask pulled (p_up > {params.pull_threshold:g})")
            ask = None
        else:
            px = max(ask.price_ticks + shift + widen_ask, best_bid_ticks + 1)
            if widen_ask:
                parts.append(f"ask widened {widen_ask} ticks")
            ask = DesiredQuote(Side.SELL, px, ask.qty_lots)
    r = d.reservation_ticks
    return msgspec.structs.replace(
        d,
        bid=bid,
        ask=ask,
        bid_half_spread_ticks=r - bid.price_ticks if bid else None,
        ask_half_spread_ticks=ask.price_ticks - r if ask else None,
        adjustments=(*d.adjustments, ", ".join(parts)),
    )


def pull_both(d: QuoteDecision, why: str) -> QuoteDecision:
    """``d`` with both quotes pulled and ``why`` noted."""
    return msgspec.structs.replace(
        d,
        bid=None,
        ask=None,
        bid_half_spread_ticks=None,
        ask_half_spread_ticks=None,
        adjustments=(*d.adjustments, why),
    )
