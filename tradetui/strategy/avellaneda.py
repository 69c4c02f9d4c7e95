"""Avellaneda–Stoikov (2008) quotes: the closed-form formulas and the live quote decision.

Units inside the engine: prices in ticks (float in the model, int once quantized), σ in
ticks/√s, τ in seconds, k in 1/ticks, A in 1/s. Inventory q is the position divided by the base
order size (``ASParams.order_lots``), so q = 1 means "one full order of inventory". That makes γ
comparable across symbols and order sizes: γ is risk aversion per tick of wealth per order
unit (1/ticks), and q·γ·σ²·τ is how many ticks one order of inventory moves the reservation
price, whatever the lot size or the price level.

The formula functions take floats or numpy arrays (the paper replication vectorises over
paths); each formula exists once and only ``log1p`` is chosen by type, because numpy's ufuncs
on Python floats cost about a microsecond each and ``compute_quotes`` runs in backtest loops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

import msgspec
import numpy as np
import numpy.typing as npt

from tradetui.core.instrument import Instrument
from tradetui.core.types import BUY, SELL, Side
from tradetui.core.units import sizes

F = TypeVar("F", float, npt.NDArray[np.float64])

_NS_PER_S = 1_000_000_000


def _log1p(x: F) -> F:
    if isinstance(x, float):
        return math.log1p(x)
    return np.log1p(x)


# ---- formulas (units as the caller's: ticks in the engine, price in the paper) -------------


def inventory_term(q: F, gamma: float, sigma: float, tau_s: float) -> F:
    """Shift of the reservation price below the mid, q·γ·σ²·τ (price units)."""
    return q * gamma * sigma * sigma * tau_s


def reservation_price(mid: F, q: F, gamma: float, sigma: float, tau_s: float) -> F:
    """Indifference price r = s − q·γ·σ²·τ (price units)."""
    return mid - inventory_term(q, gamma, sigma, tau_s)


def optimal_spread(gamma: float, sigma: float, tau_s: F, k: float) -> F:
    """Total optimal spread δ = γσ²τ + (2/γ)·ln(1 + γ/k) (price units; → 2/k as γ → 0)."""
    return gamma * sigma * sigma * tau_s + (2.0 / gamma) * _log1p(gamma / k)


# ---- parameters ------------------------------------------------------------------------------


class HorizonMode(StrEnum):
    """How τ is chosen.

    FINITE: the paper's setting, τ = T − t inside sessions of length ``horizon_s`` that restart
    back to back, so the inventory penalty fades towards each session end and jumps back.
    ROLLING: τ = ``horizon_s`` always, the infinite-horizon approximation used in practice
    (Hummingbot and most live bots): a constant penalty, no end-of-session drift.
    """

    FINITE = "finite"
    ROLLING = "rolling"


_ROLLING = HorizonMode.ROLLING  # a module global: an enum member off its class costs ~160 ns


@dataclass(frozen=True, slots=True)
class ASParams:
    """Strategy parameters; defaults are a starting point for BTCUSDT USD-M, not a tuning.

    gamma: risk aversion, 1/ticks per order unit of inventory. horizon_s: T (finite) or the
    constant τ (rolling), seconds. order_lots: base order size. min/max_spread_ticks: clamp on
    the model's total spread before quantization (rounding each side outwards can add up to
    two ticks). eta: size skew, the side that grows |q| is scaled by exp(−eta·|q|).
    max_position_lots: no quote whose fill would take |position| beyond this. fee_floor: no
    side closer to the mid than the maker fee plus the adverse-selection allowance (both in
    bps of the mid, ``compute_quotes``); it overrides the max spread clamp.
    """

    gamma: float = 0.001
    horizon_mode: HorizonMode = HorizonMode.ROLLING
    horizon_s: float = 5.0
    order_lots: int = 2
    min_spread_ticks: int = 2
    max_spread_ticks: int = 400
    eta: float = 0.5
    max_position_lots: int = 20
    fee_floor: bool = True

    def __post_init__(self) -> None:
        _require(
            math.isfinite(self.gamma) and self.gamma > 0,
            f"gamma must be > 0 (got {self.gamma}); "
            "set strategy.gamma to a small positive number like 0.001",
        )
        _require(
            math.isfinite(self.horizon_s) and self.horizon_s > 0,
            f"horizon_s must be > 0 (got {self.horizon_s}); "
            "set strategy.horizon_s to the horizon in seconds, e.g. 5",
        )
        _require(
            self.order_lots >= 1,
            f"order_lots must be >= 1 (got {self.order_lots}); "
            "set strategy.order_size (strategy.order_contracts for inverse contracts) to at "
            "least one lot",
        )
        _require(
            self.min_spread_ticks >= 1,
            f"min_spread_ticks must be >= 1 (got {self.min_spread_ticks}); "
            "set strategy.min_spread_ticks to 1 or more so bid and ask never meet",
        )
        _require(
            self.max_spread_ticks >= self.min_spread_ticks,
            f"max_spread_ticks must be >= min_spread_ticks ({self.min_spread_ticks}) "
            f"(got {self.max_spread_ticks}); raise strategy.max_spread_ticks",
        )
        _require(
            math.isfinite(self.eta) and self.eta >= 0,
            f"eta must be >= 0 (got {self.eta}); set strategy.eta to 0 for no size skew "
            "or a small positive number like 0.5",
        )
        _require(
            self.max_position_lots >= self.order_lots,
            f"max_position_lots must be >= order_lots ({self.order_lots}) "
            f"(got {self.max_position_lots}); "
            "raise risk.max_position_base or risk.max_position_contracts to at least one "
            "order (strategy.order_size, or strategy.order_contracts for inverse contracts)",
        )


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def time_to_horizon_s(params: ASParams, now_ns: int, session_start_ns: int) -> float:
    """τ in seconds for ``now_ns``: constant when rolling, T − (elapsed mod T) when finite."""
    if params.horizon_mode is _ROLLING:
        return params.horizon_s
    elapsed_s = (now_ns - session_start_ns) / _NS_PER_S
    return params.horizon_s - elapsed_s % params.horizon_s


# ---- the live decision -----------------------------------------------------------------------


# The values of a decision are frozen msgspec Structs rather than frozen dataclasses: they are
# built on every decision (thousands a second in a backtest), and a frozen dataclass costs
# about 0.1 µs a field to build. Both compare, hash and print alike.
class DesiredQuote(msgspec.Struct, frozen=True, gc=False):
    """One side's target order: price in ticks, size in lots."""

    side: Side
    price_ticks: int
    qty_lots: int


