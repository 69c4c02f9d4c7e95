"""Our working orders: side, price, size, age, distance to the touch, queue ahead."""

from __future__ import annotations

from rich.text import Text

from tradetui.core.types import Side
from tradetui.engine.snapshot import EngineSnapshot, WorkingQuote
from tradetui.tui import fmt
from tradetui.tui.widgets.pane import SnapshotPane, sized_title

_HEADER = f"{'side':<4} {'price':>9} {'size':>6} {'age':>6} {'touch':>5} {'ahead':>6} state"


def _state(q: WorkingQuote) -> str:
    """Four letters: unk? = outcome unknown (the venue is asking the exchange), cxl = cancel
    sent, cls = closing order, live = acked, sent = in flight."""
    if q.unknown:
        return "unk?"
    if q.cancel_pending:
        return "cxl"
    if q.reduce_only:
        return "cls"
    return "live" if q.acked else "sent"


class QuotesPane(SnapshotPane):
    """One line per working order; 'touch' is ticks behind our side's best price."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("Quotes", id=id)

    def render_snapshot(self, snap: EngineSnapshot) -> Text:
        self.border_title = sized_title("Quotes", snap)
        out = Text(_HEADER, style="dim")
        if not snap.quotes:
            out.append("\nno working orders", style="dim italic")
            return out
        for q in snap.quotes:
            buy = q.side is Side.BUY
            ahead = (
                "-"
                if q.queue_ahead_lots is None
                else fmt.qty(q.queue_ahead_lots, snap.lot_size, snap.size_step)
            )
            out.append("\n")
            out.append(f"{'BUY' if buy else 'SELL':<4}", style="green" if buy else "red")
            out.append(
                f" {fmt.price(q.price_ticks, snap.tick_size):>9}"
                f" {fmt.qty(q.leaves_lots, snap.lot_size, snap.size_step):>6}"
                f" {fmt.age(q.age_ns):>6}"
                f" {q.touch_distance_ticks:>5}"
                f" {ahead:>6} {_state(q)}"
            )
        return out
