"""The key reference: every binding of the console (the footer shows the main ones)."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

KEYS: tuple[tuple[str, str], ...] = (
    ("s", "start quoting (asks to confirm after a halt)"),
    ("x", "stop: cancel all working orders (the position stays open)"),
    ("f", "flatten: cancel all and close the position (confirm)"),
    ("k k", "halt (kill switch): press twice within 2 s"),
    ("p", "parameters: edit strategy and quoting live"),
    ("h", "this session's fills, newest first"),
    ("w", "screener: every symbol of the venue (o orders it)"),
    ("a", "in the screener: add the highlighted symbol (paper)"),
    ("↑ ↓", "several markets: the market shown; s x f k p act on it"),
    ("S", "several markets: start every market"),
    ("X", "several markets: stop every market"),
    ("F", "several markets: flatten every market (confirm)"),
    ("H", "several markets: halt every market (confirm)"),
    ("/", "search the log (Esc clears)"),
    ("l", "log level filter: cycle DEBUG → INFO → WARNING → ERROR"),
    ("ctrl+p", "command palette: the same actions by name"),
    ("?", "this help"),
    ("q", "quit (asks first when running or holding a position)"),
)
# Rows the dialog takes besides the keys (title, hint, borders, padding, margins).
_CHROME_ROWS = 10


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
            with VerticalScroll(id="help-keys"):
                yield Static(table)
            yield Label("Esc or ? closes; ↑ ↓ scroll", id="dialog-hint")

    def on_mount(self) -> None:
        # The keys scroll where the terminal is too short for them all (80×24).
        keys = self.query_one("#help-keys", VerticalScroll)
        keys.styles.max_height = max(3, self.app.size.height - _CHROME_ROWS)
        keys.focus()
