"""Number formatting shared by the panes: ticks and lots → display strings."""

from __future__ import annotations

import math
from decimal import Decimal


def decimals(step: float) -> int:
    """Digits after the point needed to show multiples of ``step`` exactly."""
    if step <= 0 or step >= 1:
        return 0
    return max(0, round(-math.log10(step) + 0.4999))


def price(ticks: float, tick_size: float) -> str:
    """A price in quote currency from ticks."""
    return f"{ticks * tick_size:,.{decimals(tick_size)}f}"


def qty(lots: float, lot_size: float, step: float = 0.0) -> str:
    """A size in order units from lots, to the decimals of the order ``step`` (default
    ``lot_size``; a spot book's finer lot would show eight)."""
    return f"{lots * lot_size:.{decimals(step or lot_size)}f}"


def money(value: Decimal | float, decimals: int = 4) -> str:
    """A signed amount (a quote asset to 4 decimals, a coin to 8)."""
    return f"{value:+,.{decimals}f}"


def duration(ns: int) -> str:
    """HH:MM:SS from nanoseconds."""
    s = max(0, ns // 1_000_000_000)
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def age(ns: int) -> str:
    """A short age at one-second resolution (<1s, 4s, 3m05s), so it repaints once a second."""
    whole = max(0, ns) // 1_000_000_000
    if whole < 1:
        return "<1s"
    if whole < 60:
        return f"{whole}s"
    return f"{whole // 60}m{whole % 60:02d}s"
