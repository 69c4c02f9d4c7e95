"""The screener in the console: every symbol of a venue from public streams (docs/screener.md).

It runs on the console's event loop while shown (one exchangeInfo request, then websockets
only) and stops when closed. The table is repainted once a second, sorted by the chosen key;
the highlighted symbol stays highlighted. ``a`` adds it to the running session as a paper
market (``AddMarket``: the console decides whether the session can take it).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label

from tradetui.core.instrument import Instrument
from tradetui.screener.service import Screener, load_instruments
from tradetui.screener.stats import SORT_KEYS, ScreenRow

_REFRESH_S = 1.0
# Adds a screened symbol (its listing and figures) to the session; returns what it did, one
# line, and whether it did it.
AddMarket = Callable[[Instrument, ScreenRow], Awaitable[tuple[bool, str]]]
_COLUMNS = ("symbol", "spr tk", "spr bps", "vol 1m", "vol 1h", "24h quote", "trades/m", "net bps")


class ScreenerScreen(ModalScreen[None]):
    """The screener table; ``o`` changes the order, ``a`` adds the highlighted symbol to the
    session (with ``add_market``), Esc closes (and stops the streams)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,w", "dismiss", "Close"),
        Binding("o", "sort", "Order"),
        Binding("a", "add_market", "Add market"),
    ]

    def __init__(
        self,
        exchange_id: str,
        rest_url: str,
        ws_url: str,
        *,
        routed: bool,
        maker_fee_bps: float | None = None,
        add_market: AddMarket | None = None,
    ) -> None:
        super().__init__()
        self._add_market = add_market
        self._exchange_id = exchange_id
        self._rest_url = rest_url
        self._ws_url = ws_url
        self._routed = routed
        self._maker_fee_bps = maker_fee_bps
        # The order of the rows (a --sort key).
        self.sort_key = "volume"
        self.screener: Screener | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="screener"):
            yield Label(f"Screener {self._exchange_id}: loading the symbol list", id="dialog-title")
            yield DataTable(id="screener-table", cursor_type="row", zebra_stripes=True)
            yield Label(
                "o order (spread vol volume trades edge) · a add to session · Esc close",
                id="dialog-hint",
            )

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns(*_COLUMNS)
        self.run_worker(self._watch(), exclusive=True, group="screener", exit_on_error=False)
        self.set_interval(_REFRESH_S, self._paint)

    async def _watch(self) -> None:
        title = self.query_one("#dialog-title", Label)
        try:
            instruments = await load_instruments(self._exchange_id, self._rest_url)
            self.screener = Screener(
                self._exchange_id,
                instruments,
                self._ws_url,
                self._routed,
                maker_fee_bps=self._maker_fee_bps,
            )
        except Exception as exc:  # shown, never raised into the console
            title.update(f"Screener {self._exchange_id}: {type(exc).__name__}: {exc}"[:200])
            return
        await self.screener.run()

    def on_unmount(self) -> None:
        if self.screener is not None:
            self.screener.close()

    def action_sort(self) -> None:
        self.sort_key = SORT_KEYS[(SORT_KEYS.index(self.sort_key) + 1) % len(SORT_KEYS)]
        self._paint()

    def highlighted(self) -> str | None:
        """The symbol under the cursor (None: the table is empty)."""
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return str(table.get_row_at(table.cursor_row)[0])

    async def action_add_market(self) -> None:
        s, symbol = self.screener, self.highlighted()
        if s is None or symbol is None or self._add_market is None:
            self.notify("no symbol to add yet: the screener is loading", severity="warning")
            return
        row = next(r for r in s.rows(self.sort_key) if r.symbol == symbol)
        instrument = next(i for i in s.instruments if i.symbol == symbol)
        ok, message = await self._add_market(instrument, row)
        self.notify(message, severity="information" if ok else "warning", timeout=8)

    def _paint(self) -> None:
        s = self.screener
        if s is None:
            return
        rows = s.rows(self.sort_key)
        live = sum(st.state == "live" for st in s.feed.status)
        self.query_one("#dialog-title", Label).update(
            f"Screener {self._exchange_id}: {len(rows)} symbols, {live}/{len(s.feed.status)} "
            f"connections live, by {self.sort_key}; maker fee {s.book.maker_fee_bps:g} bps"
        )
        table = self.query_one(DataTable)
        keep = self.highlighted()
        with self.app.batch_update():
            table.clear()
            for r in rows:
                table.add_row(*_cells(r), key=r.symbol)
            if keep is not None and keep in table.rows:
                table.move_cursor(row=table.get_row_index(keep), animate=False)


def _cells(r: ScreenRow) -> tuple[str, ...]:
    def f(x: float, spec: str) -> str:
        return "-" if math.isnan(x) else format(x, spec)

    return (
        r.symbol,
        f(r.spread_ticks, ".1f"),
        f(r.spread_bps, ".2f"),
        f(r.vol_1m_bps, ".1f"),
        f(r.vol_1h_bps, ".0f"),
        f(r.quote_volume, ",.0f"),
        f(r.trades_per_min, ".0f"),
        f(r.mm_net_bps, ".2f"),
    )
