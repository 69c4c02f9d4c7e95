"""Position: size, average entry, mark, unrealized PnL and inventory against its limit."""

from __future__ import annotations

from decimal import Decimal

from rich.text import Text

from tradetui.core.units import money_decimals
from tradetui.engine.snapshot import EngineSnapshot
from tradetui.tui import fmt
from tradetui.tui.widgets.pane import SnapshotPane, rows

# Short size units where a line per market leaves little room.
_UNIT = {"contracts": "ct"}


def _pnl_style(value: Decimal) -> str:
    return "green" if value > 0 else "red" if value < 0 else ""


class PositionPane(SnapshotPane):
    """The shown market's position; with several markets, one line per market instead."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("Position", id=id)

    def show_book(self, positions: list[tuple[str, EngineSnapshot]]) -> None:
        """Every market's position: its name, size and unrealized PnL (settlement asset)."""
        self.border_title = "Positions"
        width = max(len(name) for name, _ in positions)
        lines: list[tuple[str, str | Text]] = []
        for name, snap in positions:
            p = snap.pnl
            size = fmt.qty(p.position_lots, snap.lot_size, snap.size_step)
            if p.position_lots > 0:
                size = "+" + size
            unrealized = fmt.money(p.unrealized, money_decimals(p.settle, snap.quote))
            lines.append(
                (
                    name.ljust(width),
                    Text.assemble(
                        f"{size:>9} {_UNIT.get(snap.size_unit, snap.size_unit):<4} ",
                        (f"{unrealized} {p.settle}", _pnl_style(p.unrealized)),
                    ),
                )
            )
        self.paint(rows(lines))

    def render_snapshot(self, snap: EngineSnapshot) -> Text:
        p = snap.pnl
        pct = snap.inventory_pct
        inv_style = "bold red" if pct >= 90 else "yellow" if pct >= 60 else ""
        entry = fmt.price(p.avg_entry / snap.tick_size, snap.tick_size) if p.position_lots else "-"
        # An inverse contract counts contracts and settles in the coin: say so; a linear
        # market's pane reads as it always did (base asset, quote money).
        coin = p.settle != snap.quote
        size_unit = f" {snap.size_unit}" if coin else ""
        money_unit = f" {p.settle}" if coin else ""
        unrealized = fmt.money(p.unrealized, money_decimals(p.settle, snap.quote))
        return rows(
            [
                (
                    "size",
                    f"{fmt.qty(p.position_lots, snap.lot_size, snap.size_step):>12}{size_unit}",
                ),
                ("avg entry", f"{entry:>12}"),
                ("mark", f"{fmt.price(snap.mid_ticks, snap.tick_size):>12}"),
                (
                    "unrealized",
                    Text(f"{unrealized:>12}{money_unit}", _pnl_style(p.unrealized)),
                ),
                ("inventory", Text(f"{pct:>11.0f}% of limit", inv_style)),
            ]
        )
