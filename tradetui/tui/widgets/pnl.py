"""PnL figures, and a small equity and inventory chart over the session."""

from __future__ import annotations

from collections import deque
from decimal import Decimal

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, Sparkline

from tradetui.core.units import markout_text, money_decimals
from tradetui.engine.snapshot import EngineSnapshot
from tradetui.tui import fmt
from tradetui.tui.widgets.pane import SnapshotPane, rows

# Chart samples are taken once per this much engine time, so the chart spans the session
# at any market speed (ns).
SAMPLE_EVERY_NS = 1_000_000_000
_SAMPLES = 240


def _signed(value: Decimal, decimals: int, unit: str) -> Text:
    return Text(
        f"{fmt.money(value, decimals):>12}{unit}",
        "green" if value > 0 else "red" if value < 0 else "",
    )


class PnlPane(SnapshotPane):
    """Realized, unrealized, fees and rebates, total, spread capture and inventory PnL,
    markouts (core/metrics.py), volume, cost per 10k, rates.

    Money is in the settlement asset; on an inverse contract it is the coin, shown to eight
    decimals and named in the title and on each row with one amount, and the volume in quote
    is named too (a linear market's panes read as they always did: all in the quote asset)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("PnL", id=id)

    def render_snapshot(self, snap: EngineSnapshot) -> Text:
        p = snap.pnl
        coin = p.settle != snap.quote
        d = money_decimals(p.settle, snap.quote)
        unit = f" {p.settle}" if coin else ""
        volume_unit = f" {snap.quote}" if coin else ""
        # Two coin amounts to eight decimals and a unit do not fit one row of the pane (45
        # columns inside at 120x35): on an inverse contract the title names the coin, the
        # rows holding two amounts leave the unit out, and "inventory" is shortened.
        self.border_title = f"PnL ({p.settle})" if coin else "PnL"
        inventory = "inv" if coin else "inventory"
        return rows(
            [
                ("realized", _signed(p.realized, d, unit)),
                ("unrealized", _signed(p.unrealized, d, unit)),
                # Paid and received, unsigned as everywhere (docs/units.md).
                ("fees paid", f"{p.fees:>12,.{d}f}  rebates {p.rebates:,.{d}f}"),
                ("total", _signed(p.total, d, unit)),
                (
                    "volume",
                    f"{p.volume_quote:>12,.2f}{volume_unit}  cost/10k {p.cost_per_10k:+.2f}",
                ),
                ("fills/min", f"{snap.fills_per_min:>12.1f}  cxl/min {snap.cancels_per_min:.1f}"),
                (
                    "capture",
                    f"{p.spread_capture:>+12,.{d}f}  {inventory} {p.inventory_pnl:+,.{d}f}",
                ),
                ("markout", markout_text(snap.markouts)),
            ]
        )


def _drawable(samples: deque[float]) -> list[float]:
    """What the sparkline draws: Textual paints a single sample as a solid block the chart's
    full height, so until there are two it gets none (a baseline); a flat series of two or
    more is drawn on the baseline."""
    return list(samples) if len(samples) > 1 else []


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
        self.equity.append(float(snap.pnl.total))
        self.inventory.append(float(snap.pnl.position_lots))
        self._equity_chart.data = _drawable(self.equity)
        self._inventory_chart.data = _drawable(self.inventory)
        p = snap.pnl
        unit = f" {p.settle}" if p.settle != snap.quote else ""
        d = money_decimals(p.settle, snap.quote)
        self._equity_label.update(f"equity {fmt.money(p.total, d)}{unit}", layout=False)
