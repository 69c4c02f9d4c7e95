"""The status bar: engine state, mode, venue, market source, symbol, feed rate, latency,
uptime, risk."""

from __future__ import annotations

from enum import StrEnum

from rich.text import Text
from textual.widgets import Static

from tradetui.engine.events import EngineState
from tradetui.engine.snapshot import EngineSnapshot
from tradetui.tui import fmt


class Mode(StrEnum):
    PAPER = "PAPER"
    LIVE = "LIVE"


_STATE_STYLE = {
    EngineState.RUNNING: "bold black on green",
    EngineState.STOPPED: "bold white on grey37",
    EngineState.HALTED: "bold white on red",
}
_TRANSITION_STYLE = "bold black on yellow"
_MODE_TEXT = {Mode.PAPER: " PAPER ", Mode.LIVE: " ‼ LIVE — REAL MONEY ‼ "}
_MODE_STYLE = {Mode.PAPER: "bold black on cyan", Mode.LIVE: "bold blink white on red"}


def risk_status(snap: EngineSnapshot) -> tuple[str, str]:
    """A short risk label and its style."""
    if snap.state is EngineState.HALTED:
        return f"HALTED: {snap.halt_reason or 'kill switch'}", "bold red"
    if snap.risk_status not in ("", "allow"):
        return f"risk {snap.risk_status}", "yellow"
    if snap.inventory_pct >= 100:
        return "inventory at limit: adding side pulled", "bold yellow"
    if snap.inventory_pct >= 75:
        return f"inventory {snap.inventory_pct:.0f}% of limit", "yellow"
    return "risk ok", "green"


class StatusBar(Static):
    """One line; LIVE mode is red and spelled out so it is never mistaken for paper."""

    def __init__(self, mode: Mode, *, market: str = "", id: str | None = None) -> None:
        super().__init__(id=id)
        self.mode = mode
        # A paper session's market source (synthetic, replay FILE, live; "" for a live
        # session); marked once it has ended.
        self.market = market
        self.market_ended = False
        self._last: Text | None = None

    def show(self, snap: EngineSnapshot, feed_per_s: float, uptime_ns: int) -> None:
        text = Text()
        text.append(f" {snap.state.upper()} ", _STATE_STYLE.get(snap.state, _TRANSITION_STYLE))
        text.append(_MODE_TEXT[self.mode], _MODE_STYLE[self.mode])
        # A paper session names its market (the venue is the simulated exchange); a live one
        # its exchange.
        text.append(f" {self.market or snap.venue}")
        if self.market_ended:
            text.append(" ENDED", "bold yellow")
        text.append(f"│{snap.symbol}│feed {feed_per_s:,.0f}/s│")
        text.append(f"decide p99 {snap.decision_latency_p99_us:,.0f}µs│")
        text.append(f"up {fmt.duration(uptime_ns)}│")
        label, style = risk_status(snap)
        text.append(label, style)
        if text != self._last:
            self._last = text
            self.update(text, layout=False)
