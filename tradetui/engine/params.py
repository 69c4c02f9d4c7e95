"""Settings (base units, seconds) → strategy parameters (lots, ticks, ns)."""

from __future__ import annotations

from tradetui.config import ConfigError, Settings
from tradetui.core.instrument import Instrument
from tradetui.strategy.avellaneda import ASParams, HorizonMode
from tradetui.strategy.quoting import QuotePolicy


def as_params(settings: Settings, instrument: Instrument) -> ASParams:
    """AS parameters; sizes quantized down to the lot step (never larger than configured)."""
    s = settings.strategy
    order_lots = instrument.quantize_qty(s.order_size)
    if order_lots < 1:
        raise ConfigError(
            f"strategy.order_size: {s.order_size} is below one lot step "
            f"({instrument.lot_size} {instrument.base}); raise it"
        )
    try:
        return ASParams(
            gamma=s.gamma,
            horizon_mode=HorizonMode(s.horizon),
            horizon_s=s.horizon_s,
            order_lots=order_lots,
            min_spread_ticks=s.min_spread_ticks,
            max_spread_ticks=s.max_spread_ticks,
            eta=s.eta,
            max_position_lots=instrument.quantize_qty(s.max_position),
        )
    except ValueError as exc:
        raise ConfigError(f"strategy: {exc}") from None


def quote_policy(settings: Settings, instrument: Instrument) -> QuotePolicy:
    """Requote policy; new-before-cancel may briefly hold two orders of one side."""
    q = settings.quoting
    order_lots = instrument.quantize_qty(settings.strategy.order_size)
    try:
        return QuotePolicy(
            price_tolerance_ticks=q.price_tolerance_ticks,
            max_age_ns=int(q.max_age_s * 1e9),
            min_age_ns=int(q.min_age_ms * 1e6),
            new_before_cancel=q.new_before_cancel,
            max_side_lots=2 * order_lots,
            size_tolerance=q.size_tolerance,
        )
    except ValueError as exc:
        raise ConfigError(f"quoting: {exc}") from None
