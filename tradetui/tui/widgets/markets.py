"""The markets table of a several-market session (docs/multi-market.md): one row per market;
the highlighted row is the market the book, quotes and "why this quote" panes show and the
single-market keys act on."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.coordinate import Coordinate
from textual.widgets import DataTable

from tradetui.core.types import Side
from tradetui.engine.events import EngineState
from tradetui.engine.snapshot import EngineSnapshot
from tradetui.risk.portfolio import MarketExposure
from tradetui.tui import fmt
from tradetui.tui.widgets.status import risk_status

COLUMNS = ("market", "state", "position", "notional$", "PnL $", "spr bp", "f/min", "risk")
# What the table calls the engine's states (RUNNING is what a market maker calls quoting).
_STATE = {EngineState.RUNNING: "quoting"}
_STATE_STYLE = {EngineState.RUNNING: "green", EngineState.HALTED: "bold red"}


@dataclass(frozen=True, slots=True)
class MarketRow:
    """One market's row, as painted."""

    name: str
    snap: EngineSnapshot
    exposure: MarketExposure

    def cells(self) -> tuple[str | Text, ...]:
        s = self.snap
        state = _STATE.get(s.state, str(s.state))
        position = fmt.qty(s.position_lots, s.lot_size, s.size_step) if s.position_lots else "0"
        if s.position_lots > 0:
            position = "+" + position
        e = self.exposure
        width = quoted_spread_bps(s)
        return (
            self.name,
            Text(state, _STATE_STYLE.get(s.state, "yellow")),
            position,
            f"{e.notional_usd:,.0f}",
            Text(f"{e.pnl_usd:+,.2f}", "green" if e.pnl_usd > 0 else "red" if e.pnl_usd else ""),
            "-" if width is None else f"{width:.1f}",
            f"{s.fills_per_min:.1f}",
            Text(*market_risk(s)),
        )


def quoted_spread_bps(snap: EngineSnapshot) -> float | None:
    """The width between our best working bid and ask, in bps of the touch's mid; None unless
    both sides are quoted."""
    bids = [q.price_ticks for q in snap.quotes if q.side is Side.BUY and not q.reduce_only]
    asks = [q.price_ticks for q in snap.quotes if q.side is Side.SELL and not q.reduce_only]
    mid = (snap.best_bid_ticks + snap.best_ask_ticks) / 2
    if not bids or not asks or mid <= 0:
        return None
    return (min(asks) - max(bids)) / mid * 1e4


def market_risk(snap: EngineSnapshot) -> tuple[str, str]:
    """A market's guard state in a few characters: HALT, the guard's own state when it is
    not allowing, else how much of the inventory limit is used; and its style."""
    _, style = risk_status(snap)
    if snap.state is EngineState.HALTED:
        return "HALT", style
    if snap.risk_status not in ("", "allow"):
        return snap.risk_status[:10], style
    return f"inv {snap.inventory_pct:.0f}%", style


class MarketsTable(DataTable[str | Text]):
    """The table; ``show`` repaints the rows in place (the highlighted row stays)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.border_title = "Markets"
        self._last: list[tuple[str | Text, ...]] = []
        self.add_columns(*COLUMNS)

    def show(self, rows: list[MarketRow]) -> None:
        cells = [r.cells() for r in rows]
        if cells == self._last:
            return
        with self.app.batch_update():
            for i, row in enumerate(cells):
                if i >= self.row_count:
                    self.add_row(*row, key=str(i))
                elif i >= len(self._last) or row != self._last[i]:
                    for j, cell in enumerate(row):
                        self.update_cell_at(Coordinate(i, j), cell, update_width=True)
        self._last = cells
