"""The log pane: engine log records written in batches, with a level filter and search."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, RichLog

from tradetui.tui.logbuffer import LogLine, format_time

MAX_LINES = 2000
LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)
_LEVEL_STYLE = {
    logging.DEBUG: "dim",
    logging.INFO: "",
    logging.WARNING: "yellow",
    logging.ERROR: "bold red",
    logging.CRITICAL: "bold white on red",
}


def render_lines(lines: Iterable[LogLine], needle: str) -> Text:
    """Records as one Text (one widget write per batch); matches of ``needle`` highlighted."""
    out = Text()
    for i, line in enumerate(lines):
        if i:
            out.append("\n")
        level = logging.getLevelName(line.levelno)
        out.append(f"{format_time(line.created_s)} {level:<7} ", _LEVEL_STYLE.get(line.levelno, ""))
        out.append(f"{line.name}: ", "dim")
        out.append(line.message)
    if needle:
        out.highlight_words([needle], "reverse", case_sensitive=False)
    return out


class LogPane(Vertical):
    """Shows records at or above ``min_level`` that contain the search text."""

    def __init__(self, history: Iterable[LogLine], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.history = history
        self.min_level = logging.INFO
        self.needle = ""
        self._lines = RichLog(max_lines=MAX_LINES, wrap=False, id="log-lines")
        # No select-on-focus: text typed ahead of the focus must not be replaced.
        self._search = Input(
            placeholder="search the log (Enter keeps it, Esc clears)",
            id="log-search",
            select_on_focus=False,
        )
        self._update_title()

    def compose(self) -> ComposeResult:
        yield self._lines
        yield self._search

    def _update_title(self) -> None:
        found = f"  /{self.needle}" if self.needle else ""
        self.border_title = f"Log ≥{logging.getLevelName(self.min_level)}{found}"

    def append(self, lines: list[LogLine]) -> int:
        """Write the records that pass the filter in one call; returns how many."""
        shown = [ln for ln in lines if ln.matches(self.min_level, self.needle)]
        if shown:
            self._lines.write(render_lines(shown, self.needle))
        return len(shown)

    def refilter(self) -> None:
        """Redraw from the kept history after the level or the search changed."""
        self._lines.clear()
        self.append(list(self.history)[-MAX_LINES:])
        self._update_title()

    def cycle_level(self) -> None:
        """Next level up (wrapping to DEBUG)."""
        i = LEVELS.index(self.min_level) if self.min_level in LEVELS else 0
        self.min_level = LEVELS[(i + 1) % len(LEVELS)]
        self.refilter()

    def open_search(self) -> None:
        """Show the search box and give it the keys; a layout that hides the log (80×24)
        shows it while a search is open or kept, so typed text never reaches a binding."""
        search = self._search
        self._set_searching(True)
        search.display = True
        search.focus()

    def type_ahead(self, text: str) -> None:
        """Text typed after ``/`` but before the box took focus (focus moves a frame later)."""
        self._search.insert_text_at_cursor(text)

    @property
    def search_open(self) -> bool:
        """True while the search box is shown (it owns the keyboard)."""
        return bool(self._search.display)

    def _set_searching(self, active: bool) -> None:
        # Inline display wins over the compact layout's rule at once (a class would only
        # apply at the next refresh, and the box cannot take focus while hidden).
        if active:
            self.display = True
        else:
            self.styles.clear_rule("display")

    @on(Input.Changed, "#log-search")
    def _search_changed(self, event: Input.Changed) -> None:
        self.needle = event.value.strip().lower()
        self.refilter()

    @on(Input.Submitted, "#log-search")
    def _search_done(self) -> None:
        search = self._search
        search.display = False
        self._set_searching(bool(self.needle))
        self.screen.set_focus(None)

    def close_search(self) -> None:
        """Clear the search and hide the box."""
        search = self._search
        search.value = ""
        search.display = False
        self.needle = ""
        self._set_searching(False)
        self.refilter()
