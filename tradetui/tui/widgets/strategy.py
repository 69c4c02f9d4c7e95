"""'Why this quote': the inputs and terms of the last Avellaneda–Stoikov decision."""

from __future__ import annotations

from rich.text import Text

from tradetui.engine.snapshot import EngineSnapshot
from tradetui.tui import fmt
from tradetui.tui.widgets.pane import SnapshotPane, rows


def _half(value: float | None) -> str:
    return "pulled" if value is None else f"{value:.1f} ticks"


class StrategyPane(SnapshotPane):
    """Mid, reservation price, half-spreads, σ, k, A, inventory term, clamps, requote reason."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("Why this quote", id=id)

    def render_snapshot(self, snap: EngineSnapshot) -> Text:
        d = snap.decision
        if d is None:
            return Text("no decision yet (press s to start)", style="dim italic")
        tick = snap.tick_size
        clamps = Text("; ".join(d.adjustments) or "none", "yellow" if d.adjustments else "dim")
        return rows(
            [
                ("mid", fmt.price(d.mid_ticks, tick)),
                (
                    "reservation",
                    f"{fmt.price(d.reservation_ticks, tick)} ({d.inventory_term_ticks:+.1f} t)",
                ),
                ("model spread", f"{d.spread_ticks:.1f} ticks"),
                ("bid half", _half(d.bid_half_spread_ticks)),
                ("ask half", _half(d.ask_half_spread_ticks)),
                ("σ", f"{d.sigma_ticks:.1f} ticks/√s"),
                ("k / A", f"{d.k:.4f} /t   {d.a:.1f} /s"),
                ("q / τ", f"{d.q:+.2f}   {d.tau_s:.2f} s"),
                ("ML filter", Text("off", "dim")),
                ("risk clamps", clamps),
                ("requote", Text(snap.requote_reason or "-", "italic")),
            ]
        )