class QuoteInputs(msgspec.Struct, frozen=True, gc=False):
    """Market state for one decision: prices in ticks, σ ticks/√s, k 1/ticks, A 1/s, ns times."""

    mid_ticks: float
    best_bid_ticks: int
    best_ask_ticks: int
    sigma_ticks: float
    k: float
    a: float
    position_lots: int
    now_ns: int
    session_start_ns: int
    adverse_bps: float = 0.0  # adverse-selection allowance, bps of the mid (≥ 0)


class QuoteDecision(msgspec.Struct, frozen=True, gc=False):
    """Quotes plus every number that produced them (ticks, seconds, order units)."""

    bid: DesiredQuote | None
    ask: DesiredQuote | None
    mid_ticks: float
    reservation_ticks: float
    inventory_term_ticks: float
    spread_ticks: float  # model δ before the min/max clamp
    bid_half_spread_ticks: float | None  # r − bid price as quoted; None when pulled
    ask_half_spread_ticks: float | None  # ask price − r as quoted; None when pulled
    sigma_ticks: float
    k: float
    a: float
    q: float
    tau_s: float
    adjustments: tuple[str, ...]
    # The fee floor: no side nearer the mid than floor_ticks = (fee + adverse) bps of the mid;
    # 0 when off or when a maker rebate covers the allowance.
    floor_ticks: float = 0.0
    fee_bps: float = 0.0
    adverse_bps: float = 0.0


