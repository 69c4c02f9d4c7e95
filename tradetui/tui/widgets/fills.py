"""Fills: the session's executions, newest first, as the pane and the log show them."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable

from rich.text import Text
from textual.widgets import Static

from tradetui.core.instrument import Instrument
from tradetui.core.money import fee_amount, plain
from tradetui.core.types import Side
from tradetui.engine.events import FillRecorded
from tradetui.tui import fmt

# Fills kept for the pane and the fills screen (the database has them all).
KEPT = 500


def header(size_unit: str, base: str) -> str:
    """The column titles; the size column is titled by its unit where that is not the base
    asset (``contracts`` of an inverse contract), as the other panes' titles say."""
    size = "size" if size_unit == base else size_unit
    return f"{'time':9}side {'price':>10} {size:>10} L {'fee':>11} {'':4} {'position':>9}"


def fee_text(fee: float) -> str:
    """A fee in the settlement asset to 8 decimals, trailing zeros trimmed, as ``fills``
    exports it: positive is paid, negative a rebate (docs/units.md)."""
    return plain(fee_amount(fee))


def fill_line(rec: FillRecorded, inst: Instrument, *, clock: bool = True) -> str:
    """One fill of ``inst``: UTC time (unless ``clock`` is off: a log line has its own), side,
    price, size (to the order step), maker/taker, fee (settlement asset), position after."""
    f = rec.fill
    pos = rec.position_lots
    lot, step = inst.lot, inst.lot * inst.step_lots
    position = ("+" if pos > 0 else "-" if pos < 0 else " ") + fmt.qty(abs(pos), lot, step)
    when = time.strftime("%H:%M:%S ", time.gmtime(rec.ts_ns // 1_000_000_000)) if clock else ""
    side = "BUY " if f.side is Side.BUY else "SELL"
    return (
        f"{when}{side} {fmt.price(f.price_ticks, inst.tick):>10} "
        f"{fmt.qty(f.qty_lots, lot, step):>10} {'M' if f.is_maker else 'T'} "
        f"{fee_text(f.fee):>11} {inst.settle:<4} {position:>9}"
    )


class FillsPane(Static):
    """The newest fills, one line each (newest first)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Fills (fee −: rebate)"
        self._shown = -1

    def show(self, fills: deque[FillRecorded], count: int, inst: Instrument) -> None:
        """Repaint when ``count`` (fills seen so far) moved since the last paint."""
        if count == self._shown:
            return
        self._shown = count
        self.update(render_fills(reversed(fills), inst, count))


def render_fills(newest_first: Iterable[FillRecorded], inst: Instrument, count: int) -> Text:
    """The header and one line per fill of ``inst``."""
    out = Text(header(inst.size_unit, inst.base), style="dim")
    if not count:
        out.append("\nno fills yet this session", style="dim")
    for rec in newest_first:
        style = "green" if rec.fill.side is Side.BUY else "red"
        out.append("\n")
        out.append(fill_line(rec, inst), style=style)
    return out
