"""The parameter editor: strategy and quoting settings, validated before anything applies.

Every changed field is parsed and the whole section is validated through
``Settings.replace``; one bad value shows an inline error and nothing is sent. A valid edit
dismisses with the SET_PARAMS commands to send. The symbol is locked while the engine runs.
"""

from __future__ import annotations

import dataclasses
from typing import Any, get_type_hints

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from tradetui.config import ConfigError, Settings, parse_value
from tradetui.engine.engine import Command, CommandKind

EDITABLE = ("strategy", "quoting")


def plan_changes(
    settings: Settings, edits: dict[str, dict[str, str]]
) -> tuple[Settings, list[Command]]:
    """Validate the edited text of each section; the new settings and commands to send."""
    new = settings
    commands: list[Command] = []
    for section, fields in edits.items():
        current = getattr(settings, section)
        hints = get_type_hints(type(current))
        changes: dict[str, Any] = {}
        for name, text in fields.items():
            value = parse_value(text, hints[name], f"{section}.{name}")
            if value != getattr(current, name):
                changes[name] = value
        if changes:
            new = new.replace(section, **changes)
            commands.append(
                Command(CommandKind.SET_PARAMS, section=section, changes=tuple(changes.items()))
            )
    return new, commands


class ParamsScreen(ModalScreen[list[Command] | None]):
    """Dismisses with the commands to send (empty when nothing changed), None when cancelled.
    Opens with the first editable field focused, so typing edits it at once."""

    BINDINGS = [  # noqa: RUF012
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "apply", "Apply"),
    ]

    def __init__(self, settings: Settings, symbol_locked: bool, symbol: str = "") -> None:
        """``symbol``: the instrument traded (default venue.symbol), which market.source
        names when it is not venue.symbol (synthetic:coinm:BTCUSD_PERP)."""
        super().__init__()
        self.settings = settings
        self.symbol_locked = symbol_locked
        self.symbol = symbol or settings.venue.symbol

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="params"):
            yield Label("Parameters — applied live (Ctrl+S apply, Esc cancel)", id="dialog-title")
            with VerticalScroll(id="params-fields"):
                lock = " (locked while running)" if self.symbol_locked else ""
                yield from self._row("venue", "symbol", self.symbol, lock)
                for section in EDITABLE:
                    obj = getattr(self.settings, section)
                    for fld in dataclasses.fields(obj):
                        value = getattr(obj, fld.name)
                        shown = str(value).lower() if isinstance(value, bool) else str(value)
                        yield from self._row(section, fld.name, shown, "")
            yield Label("", id="params-error")
            with Horizontal(id="dialog-buttons"):
                yield Button("Apply (ctrl+s)", variant="success", id="apply")
                yield Button("Cancel (esc)", variant="primary", id="cancel")

    def on_mount(self) -> None:
        first = next(f for f in self.query(".param-input").results(Input) if not f.disabled)
        first.focus()

    def _row(self, section: str, name: str, value: str, note: str) -> ComposeResult:
        obj = getattr(self.settings, section)
        doc = next(f.metadata["doc"] for f in dataclasses.fields(obj) if f.name == name)
        with Horizontal(classes="param-row"):
            yield Label(f"{section}.{name}", classes="param-name")
            field_input = Input(value, id=f"param-{section}-{name}", classes="param-input")
            field_input.disabled = section == "venue" and self.symbol_locked
            yield field_input
            yield Label(doc + note, classes="param-doc")

    def edits(self) -> dict[str, dict[str, str]]:
        """The editor's current text for every editable field, by section."""
        out: dict[str, dict[str, str]] = {}
        for section in EDITABLE:
            obj = getattr(self.settings, section)
            out[section] = {
                f.name: self.query_one(f"#param-{section}-{f.name}", Input).value
                for f in dataclasses.fields(obj)
            }
        return out

    def _symbol_error(self) -> str:
        symbol = self.query_one("#param-venue-symbol", Input).value.strip()
        if symbol == self.symbol:
            return ""
        if self.symbol_locked:
            return "venue.symbol: locked while the engine runs; stop it first"
        return (
            f"venue.symbol: {symbol!r} needs a new session; set it in config.toml and restart "
            "tradetui"
        )

    def show_error(self, message: str) -> None:
        error = self.query_one("#params-error", Label)
        error.update(message)
        error.display = bool(message)

    def action_apply(self) -> None:
        problem = self._symbol_error()
        if problem:
            self.show_error(problem)
            return
        try:
            _new, commands = plan_changes(self.settings, self.edits())
        except ConfigError as exc:
            self.show_error(str(exc))
            return
        self.dismiss(commands)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#apply")
    def _apply_pressed(self) -> None:
        self.action_apply()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_apply()
