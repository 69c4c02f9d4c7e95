"""Base for text panes that render a snapshot and repaint only when their text changes."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from tradetui.engine.snapshot import EngineSnapshot


class SnapshotPane(Static):
    """A Static whose content is a pure function of the latest snapshot."""

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = title
        self._last: Text | None = None

    def show(self, snap: EngineSnapshot) -> None:
        """Render ``snap``; skip the repaint when nothing visible changed."""
        self.paint(self.render_snapshot(snap))

    def paint(self, text: Text) -> None:
        """Show ``text`` unless it is what is shown already."""
        last = self._last
        if text != last:
            self._last = text
            # A layout pass costs far more than a repaint; only a new line count needs one.
            lines_changed = last is None or last.plain.count("\n") != text.plain.count("\n")
            self.update(text, layout=lines_changed)

    def render_snapshot(self, snap: EngineSnapshot) -> Text:
        raise NotImplementedError


def rows(pairs: list[tuple[str, str | Text]], label_width: int = 0) -> Text:
    """Aligned ``label  value`` lines; labels dimmed."""
    width = label_width or max((len(k) for k, _ in pairs), default=0)
    out = Text()
    for i, (label, value) in enumerate(pairs):
        if i:
            out.append("\n")
        out.append(label.ljust(width) + "  ", style="dim")
        out.append(value)
    return out


def sized_title(title: str, snap: EngineSnapshot) -> str:
    """A pane title naming the size unit where it is not the base asset (contracts)."""
    return title if snap.size_unit == snap.base else f"{title} (sizes in {snap.size_unit})"
