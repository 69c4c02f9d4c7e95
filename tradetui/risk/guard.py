"""The risk guard: every quote passes here before it can become an order.

Pure (no I/O) but stateful: it remembers the PnL peaks, recent order and reject times and the
one-sided (hysteresis) mode. Each limit has one action — allow, clamp, one-sided, pull or
halt — and a reason a person can read. A limit set to 0 is off.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from enum import IntEnum

import msgspec

from tradetui.core.instrument import Instrument
from tradetui.core.types import BUY, SELL, Side
from tradetui.core.units import sizes
from tradetui.strategy.avellaneda import DesiredQuote

_DAY_NS = 86_400 * 1_000_000_000
_HOUR_NS = 3_600 * 1_000_000_000
# Tolerance, in lots, for a limit that is a whole number of lots in decimal but lands a hair
# below it in binary floating point (0.1 / 0.001 == 99.99999999999999).
_LOT_EPS = 1e-7


class RiskAction(IntEnum):
    """Ordered by severity: a decision takes the most severe action any limit asks for."""

    ALLOW = 0
    CLAMP = 1
    ONE_SIDED = 2
    PULL = 3
    HALT = 4


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Limits in engine units (lots, ticks, ns) or in the asset their name ends with.

    0 disables a limit. ``_lots`` limits count order units (contracts for inverse contracts,
    the base asset for linear and spot); ``_base`` limits count the base asset (an inverse
    position's value in the coin at the mid); ``_quote`` limits the quote asset (USD face
    value for inverse contracts). ``equity`` is in the margin asset (the settlement asset:
    the coin for inverse contracts). Drawdowns are in quote; an inverse account's coin PnL is
    valued at the mid.
    """

    max_position_lots: int = 0
    max_position_base: float = 0.0
    max_position_quote: float = 0.0
    equity: float = 0.0
    leverage: float = 1.0
    max_equity_fraction: float = 0.0  # |position value| ≤ fraction × equity × leverage
    one_sided_enter: float = 0.8  # fraction of the position limit that starts one-sided mode
    one_sided_exit: float = 0.5  # fraction below which two-sided quoting resumes
    max_order_lots: int = 0
    max_order_base: float = 0.0
    max_order_quote: float = 0.0
    price_band_bps: float = 0.0  # quotes farther than this from mid are pulled
    max_open_orders: int = 0
    max_drawdown_session: float = 0.0  # quote, from the session's PnL peak
    max_drawdown_day: float = 0.0  # quote, from the UTC day's PnL peak
    max_loss_per_hour: float = 0.0  # quote, drop from the highest PnL within the last hour
    stale_market_ns: int = 0
    stale_account_ns: int = 0
    order_budget: int = 0  # placements allowed per order_window_ns
    order_window_ns: int = 10_000_000_000
    reject_burst: int = 0  # rejects (post-only ones excluded) within reject_window_ns → halt
    reject_window_ns: int = 10_000_000_000
    latency_widen_ns: int = 0  # feed latency above this widens each side by latency_widen_ticks
    latency_widen_ticks: int = 0
    latency_pull_ns: int = 0  # feed latency above this pulls both sides
    vol_ratio_limit: float = 0.0  # σ fast / σ slow above this widens and cuts size
    vol_widen_factor: float = 1.5  # half-spreads × this in a high-volatility regime
    vol_size_factor: float = 0.5  # sizes × this in a high-volatility regime
    # Spot without margin borrowing: an ask is cut to the base held, so no sell is sent that
    # the venue would refuse for insufficient balance.
    spot_no_short: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.one_sided_exit <= self.one_sided_enter <= 1:
            raise ValueError(
                "risk.one_sided_exit must be > 0 and <= risk.one_sided_enter <= 1 "
                f"(got exit {self.one_sided_exit}, enter {self.one_sided_enter})"
            )
        if self.vol_widen_factor < 1 or not 0 < self.vol_size_factor <= 1:
            raise ValueError(
                "risk.vol_widen_factor must be >= 1 and risk.vol_size_factor in (0, 1] "
                f"(got {self.vol_widen_factor}, {self.vol_size_factor})"
            )


