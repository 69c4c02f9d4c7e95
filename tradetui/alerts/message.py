"""What an alert says: one template for every alert, and the pure pieces that build them.

Every alert reads the same way on a phone:

    🔴 HALT · PAPER
    max_drawdown_session: drawdown 251.20 ≥ 250.00
    2026-11-22 05:40:12 UTC

Level and event first (what happened, how bad), the mode (so a paper alert is never
mistaken for a live one), with several markets the market it is about (``· usdm:ETHUSDT``),
the details, then the wall time it happened.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import IntEnum, StrEnum

from tradetui.core.money import fee_amount
from tradetui.core.units import money_decimals


class Level(IntEnum):
    """How urgent an alert is; routine alerts are the first dropped when the queue is full."""

    INFO = 0
    WARNING = 1
    CRITICAL = 2


class AlertKind(StrEnum):
    """Alert kinds; each has an on/silent/off switch ``telegram.alert_<switch>``."""

    START = "start"
    STOP = "stop"
    HALT = "halt"
    FLATTEN = "flatten"
    RISK = "risk"
    ERROR = "errors"
    CONNECTION = "connection"
    MODEL = "model"
    FILLS = "fills"
    HEARTBEAT = "heartbeat"
    TEST = "test"


_ICON = {Level.INFO: "🟢", Level.WARNING: "🟠", Level.CRITICAL: "🔴"}
# Telegram refuses texts longer than 4096 characters.
MAX_TEXT = 4000


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert; ``at_s`` is wall time (Unix seconds) when it happened."""

    level: Level
    kind: AlertKind
    title: str
    details: str
    at_s: float
    silent: bool = False
    # The market it is about when a run trades several ("usdm:ETHUSDT"; '' with one).
    market: str = ""

    @property
    def routine(self) -> bool:
        """May be dropped (with a count) when delivery falls behind."""
        return self.level is Level.INFO


def utc(at_s: float) -> str:
    """``2026-11-22 05:40:12 UTC`` for a Unix time in seconds."""
    return datetime.fromtimestamp(at_s, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def render(alert: Alert, mode: str) -> str:
    """The one alert template: level and event, mode (and the market, with several),
    details, time."""
    head = f"{_ICON[alert.level]} {alert.title} · {mode.upper()}"
    if alert.market:
        head += f" · {alert.market}"
    body = alert.details.strip()
    text = f"{head}\n{body}\n{utc(alert.at_s)}" if body else f"{head}\n{utc(alert.at_s)}"
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 1] + "…"
    return text


def now_s() -> float:
    """Wall time in Unix seconds (the default clock of alerts)."""
    return time.time()


@dataclass(slots=True)
class FillDigest:
    """Fills summed between two digest messages: sizes in order units (the base asset, or
    contracts), notional in quote (USD face value for inverse contracts), fees and PnL in the
    settlement asset."""

    fills: int = 0
    buys: int = 0
    sells: int = 0
    volume_size: float = 0.0
    volume_quote: float = 0.0
    fees: Decimal = Decimal(0)
    rebates: Decimal = Decimal(0)
    position_size: float = 0.0
    pnl_total: Decimal = Decimal(0)
    first_s: float = 0.0
    last_s: float = 0.0

    def add(
        self,
        buy: bool,
        size: float,
        notional_quote: float,
        fee: float,
        position_size: float,
        pnl_total: Decimal,
        at_s: float,
    ) -> None:
        """Count one fill."""
        if not self.fills:
            self.first_s = at_s
        self.fills += 1
        if buy:
            self.buys += 1
        else:
            self.sells += 1
        self.volume_size += size
        self.volume_quote += notional_quote
        amount = fee_amount(fee)
        if amount >= 0:
            self.fees += amount
        else:
            self.rebates -= amount
        self.position_size = position_size
        self.pnl_total = pnl_total
        self.last_s = at_s

    def text(self, size_unit: str, quote: str, settle: str) -> str:
        """The digest's details lines (coin amounts to a satoshi, quote amounts to 1e-4)."""
        d = money_decimals(settle, quote)
        return (
            f"{self.fills} fills ({self.buys} buy, {self.sells} sell), "
            f"{self.volume_size:.6g} {size_unit} = {self.volume_quote:,.2f} {quote}, "
            f"fees paid {self.fees:,.{d}f} {settle}"
            + (f", rebates received {self.rebates:,.{d}f} {settle}" if self.rebates else "")
            + "\n"
            f"position {self.position_size:+.6g} {size_unit}, "
            f"PnL {self.pnl_total:+,.{d}f} {settle}"
        )


@dataclass(frozen=True, slots=True)
class Slot:
    """A heartbeat due at ``due_s``; ``missed`` earlier slots passed while nothing ran."""

    due_s: float
    missed: int


class HeartbeatSchedule:
    """Heartbeats on a fixed grid of ``interval_s`` wall seconds from ``start_s``.

    ``due(now)`` answers at most one slot per call: after a sleep or a stall that spanned
    several slots it answers the latest one once, counting the others as missed (the message
    says so), and the next slot is the first one after ``now`` — never skipped silently and
    never sent twice.
    """

    def __init__(self, interval_s: float, start_s: float) -> None:
        if not interval_s > 0:
            raise ValueError("heartbeat interval must be > 0 s")
        self.interval_s = interval_s
        self.next_s = start_s + interval_s

    def due(self, now_s: float) -> Slot | None:
        """The slot to send now, if one has come (s)."""
        if now_s < self.next_s:
            return None
        passed = int((now_s - self.next_s) // self.interval_s)
        slot = Slot(self.next_s + passed * self.interval_s, passed)
        self.next_s = slot.due_s + self.interval_s
        return slot
