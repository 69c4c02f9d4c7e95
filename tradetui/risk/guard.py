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
from tradetui.strategy.avellaneda import DesiredQuote

_DAY_NS = 86_400 * 1_000_000_000
_HOUR_NS = 3_600 * 1_000_000_000


class RiskAction(IntEnum):
    """Ordered by severity: a decision takes the most severe action any limit asks for."""

    ALLOW = 0
    CLAMP = 1
    ONE_SIDED = 2
    PULL = 3
    HALT = 4


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Limits in engine units (lots, ticks, ns, quote currency). 0 disables a limit."""

    max_position_lots: int = 0
    max_position_notional: float = 0.0  # quote
    equity: float = 0.0  # quote
    leverage: float = 1.0
    max_equity_fraction: float = 0.0  # |position notional| ≤ fraction × equity × leverage
    one_sided_enter: float = 0.8  # fraction of the position limit that starts one-sided mode
    one_sided_exit: float = 0.5  # fraction below which two-sided quoting resumes
    max_order_lots: int = 0
    max_order_notional: float = 0.0  # quote
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

    # ---- observations ---------------------------------------------------------------------

    def on_pnl(self, now_ns: int, pnl_total: float) -> None:
        """Record the session PnL (quote); checks drawdowns and the rolling-hour loss."""
        lim = self.limits
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
                f"session drawdown {self._session_peak - pnl_total:.2f} ≥ "
                f"risk.max_drawdown_session {lim.max_drawdown_session:.2f}"
            )
        if lim.max_drawdown_day and self._day_peak - pnl_total >= lim.max_drawdown_day:
            self._latch(
                f"UTC-day drawdown {self._day_peak - pnl_total:.2f} ≥ "
                f"risk.max_drawdown_day {lim.max_drawdown_day:.2f}"
            )
        if lim.max_loss_per_hour:
            hour_max = hour[0][1]
            if hour_max - pnl_total >= lim.max_loss_per_hour:
                self._latch(
                    f"loss {hour_max - pnl_total:.2f} within the last hour ≥ "
                    f"risk.max_loss_per_hour {lim.max_loss_per_hour:.2f}"
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
        """The tightest enabled position limit in lots at this mid (0 = unlimited)."""
        lim = self.limits
        if not (lim.max_position_notional or (lim.max_equity_fraction and lim.equity)):
            return lim.max_position_lots  # the usual case: a limit in lots, whatever the mid
        inst = self.instrument
        caps: list[int] = []
        if lim.max_position_lots:
            caps.append(lim.max_position_lots)
        unit = mid_ticks * inst.tick * inst.lot  # quote value of one lot
        if unit > 0:
            if lim.max_position_notional:
                caps.append(int(lim.max_position_notional / unit))
            if lim.max_equity_fraction and lim.equity:
                caps.append(int(lim.max_equity_fraction * lim.equity * lim.leverage / unit))
        return min(caps) if caps else 0

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

        limit = self.position_limit_lots(mid)
        pos = x.position_lots
        if limit:
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
                    f"one-sided: {name} pulled at |position| {abs(pos)} ≥ "
                    f"{lim.one_sided_enter:g} × limit {limit} lots "
                    f"(two-sided again ≤ {lim.one_sided_exit:g} × limit)"
                )
                continue
            price = q.price_ticks
            if high_vol or widen:
                half = abs(price - mid) * (lim.vol_widen_factor if high_vol else 1.0) + widen
                price = self.instrument.quantize_price(
                    (mid - side * half) * self.instrument.tick, side
                )
            qty, why = self._clamp_size(side, price, q.qty_lots, size_factor, pos, limit)
            if why:
                reasons.append(f"{name} {why}")
                action = max(action, RiskAction.CLAMP)
                fired.append(f"size_{name}")
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
        self, side: Side, price: int, qty: int, factor: float, pos: int, limit: int
    ) -> tuple[int, str]:
        """Size after fat-finger and position caps (lots) and why it changed ('' if not)."""
        lim = self.limits
        inst = self.instrument
        why = ""
        if factor != 1.0:
            qty = max(1, math.floor(qty * factor))
        if lim.max_order_lots and qty > lim.max_order_lots:
            why = f"size {qty}→{lim.max_order_lots} lots by risk.max_order_size"
            qty = lim.max_order_lots
        if lim.max_order_notional and price > 0:
            cap = int(lim.max_order_notional / (price * inst.tick * inst.lot))
            if qty > cap:
                why = f"size {qty}→{cap} lots by risk.max_order_notional"
                qty = cap
        if limit and pos * side >= 0:
            room = limit - abs(pos)
            if qty > room:
                why = f"size {qty}→{max(room, 0)} lots to stay within the position limit {limit}"
                qty = max(room, 0)
        if 0 < qty < inst.min_lots_at(price):
            why = f"pulled: size {qty} lots below the venue minimum after risk clamps"
            qty = 0
        return qty, why


def _expire(times: deque[int], cutoff_ns: int) -> None:
    while times and times[0] < cutoff_ns:
        times.popleft()