# Built per decision: Structs, as the decision's values (see strategy.avellaneda).
class RiskDecision(msgspec.Struct, frozen=True, gc=False):
    """The verdict: quotes to work, the action, the limits that acted and why (for people)."""

    action: RiskAction
    bid: DesiredQuote | None
    ask: DesiredQuote | None
    reasons: tuple[str, ...]
    limits: tuple[str, ...] = ()

    @property
    def summary(self) -> str:
        """One line for status bars and logs."""
        if not self.reasons:
            return self.action.name.lower()
        return f"{self.action.name.lower()}: " + "; ".join(self.reasons)


class RiskInputs(msgspec.Struct, frozen=True, gc=False):
    now_ns: int
    mid_ticks: float
    position_lots: int
    open_orders: int
    last_market_ns: int  # local receive time of the newest market event
    last_account_ns: int  # when the venue last confirmed our position and orders
    feed_latency_ns: int  # smoothed local − exchange time of market events
    sigma_ratio: float  # σ fast / σ slow


class RiskGuard:
    """Applies RiskLimits to desired quotes; remembers what it needs between decisions."""

    def __init__(self, limits: RiskLimits, instrument: Instrument) -> None:
        self.limits = limits
        self.instrument = instrument
        self.one_sided = False
        self.halt_reason = ""
        self._session_peak = 0.0
        self._day = -1
        self._day_peak = 0.0
        # (t_ns, pnl) over the last hour, PnL strictly decreasing: the head is the hour's high.
        self._hour: deque[tuple[int, float]] = deque()
        self._orders: deque[int] = deque()
        self._rejects: deque[int] = deque()
        # Quote per unit of the settlement asset at the last mid (drawdowns are in quote).
        self._quote_per_settle = 0.0 if instrument.inverse else 1.0
        # Limits fixed in lots whatever the price, tightest first: (lots, key).
        position_caps = [(limits.max_position_lots, "risk.max_position_contracts")]
        order_caps = [(limits.max_order_lots, "risk.max_order_contracts")]
        if not instrument.inverse:
            position_caps.append(
                (base_lots(instrument, limits.max_position_base), "risk.max_position_base")
            )
            order_caps.append((base_lots(instrument, limits.max_order_base), "risk.max_order_base"))
        self._position_caps = sorted(c for c in position_caps if c[0] > 0)
        self._order_caps = sorted(c for c in order_caps if c[0] > 0)
        # Whether some position limit moves with the price (checked per decision).
        self._priced_position = bool(
            limits.max_position_quote
            or (limits.max_equity_fraction and limits.equity)
            or (instrument.inverse and limits.max_position_base)
        )

    # ---- observations ---------------------------------------------------------------------

    def on_pnl(self, now_ns: int, pnl_settle: float, mid_ticks: float) -> None:
        """Record the session PnL (settlement asset) at ``mid_ticks``; checks drawdowns and
        the rolling-hour loss, in quote (an inverse account's coin PnL valued at the mid)."""
        lim = self.limits
        if mid_ticks > 0:
            self._quote_per_settle = self.instrument.to_quote(1.0, mid_ticks)
        pnl_total = pnl_settle * self._quote_per_settle
        q = self.instrument.quote
        self._session_peak = max(self._session_peak, pnl_total)
        day = now_ns // _DAY_NS
        if day != self._day:
            self._day = day
            self._day_peak = pnl_total
        self._day_peak = max(self._day_peak, pnl_total)
        hour = self._hour
        while hour and hour[-1][1] <= pnl_total:
            hour.pop()
        hour.append((now_ns, pnl_total))
        while hour[0][0] < now_ns - _HOUR_NS:
            hour.popleft()
        if lim.max_drawdown_session and self._session_peak - pnl_total >= lim.max_drawdown_session:
            self._latch(
                f"session drawdown {self._session_peak - pnl_total:.2f} {q} ≥ "
                f"risk.max_drawdown_session {lim.max_drawdown_session:.2f} {q}"
            )
        if lim.max_drawdown_day and self._day_peak - pnl_total >= lim.max_drawdown_day:
            self._latch(
                f"UTC-day drawdown {self._day_peak - pnl_total:.2f} {q} ≥ "
                f"risk.max_drawdown_day {lim.max_drawdown_day:.2f} {q}"
            )
        if lim.max_loss_per_hour:
            hour_max = hour[0][1]
            if hour_max - pnl_total >= lim.max_loss_per_hour:
                self._latch(
                    f"loss {hour_max - pnl_total:.2f} {q} within the last hour ≥ "
                    f"risk.max_loss_per_hour {lim.max_loss_per_hour:.2f} {q}"
                )

    def on_order_sent(self, now_ns: int) -> None:
        self._orders.append(now_ns)

    def on_reject(self, now_ns: int) -> None:
        """A venue reject other than a post-only cross (those are normal)."""
        lim = self.limits
        self._rejects.append(now_ns)
        _expire(self._rejects, now_ns - lim.reject_window_ns)
        if lim.reject_burst and len(self._rejects) >= lim.reject_burst:
            self._latch(
                f"{len(self._rejects)} rejects within {lim.reject_window_ns / 1e9:g} s ≥ "
                f"risk.reject_burst {lim.reject_burst}"
            )

    def _latch(self, reason: str) -> None:
        if not self.halt_reason:
            self.halt_reason = reason

    def reset(self) -> None:
        """A human restarted after a halt: forget the latch and the burst windows."""
        self.halt_reason = ""
        self._rejects.clear()
        self._orders.clear()

    # ---- the check ------------------------------------------------------------------------

    def position_limit_lots(self, mid_ticks: float) -> int:
        """The tightest enabled position limit in lots at this mid (0 = unlimited, or a
        limit below one lot)."""
        return self.position_limit(mid_ticks)[0]

    def position_limit(self, mid_ticks: float) -> tuple[int, str]:
        """The tightest enabled position limit in lots at this mid and its key; the key is ''
        when no limit is set (a limit worth less than one lot is (0, key): no position)."""
        best = self._position_caps[0] if self._position_caps else (0, "")
        if not self._priced_position or mid_ticks <= 0:
            return best  # the usual case: limits in lots
        lim = self.limits
        inst = self.instrument
        if lim.max_position_quote:
            lots = _lots(lim.max_position_quote, inst.notional(mid_ticks, 1))
            if not best[1] or lots < best[0]:
                best = (lots, "risk.max_position_quote")
        if inst.inverse and lim.max_position_base:
            lots = _lots(lim.max_position_base, inst.notional_settle(mid_ticks, 1))
            if not best[1] or lots < best[0]:
                best = (lots, "risk.max_position_base")
        if lim.max_equity_fraction and lim.equity:
            room = lim.max_equity_fraction * lim.equity * lim.leverage
            lots = _lots(room, inst.notional_settle(mid_ticks, 1))
            if not best[1] or lots < best[0]:
                best = (lots, "risk.max_equity_fraction")
        return best

    def check(
        self, bid: DesiredQuote | None, ask: DesiredQuote | None, x: RiskInputs
    ) -> RiskDecision:
        """Apply every limit to the desired quotes."""
        lim = self.limits
        if self.halt_reason:
            return RiskDecision(RiskAction.HALT, None, None, (self.halt_reason,), ("halt",))
        pulls: list[str] = []
        fired: list[str] = []
        if lim.stale_market_ns and x.now_ns - x.last_market_ns > lim.stale_market_ns:
            fired.append("stale_market")
            pulls.append(
                f"market data stale for {(x.now_ns - x.last_market_ns) / 1e9:.1f} s > "
                f"risk.stale_market_s {lim.stale_market_ns / 1e9:g}"
            )
        if lim.stale_account_ns and x.now_ns - x.last_account_ns > lim.stale_account_ns:
            fired.append("stale_account")
            pulls.append(
                f"account data stale for {(x.now_ns - x.last_account_ns) / 1e9:.1f} s > "
                f"risk.stale_account_s {lim.stale_account_ns / 1e9:g}"
            )
        if lim.latency_pull_ns and x.feed_latency_ns > lim.latency_pull_ns:
            fired.append("latency_pull")
            pulls.append(
                f"feed latency {x.feed_latency_ns / 1e6:.0f} ms > "
                f"risk.latency_pull_ms {lim.latency_pull_ns / 1e6:g}"
            )
        if lim.order_budget:
            _expire(self._orders, x.now_ns - lim.order_window_ns)
            if len(self._orders) >= lim.order_budget:
                fired.append("order_budget")
                pulls.append(
                    f"order budget spent: {len(self._orders)} placements in "
                    f"{lim.order_window_ns / 1e9:g} s ≥ risk.order_budget {lim.order_budget}"
                )
        if lim.max_open_orders and x.open_orders > lim.max_open_orders:
            fired.append("max_open_orders")
            pulls.append(
                f"{x.open_orders} open orders > risk.max_open_orders {lim.max_open_orders}"
            )
        if pulls:
            return RiskDecision(RiskAction.PULL, None, None, tuple(pulls), tuple(fired))

        action = RiskAction.ALLOW
        reasons: list[str] = []
        mid = x.mid_ticks
        widen = 0.0
        size_factor = 1.0
        if lim.latency_widen_ns and x.feed_latency_ns > lim.latency_widen_ns:
            widen += lim.latency_widen_ticks
            fired.append("latency_widen")
            reasons.append(
                f"widened {lim.latency_widen_ticks} ticks: feed latency "
                f"{x.feed_latency_ns / 1e6:.0f} ms > {lim.latency_widen_ns / 1e6:g} ms"
            )
        high_vol = bool(lim.vol_ratio_limit and x.sigma_ratio > lim.vol_ratio_limit)
        if high_vol:
            size_factor = lim.vol_size_factor
            fired.append("vol_regime")
            reasons.append(
                f"volatility regime: σ ratio {x.sigma_ratio:.2f} > {lim.vol_ratio_limit:g}, "
                f"half-spreads ×{lim.vol_widen_factor:g}, sizes ×{lim.vol_size_factor:g}"
            )
        if widen or high_vol or size_factor != 1.0:
            action = RiskAction.CLAMP

        limit, limit_key = self.position_limit(mid)
        pos = x.position_lots
        if limit_key:
            if not self.one_sided and abs(pos) >= lim.one_sided_enter * limit:
                self.one_sided = True
            elif self.one_sided and abs(pos) <= lim.one_sided_exit * limit:
                self.one_sided = False
        else:
            self.one_sided = False

        quotes: dict[Side, DesiredQuote | None] = {BUY: bid, SELL: ask}
        for side, q in quotes.items():
            if q is None:
                continue
            name = "bid" if side is BUY else "ask"
            if self.one_sided and pos * side > 0:
                quotes[side] = None
                action = max(action, RiskAction.ONE_SIDED)
                fired.append(f"one_sided_{name}")
                reasons.append(
                    f"one-sided: {name} pulled at |position| {sizes(self.instrument, abs(pos))} "
                    f"≥ {lim.one_sided_enter:g} × limit {sizes(self.instrument, limit)} "
                    f"(two-sided again ≤ {lim.one_sided_exit:g} × limit)"
                )
                continue
            price = q.price_ticks
            if high_vol or widen:
                half = abs(price - mid) * (lim.vol_widen_factor if high_vol else 1.0) + widen
                price = self.instrument.quantize_price(
                    (mid - side * half) * self.instrument.tick, side
                )
            qty, why = self._clamp_size(side, price, q.qty_lots, size_factor, pos, limit, limit_key)
            if why:
                reasons.append(f"{name} {why}")
                action = max(action, RiskAction.CLAMP)
                fired.append(f"size_{name}")
            if qty:
                price, qty, why = self._venue_filters(side, price, qty, mid)
                if why:
                    reasons.append(f"{name} {why}")
                    action = max(action, RiskAction.CLAMP)
                    fired.append(f"venue_filter_{name}")
            if qty == 0:
                quotes[side] = None
                continue
            if lim.price_band_bps and mid > 0 and abs(price - mid) / mid * 1e4 > lim.price_band_bps:
                quotes[side] = None
                action = max(action, RiskAction.CLAMP)
                fired.append(f"price_band_{name}")
                reasons.append(
                    f"{name} pulled: {abs(price - mid) / mid * 1e4:.1f} bps from mid > "
                    f"risk.price_band_bps {lim.price_band_bps:g}"
                )
                continue
            if price != q.price_ticks or qty != q.qty_lots:
                quotes[side] = DesiredQuote(side, price, qty)
        return RiskDecision(action, quotes[BUY], quotes[SELL], tuple(reasons), tuple(fired))

    def _clamp_size(
        self, side: Side, price: int, qty: int, factor: float, pos: int, limit: int, key: str
    ) -> tuple[int, str]:
        """Size after fat-finger and position caps (lots) and why it changed ('' if not)."""
        lim = self.limits
        inst = self.instrument
        why = ""
        if factor != 1.0:
            qty = max(1, math.floor(qty * factor))
        cap, cap_key = self._order_caps[0] if self._order_caps else (0, "")
        if price > 0 and lim.max_order_quote:
            lots = _lots(lim.max_order_quote, inst.notional(price, 1))
            if not cap_key or lots < cap:
                cap, cap_key = lots, "risk.max_order_quote"
        if price > 0 and inst.inverse and lim.max_order_base:
            lots = _lots(lim.max_order_base, inst.notional_settle(price, 1))
            if not cap_key or lots < cap:
                cap, cap_key = lots, "risk.max_order_base"
        if cap_key and qty > cap:
            why = f"size {sizes(inst, qty, cap)} by {cap_key}"
            qty = cap
        if lim.spot_no_short and side is SELL and qty > pos:
            why = f"size {sizes(inst, qty, max(pos, 0))}: spot, no more than the base held"
            qty = max(pos, 0)
        if key and pos * side >= 0:
            room = limit - abs(pos)
            if qty > room:
                why = (
                    f"size {sizes(inst, qty, max(room, 0))} to stay within the position limit "
                    f"{sizes(inst, limit)} ({key})"
                )
                qty = max(room, 0)
        if 0 < qty < inst.min_lots_at(price):
            why = f"pulled: size {sizes(inst, qty)} below the venue minimum after risk clamps"
            qty = 0
        return qty, why

    def _venue_filters(self, side: Side, price: int, qty: int, mid: float) -> tuple[int, int, str]:
        """Price (ticks) and size (lots, 0 = pulled) the exchange's order filters accept, and
        why they changed ('' if not): the refusals (-4005, -4016/-4024, -4002/-4013) our side
        can see coming. The price band is taken around the mid, the exchange's mark price
        being close to it. Only ever less aggressive: a bid moves down, an ask up, a size
        down; a price no move can fix pulls the side."""
        inst = self.instrument
        top, floor = inst.max_price_ticks, inst.min_price_ticks
        # The usual case, decided without building reasons: the size within the maximum and
        # on the step, the price more than a tick inside the band (no rounding can move the
        # edge onto it) and within the price limits, the size above the minimum there.
        if (
            (not inst.max_qty_lots or qty <= inst.max_qty_lots)
            and (inst.step_lots <= 1 or qty % inst.step_lots == 0)
            and floor <= price
            and (not top or price <= top)
        ):
            band = inst.band_up if side is BUY else inst.band_down
            if (not band or (mid * band - price) * side > 1.0) and qty >= inst.min_lots_at(price):
                return price, qty, ""
        edge = inst.band_limit_ticks(side, mid)
        whys: list[str] = []
        if inst.max_qty_lots and qty > inst.max_qty_lots:
            whys.append(f"size {sizes(inst, qty, inst.max_qty_lots)}: the exchange's maximum")
            qty = inst.max_qty_lots
        stepped = inst.floor_to_step(qty)
        if stepped != qty:
            whys.append(f"size {sizes(inst, qty, stepped)}: the exchange's order step (LOT_SIZE)")
            qty = stepped
        if edge is not None and (price - edge) * side > 0:
            mult = inst.percent_price_up if side is BUY else inst.percent_price_down
            whys.append(
                f"price {price}→{edge} ticks: outside the exchange's price band "
                f"(PERCENT_PRICE, mid × {mult})"
            )
            price = edge
        # The price limit a side can retreat to, and the one that pulls it.
        if side is BUY and top and price > top:
            whys.append(f"price {price}→{top} ticks: the exchange's maximum")
            price = top
        elif side is SELL and price < floor:
            whys.append(f"price {price}→{floor} ticks: the exchange's minimum")
            price = floor
        if price < floor or (top and price > top) or qty < inst.min_lots_at(price):
            whys.append("pulled: no price within the exchange's limits takes this size")
            qty = 0
        return price, qty, "; ".join(whys)


def base_lots(instrument: Instrument, base: float) -> int:
    """Lots of a linear or spot market holding ``base`` of the base asset, rounded down."""
    return instrument.quantize_qty(base / float(instrument.contract_size))


def _lots(amount: float, per_lot: float) -> int:
    """Whole lots within ``amount`` at ``per_lot`` each (same asset), rounded down."""
    return math.floor(amount / per_lot + _LOT_EPS) if per_lot > 0 else 0


def _expire(times: deque[int], cutoff_ns: int) -> None:
    while times and times[0] < cutoff_ns:
        times.popleft()
