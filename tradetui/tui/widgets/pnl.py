"""PnL figures, and a small equity and inventory chart over the session."""

from __future__ import annotations

from collections import deque

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Sparkline

from tradetui.engine.snapshot import EngineSnapshot
from tradetui.tui import fmt
from tradetui.tui.widgets.pane import SnapshotPane, rows

# Chart samples are taken once per this much engine time, so the chart spans the session
# at any market speed (ns).
SAMPLE_EVERY_NS = 1_000_000_000
_SAMPLES = 240


def _signed(value: float) -> Text:
    return Text(f"{fmt.money(value):>12}", "green" if value > 0 else "red" if value < 0 else "")


class PnlPane(SnapshotPane):
    """Realized, unrealized, fees and rebates, total, volume, cost per 10k, rates."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("PnL", id=id)

    def render_snapshot(self, snap: EngineSnapshot) -> Text:
        p = snap.pnl
        return rows(
            [
                ("realized", _signed(p.realized)),
                ("unrealized", _signed(p.unrealized)),
                ("fees", f"{-p.fees:>+12,.4f}  rebates {p.rebates:+,.4f}"),
                ("total", _signed(p.total)),
                ("volume", f"{p.volume_quote:>12,.2f}  cost/10k {p.cost_per_10k:+.2f}"),
                ("fills/min", f"{snap.fills_per_min:>12.1f}  cxl/min {snap.cancels_per_min:.1f}"),
            ]
        )


class SessionChart(Vertical):
    """Equity (total PnL) and inventory sampled once per second of engine time."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Equity / inventory"
        self.equity: deque[float] = deque(maxlen=_SAMPLES)
        self.inventory: deque[float] = deque(maxlen=_SAMPLES)
        self._next_sample_ns = 0
        self._equity_label = Label("equity", classes="chart-label")
        self._equity_chart = Sparkline([], id="equity-chart")
        self._inventory_chart = Sparkline([], id="inventory-chart")

    def compose(self) -> ComposeResult:
        yield self._equity_label
        yield self._equity_chart
        yield Label("inventory", classes="chart-label")
        yield self._inventory_chart

    def show(self, snap: EngineSnapshot) -> None:
        """Sample ``snap`` if a second of engine time has passed since the last sample."""
        if not snap.session_ns or snap.ts_ns < self._next_sample_ns:
            return
        self._next_sample_ns = snap.ts_ns + SAMPLE_EVERY_NS
        self.equity.append(snap.pnl.total)
        self.inventory.append(float(snap.pnl.position_lots))
        self._equity_chart.data = list(self.equity)
        self._inventory_chart.data = list(self.inventory)
        self._equity_label.update(f"equity {fmt.money(snap.pnl.total)}", layout=False)
