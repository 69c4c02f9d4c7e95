"""The key reference (also shown in the footer)."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

KEYS: tuple[tuple[str, str], ...] = (
    ("s", "start quoting (asks to confirm after a halt)"),
    ("x", "stop: cancel all working orders (the position stays open)"),
    ("f", "flatten: cancel all and close the position (confirm)"),
    ("k k", "halt (kill switch): press twice within 2 s"),
    ("p", "parameters: edit strategy and quoting live"),
    ("h", "fills of this session, newest first (also in the log and the fills pane)"),
    ("/", "search the log (Esc clears)"),
    ("l", "log level filter: cycle DEBUG → INFO → WARNING → ERROR"),
    ("ctrl+p", "command palette: the same actions by name"),
    ("?", "this help"),
    ("q", "quit (asks first when running or holding a position)"),
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]  # noqa: RUF012

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold cyan", justify="right")
        table.add_column()
        for key, what in KEYS:
            table.add_row(key, what)
        with Vertical(id="dialog"):
            yield Label("tradetui — keys", id="dialog-title")
            yield Static(table)
            yield Label("Esc or ? closes", id="dialog-hint")
