"""Order book ladder painted with the line API: asks above, bids below, our quotes in place.

Lines are rebuilt only when the visible ladder or the width changes, and then served from a
cache by ``render_line``; an unchanged book costs nothing at paint time.
"""

from __future__ import annotations

from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget

from tradetui.core.types import Level, Side
from tradetui.engine.snapshot import EngineSnapshot
from tradetui.tui import fmt
from tradetui.tui.widgets.pane import sized_title

_BAR = "█"
_PARTIAL = " ▏▎▍▌▋▊▉"
_PRICE_W = 10
_SIZE_W = 7

# Ladder rows: (side, price_ticks, market size lots, our working size lots)
Row = tuple[Side, int, int, int]


def _bar(fraction: float, width: int) -> str:
    """A horizontal bar of ``fraction`` × ``width`` cells with eighth-cell resolution."""
    eighths = round(max(0.0, min(1.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    text = _BAR * full + (_PARTIAL[part] if part else "")
    return text.ljust(width)


def ladder(levels: tuple[Level, ...], ours: dict[int, Level], side: Side, n: int) -> list[Row]:
    """Best ``n`` prices of one side, best first, merged with our quotes.

    ``ours`` maps price → (market size, our size) in lots. A quote deeper than the ladder
    shows takes the outermost rows, so our orders are always on screen.
    """
    sizes = dict(levels)
    for price_ticks, (market_lots, _mine) in ours.items():
        sizes.setdefault(price_ticks, market_lots)
    best_first = sorted(sizes, reverse=side is Side.BUY)
    shown = best_first[:n]
    deeper = [p for p in best_first[n:] if p in ours]
    if deeper:
        keep = max(0, n - len(deeper))
        shown = shown[:keep] + deeper[: n - keep]
    return [(side, p, sizes[p], ours[p][1] if p in ours else 0) for p in shown]


class OrderBookView(Widget):
    """Depth ladder around the touch with size bars; our working quotes are highlighted."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "book--bid",
        "book--ask",
        "book--bid-bar",
        "book--ask-bar",
        "book--ours",
        "book--spread",
    }

    DEFAULT_CSS = """
    OrderBookView { height: 1fr; }
    OrderBookView > .book--bid { color: $success; }
    OrderBookView > .book--ask { color: $error; }
    OrderBookView > .book--bid-bar { color: $success 40%; }
    OrderBookView > .book--ask-bar { color: $error 40%; }
    OrderBookView > .book--ours { color: $warning; text-style: bold reverse; }
    OrderBookView > .book--spread { color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Book"
        self._snapshot: EngineSnapshot | None = None
        self._key: tuple[object, ...] = ()
        self._lines: list[Strip] = []
        self.rebuilds = 0

    @property
    def levels_per_side(self) -> int:
        """Rows available for each side at the current height."""
        return max(1, (self.size.height - 1) // 2)

    def show(self, snap: EngineSnapshot) -> None:
        """Take a new snapshot; repaints only if the visible ladder changed."""
        self._snapshot = snap
        self.border_title = sized_title("Book", snap)
        key = self._ladder_key(snap)
        if key != self._key:
            self._key = key
            self._lines = []
            self.refresh()

    def _ladder_key(self, snap: EngineSnapshot) -> tuple[object, ...]:
        n = self.levels_per_side
        ours = tuple((q.side, q.price_ticks, q.leaves_lots) for q in snap.quotes)
        return (snap.bids[:n], snap.asks[:n], ours, self.size.width, n)

    def on_resize(self) -> None:
        self._key = ()
        self._lines = []
        self.refresh()

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return container.height

    def render_line(self, y: int) -> Strip:
        if not self._lines:
            self._lines = self._build()
        if y < len(self._lines):
            return self._lines[y]
        return Strip.blank(self.size.width, self.rich_style)

    def _build(self) -> list[Strip]:
        snap = self._snapshot
        width = self.size.width
        base = self.rich_style
        if snap is None or not snap.bids or not snap.asks:
            text = " waiting for the book…"
            blank = Strip.blank(width, base)
            return [Strip([Segment(text, base)]).adjust_cell_length(width, base)] + [blank] * (
                self.size.height - 1
            )
        self.rebuilds += 1
        n = self.levels_per_side
        ours: dict[Side, dict[int, Level]] = {Side.BUY: {}, Side.SELL: {}}
        for q in snap.quotes:
            mine = ours[q.side].get(q.price_ticks, (q.level_lots, 0))[1]
            ours[q.side][q.price_ticks] = (q.level_lots, mine + q.leaves_lots)
        asks = ladder(snap.asks, ours[Side.SELL], Side.SELL, n)
        bids = ladder(snap.bids, ours[Side.BUY], Side.BUY, n)
        biggest = max((r[2] for r in asks + bids), default=1) or 1
        styles = {
            name: base + self.get_component_rich_style(name, partial=True)
            for name in self.COMPONENT_CLASSES
        }
        lines = [Strip.blank(width, base)] * (n - len(asks))
        lines += [self._row(r, biggest, width, snap, styles) for r in reversed(asks)]
        spread = snap.best_ask_ticks - snap.best_bid_ticks
        mid = fmt.price(snap.mid_ticks, snap.tick_size)
        label = f" mid {mid}  spread {spread}t"
        lines.append(
            Strip([Segment(label, styles["book--spread"])]).adjust_cell_length(width, base)
        )
        lines += [self._row(r, biggest, width, snap, styles) for r in bids]
        return lines

    @staticmethod
    def _row(
        row: Row, biggest: int, width: int, snap: EngineSnapshot, styles: dict[str, Style]
    ) -> Strip:
        side, price_ticks, size_lots, our_lots = row
        kind = "bid" if side is Side.BUY else "ask"
        marker = "▶" if our_lots else " "
        price = fmt.price(price_ticks, snap.tick_size).rjust(_PRICE_W)
        size = (fmt.qty(size_lots, snap.lot_size, snap.size_step) if size_lots else "-").rjust(
            _SIZE_W
        )
        ours = f" {fmt.qty(our_lots, snap.lot_size, snap.size_step)}" if our_lots else ""
        bar_w = max(0, width - _PRICE_W - _SIZE_W - 4 - len(ours))
        price_style = styles["book--ours"] if our_lots else styles[f"book--{kind}"]
        segments = [
            Segment(marker, styles["book--ours"] if our_lots else styles[f"book--{kind}"]),
            Segment(price, price_style),
            Segment(" " + size + " ", styles[f"book--{kind}"]),
            Segment(_bar(size_lots / biggest, bar_w), styles[f"book--{kind}-bar"]),
            Segment(ours, styles["book--ours"]),
        ]
        return Strip(segments).adjust_cell_length(width, styles[f"book--{kind}"])
