"""Settings (base, contracts, quote, seconds) → strategy parameters (lots, ticks, ns)."""

from __future__ import annotations

from tradetui.config import ConfigError, Settings, StrategySettings
from tradetui.core.instrument import Instrument, InstrumentKind
from tradetui.risk.guard import RiskLimits, base_lots
from tradetui.strategy.avellaneda import ASParams, HorizonMode
from tradetui.strategy.quoting import QuotePolicy


def order_lots(settings: Settings, instrument: Instrument) -> int:
    """The order size per side in lots: ``strategy.order_contracts`` for inverse contracts,
    ``strategy.order_size`` (base asset) otherwise; rounded down to the lot step."""
    s = settings.strategy
    if instrument.inverse:
        key, size, unit = "order_contracts", s.order_contracts, "contracts"
    else:
        key, size, unit = "order_size", s.order_size, instrument.base
    lots = instrument.quantize_qty(size)
    if lots < 1:
        raise ConfigError(
            f"strategy.{key}: {size} is below one lot step ({instrument.lot_size} {unit} "
            f"on {instrument.symbol}); raise it"
        )
    return lots


def unused_size_key(settings: Settings, instrument: Instrument) -> str:
    """A line when the config sets the order size key ``instrument`` does not read (changed
    from its default): ``order_size`` (base) on an inverse contract, ``order_contracts`` on a
    linear or spot market; '' otherwise. One config often serves both kinds of market, so
    this is told, not refused."""
    s, default = settings.strategy, StrategySettings()
    inst = instrument
    if inst.inverse and s.order_size != default.order_size:
        return (
            f"strategy.order_size = {s.order_size:g} {inst.base} does not size {inst.symbol}'s "
            f"orders: an inverse contract's are strategy.order_contracts = "
            f"{s.order_contracts:g} contracts of {inst.contract_size:f} {inst.quote}"
        )
    if not inst.inverse and s.order_contracts != default.order_contracts:
        return (
            f"strategy.order_contracts = {s.order_contracts:g} contracts does not size "
            f"{inst.symbol}'s orders: they are strategy.order_size = {s.order_size:g} "
            f"{inst.base}"
        )
    return ""


def static_position_lots(settings: Settings, instrument: Instrument) -> int:
    """The tightest position limit fixed in lots whatever the price (0 = none): contracts,
    and base units of a linear or spot market."""
    r = settings.risk
    caps = [instrument.quantize_qty(r.max_position_contracts)]
    if not instrument.inverse:
        caps.append(base_lots(instrument, r.max_position_base))
    return min((c for c in caps if c > 0), default=0)


def as_params(settings: Settings, instrument: Instrument) -> ASParams:
    """AS parameters; sizes quantized down to the lot step (never larger than configured)."""
    s = settings.strategy
    lots = order_lots(settings, instrument)
    try:
        return ASParams(
            gamma=s.gamma,
            horizon_mode=HorizonMode(s.horizon),
            horizon_s=s.horizon_s,
            order_lots=lots,
            min_spread_ticks=s.min_spread_ticks,
            max_spread_ticks=s.max_spread_ticks,
            eta=s.eta,
            fee_floor=s.fee_floor,
            # The AS side pull and the risk guard share the position limit fixed in lots;
            # limits that move with the price (quote, an inverse coin value) are the guard's.
            max_position_lots=static_position_lots(settings, instrument) or 2**62,
        )
    except ValueError as exc:
        raise ConfigError(f"strategy: {exc}") from None


def quote_policy(settings: Settings, instrument: Instrument) -> QuotePolicy:
    """Requote policy; new-before-cancel may briefly hold two orders of one side, except on
    spot without margin (``sim.spot_short`` off), where the old order's base or quote is
    locked until it is cancelled: the replacement would be refused for lack of balance."""
    q = settings.quoting
    lots = order_lots(settings, instrument)
    no_short = instrument.kind is InstrumentKind.SPOT and not settings.sim.spot_short
    try:
        return QuotePolicy(
            price_tolerance_ticks=q.price_tolerance_ticks,
            max_age_ns=int(q.max_age_s * 1e9),
            min_age_ns=int(q.min_age_ms * 1e6),
            new_before_cancel=q.new_before_cancel and not no_short,
            max_side_lots=2 * lots,
            size_tolerance=q.size_tolerance,
            tick_size=instrument.tick_size,
            lot_size=instrument.lot_size,
        )
    except ValueError as exc:
        raise ConfigError(f"quoting: {exc}") from None


def risk_limits(settings: Settings, instrument: Instrument) -> RiskLimits:
    """Risk limits in engine units (lots, ns) or named assets; sizes quantized down to the
    lot step. ``paper.equity`` is in the margin asset (the exchange's balance when live)."""
    r = settings.risk
    try:
        return RiskLimits(
            max_position_lots=instrument.quantize_qty(r.max_position_contracts),
            max_position_base=r.max_position_base,
            max_position_quote=r.max_position_quote,
            equity=settings.paper.equity,
            leverage=r.leverage,
            max_equity_fraction=r.max_equity_fraction,
            one_sided_enter=r.one_sided_enter,
            one_sided_exit=r.one_sided_exit,
            max_order_lots=instrument.quantize_qty(r.max_order_contracts),
            max_order_base=r.max_order_base,
            max_order_quote=r.max_order_quote,
            price_band_bps=r.price_band_bps,
            max_open_orders=r.max_open_orders,
            max_drawdown_session=r.max_drawdown_session,
            max_drawdown_day=r.max_drawdown_day,
            max_loss_per_hour=r.max_loss_per_hour,
            stale_market_ns=int(r.stale_market_s * 1e9),
            stale_account_ns=int(r.stale_account_s * 1e9),
            order_budget=r.order_budget,
            order_window_ns=int(r.order_window_s * 1e9),
            reject_burst=r.reject_burst,
            reject_window_ns=int(r.reject_window_s * 1e9),
            latency_widen_ns=int(r.latency_widen_ms * 1e6),
            latency_widen_ticks=r.latency_widen_ticks,
            latency_pull_ns=int(r.latency_pull_ms * 1e6),
            vol_ratio_limit=r.vol_ratio_limit,
            vol_widen_factor=r.vol_widen_factor,
            vol_size_factor=r.vol_size_factor,
            spot_no_short=instrument.kind is InstrumentKind.SPOT and not settings.sim.spot_short,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