def compute_quotes(inputs: QuoteInputs, params: ASParams, instrument: Instrument) -> QuoteDecision:
    """Bid/ask to work now, and why: prices in ticks, sizes in lots."""
    tau_s = time_to_horizon_s(params, inputs.now_ns, inputs.session_start_ns)
    q = inputs.position_lots / params.order_lots
    mid = inputs.mid_ticks
    sigma = inputs.sigma_ticks
    k = inputs.k
    best_bid = inputs.best_bid_ticks
    best_ask = inputs.best_ask_ticks
    nan = math.nan

    # NaN fails every comparison, so these also catch missing estimates.
    if not (k > 0.0 and sigma >= 0.0 and mid > 0.0):
        why = f"both pulled: unusable inputs (mid {mid}, σ {sigma}, k {k})"
        return QuoteDecision(
            None, None, mid, nan, nan, nan, None, None, sigma, k, inputs.a, q, tau_s, (why,)
        )
    if best_bid >= best_ask:
        why = f"both pulled: book crossed or locked (bid {best_bid} ≥ ask {best_ask})"
        return QuoteDecision(
            None, None, mid, nan, nan, nan, None, None, sigma, k, inputs.a, q, tau_s, (why,)
        )

    gamma = params.gamma
    inv = inventory_term(q, gamma, sigma, tau_s)
    r = reservation_price(mid, q, gamma, sigma, tau_s)
    spread = optimal_spread(gamma, sigma, tau_s, k)
    notes: list[str] = []
    used = spread
    if used < params.min_spread_ticks:
        used = float(params.min_spread_ticks)
        notes.append(f"min spread clamp {spread:.3g}→{params.min_spread_ticks} ticks")
    elif used > params.max_spread_ticks:
        used = float(params.max_spread_ticks)
        notes.append(f"max spread clamp {spread:.4g}→{params.max_spread_ticks} ticks")

    tick = instrument.tick
    bid_px = instrument.quantize_price((r - used / 2.0) * tick, BUY)
    ask_px = instrument.quantize_price((r + used / 2.0) * tick, SELL)
    floor = 0.0
    fee_bps = adverse_bps = 0.0
    if params.fee_floor:
        # A fill h ticks from the mid earns h, pays the fee and loses the adverse move, all
        # proportional to the price: on an inverse contract too, as a bps of the mid.
        fee_bps = instrument.maker_fee_rate * 1e4
        adverse_bps = inputs.adverse_bps
        floor_bps = fee_bps + adverse_bps
        if floor_bps > 0.0:
            floor = floor_bps * 1e-4 * mid
            lo = math.floor(mid - floor + 1e-9)
            hi = math.ceil(mid + floor - 1e-9)
            # The floor binds on most decisions: its note formats integers only (its bps
            # are in the decision's fields), as formatting floats costs a microsecond each.
            if bid_px > lo:
                if ask_px < hi:
                    notes.append(f"fee floor: bid {lo - bid_px:+d}, ask +{hi - ask_px} ticks")
                    ask_px = hi
                else:
                    notes.append(f"fee floor: bid {lo - bid_px:+d} ticks")
                bid_px = lo
            elif ask_px < hi:
                notes.append(f"fee floor: ask +{hi - ask_px} ticks")
                ask_px = hi
    if bid_px > best_ask - 1:
        notes.append(f"bid lowered to best ask−1 for post-only ({bid_px}→{best_ask - 1})")
        bid_px = best_ask - 1
    if ask_px < best_bid + 1:
        notes.append(f"ask lifted to best bid+1 for post-only ({ask_px}→{best_bid + 1})")
        ask_px = best_bid + 1

    # Hummingbot-style skew: only the side that would grow |inventory| shrinks.
    skew = math.exp(-params.eta * abs(q))
    bid_lots = _side_lots(BUY, bid_px, q, skew, inputs.position_lots, params, instrument, notes)
    ask_lots = _side_lots(SELL, ask_px, q, skew, inputs.position_lots, params, instrument, notes)
    bid = DesiredQuote(BUY, bid_px, bid_lots) if bid_lots else None
    ask = DesiredQuote(SELL, ask_px, ask_lots) if ask_lots else None
    return QuoteDecision(
        bid,
        ask,
        mid,
        r,
        inv,
        spread,
        r - bid_px if bid else None,
        ask_px - r if ask else None,
        sigma,
        k,
        inputs.a,
        q,
        tau_s,
        tuple(notes),
        floor,
        fee_bps,
        adverse_bps,
    )


def _side_lots(
    side: Side,
    price_ticks: int,
    q: float,
    skew: float,
    position_lots: int,
    params: ASParams,
    instrument: Instrument,
    notes: list[str],
) -> int:
    """Size in lots for one side, or 0 when the side is pulled (the reason goes to ``notes``)."""
    name = "bid" if side is BUY else "ask"
    if price_ticks <= 0:
        notes.append(f"{name} pulled: price {price_ticks} ticks ≤ 0")
        return 0
    lots = params.order_lots
    if q * side > 0:
        raw = lots * skew
        lots = instrument.quantize_qty(raw * instrument.lot)
        if lots == 0:
            notes.append(f"{name} pulled: skewed size {sizes(instrument, raw)} rounds to 0")
            return 0
        if lots != params.order_lots:
            notes.append(
                f"{name} size {sizes(instrument, params.order_lots, lots)} by inventory skew"
            )
    min_lots = instrument.min_lots_at(price_ticks)
    if lots < min_lots:
        notes.append(f"{name} size lifted {sizes(instrument, lots, min_lots)} to venue minimum")
        lots = min_lots
    after = position_lots + side * lots
    if abs(after) > params.max_position_lots and abs(after) > abs(position_lots):
        unit = instrument.size_unit
        notes.append(
            f"{name} pulled: position {instrument.qty(position_lots):f} {unit} "
            f"{'+' if side is BUY else '−'} {instrument.qty(lots):f} would exceed "
            f"max {instrument.qty(params.max_position_lots):f} {unit}"
        )
        return 0
    return lots
