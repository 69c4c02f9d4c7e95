"""The session's fills in a scrollable dialog (any terminal size; the pane shows the newest)."""

from __future__ import annotations

from collections import deque

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from tradetui.core.instrument import Instrument
from tradetui.engine.events import FillRecorded
from tradetui.tui.widgets.fills import KEPT, render_fills


class FillsScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,h,q", "dismiss", "Close")]  # noqa: RUF012

    def __init__(self, fills: deque[FillRecorded], count: int, inst: Instrument) -> None:
        super().__init__()
        self._text = render_fills(reversed(list(fills)), inst, count)
        older = f"; the {KEPT} newest of {count}" if count > len(fills) else ""
        self._title = f"Fills this session: {count}{older} (newest first)"

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="fills"):
            yield Label(self._title, id="dialog-title")
            with VerticalScroll(id="fills-list"):
                yield Static(self._text)
            yield Label(
                "Esc or h closes; `tradetui fills` lists every stored fill", id="dialog-hint"
            )
