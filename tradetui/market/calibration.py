"""Synthetic market parameters for any instrument: calibration files and scaling.

A calibration (``bench/calibrate_synthetic.py FILE --out params.json``) holds SyntheticParams
measured on one instrument. ``params_for`` hands the parameters to use for an instrument: the
calibration as it is when it was measured on that instrument, else the calibration scaled to
it at a start price (``market.start_price``, or the calibration's own when both instruments
price the same base asset in US dollars or dollar stablecoins). Scaling keeps the volatility
relative to the price (bps per second), trade, touch and depth sizes as quote notional,
converted to the instrument's order units (contracts for inverse contracts), and the
tick-level shape (spreads, touch moves, depth profile) in ticks of the instrument.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, get_type_hints

from tradetui.core.instrument import Instrument
from tradetui.market.synthetic import SyntheticParams

CALIBRATION_VERSION = 1

# Quote currencies priced alike (US dollars and dollar stablecoins, within a fraction of a
# percent of each other), so a BTCUSDT calibration's price level holds for BTCUSD_PERP.
_DOLLARS = frozenset({"USD", "USDT", "USDC", "FDUSD", "BUSD"})
# The book is kept within this many ticks of the touch, at most a quarter of the price, so
# prices stay positive however coarse the tick.
_MIN_HALF_WIDTH_TICKS = 10


class CalibrationError(ValueError):
    """A calibration that cannot be read or applied (one line naming the file or key)."""


def params_to_json(params: SyntheticParams) -> dict[str, Any]:
    """A calibration file's content."""
    return {"tradetui_synthetic_params": CALIBRATION_VERSION, **dataclasses.asdict(params)}


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def load_params(path: Path) -> SyntheticParams:
    """The calibration in ``path``; raises CalibrationError naming the file and the fix."""
    fix = "write it with `python bench/calibrate_synthetic.py FILE --out PATH`"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise CalibrationError(f"{path}: no such calibration file; {fix}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CalibrationError(f"{path}: not a readable calibration ({exc}); {fix}") from None
    if not isinstance(data, dict) or data.pop("tradetui_synthetic_params", None) != 1:
        raise CalibrationError(f"{path}: not a synthetic market calibration of version 1; {fix}")
    hints = get_type_hints(SyntheticParams)
    for key, value in data.items():
        if key not in hints:
            raise CalibrationError(f"{path}: unknown field {key!r}; {fix}")
        if hints[key] in (float, int) and (
            isinstance(value, bool) or not isinstance(value, int | float)
        ):
            raise CalibrationError(f"{path}: {key} must be a number (got {value!r}); {fix}")
    try:
        params = SyntheticParams(**{k: _tuples(v) for k, v in data.items()})
    except TypeError as exc:
        raise CalibrationError(f"{path}: {exc}; {fix}") from None
    if not params.start_price_quote > 0 or not params.contract_size > 0:
        raise CalibrationError(f"{path}: start_price_quote and contract_size must be > 0; {fix}")
    return params


def _quote_per_unit(inverse: bool, contract_size: float, price: float) -> float:
    """What one order unit is worth in the quote currency at ``price``."""
    return contract_size if inverse else contract_size * price


def _same_price_level(params: SyntheticParams, inst: Instrument) -> bool:
    same_quote = params.quote == inst.quote or {params.quote, inst.quote} <= _DOLLARS
    return params.base == inst.base and same_quote


def scaled(params: SyntheticParams, inst: Instrument, price: float) -> SyntheticParams:
    """``params`` for ``inst`` starting at ``price`` (quote); see the module docstring."""
    size = _quote_per_unit(params.inverse, params.contract_size, params.start_price_quote)
    size /= _quote_per_unit(inst.inverse, float(inst.contract_size), price)
    half_width = min(
        params.book_half_width_ticks,
        max(_MIN_HALF_WIDTH_TICKS, int(price / inst.tick) // 4),
    )
    return dataclasses.replace(
        params,
        **measured_on(inst),
        start_price_quote=price,
        mid_std_1s_quote=params.mid_std_1s_quote * price / params.start_price_quote,
        trade_size_quantiles_units=tuple(
            (q, v * size) for q, v in params.trade_size_quantiles_units
        ),
        touch_size_quantiles_units=tuple(
            (q, v * size) for q, v in params.touch_size_quantiles_units
        ),
        depth_bands=tuple(
            (start, share, units * size)
            for start, share, units in params.depth_bands
            if start == 1 or start < half_width
        ),
        book_half_width_ticks=half_width,
    )


def measured_on(inst: Instrument) -> dict[str, Any]:
    """The SyntheticParams fields naming the instrument a calibration describes."""
    return {
        "venue": inst.venue,
        "symbol": inst.symbol,
        "base": inst.base,
        "quote": inst.quote,
        "inverse": inst.inverse,
        "contract_size": float(inst.contract_size),
    }


def params_for(
    inst: Instrument, params: SyntheticParams | None = None, start_price: float = 0.0
) -> SyntheticParams:
    """The synthetic market's parameters for ``inst``: ``params`` (default: the built-in
    BTCUSDT calibration) as they are when measured on ``inst``, else scaled to it at
    ``start_price`` (quote; 0 = the calibration's own when it prices the same asset).
    Raises CalibrationError when no price level is known."""
    p = params or SyntheticParams()
    measured_on = (p.venue, p.symbol.upper())
    if measured_on == (inst.venue, inst.symbol.upper()) and not start_price:
        return p
    price = start_price or (p.start_price_quote if _same_price_level(p, inst) else 0.0)
    if not price > 0:
        raise CalibrationError(
            f"market.start_price: the synthetic market is calibrated to {p.symbol} "
            f"({p.venue}), not {inst.symbol}; set market.start_price to {inst.symbol}'s price "
            f"in {inst.quote} to scale it, or calibrate one from a recording "
            "(python bench/calibrate_synthetic.py FILE --out params.json) and set "
            "market.synthetic_params"
        )
    return scaled(p, inst, price)
