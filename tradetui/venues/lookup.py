"""Finding an instrument by symbol for paper trading and the markets commands.

Paper sessions look a symbol up in the cached catalog first (what the exchange listed when
last synced) and then in the simulated exchange's own listing, exchange by exchange in
``search_order``: USD-M, COIN-M, spot, then any other cached exchange, so BTCUSDT is the
USD-M perpetual unless a venue is named.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from tradetui.core.instrument import Instrument
from tradetui.venues.catalog import (
    VENUE_EXCHANGES,
    Catalog,
    catalog_dir,
    exchange_id,
    load_catalog,
)
from tradetui.venues.sim_listing import sim_catalog

# Exchanges the built-in simulated exchange plays (sim_listing has their listings).
_SIMULATED = frozenset(VENUE_EXCHANGES.values())


class UnknownInstrumentError(LookupError):
    """No instrument by that symbol (the message names close matches and the fix)."""


def short_venue(exchange: str) -> str:
    """'usdm' for 'binanceusdm'; other exchange ids as they are."""
    return next((k for k, v in VENUE_EXCHANGES.items() if v == exchange), exchange)


def search_order(venue: str | None, folder: Path | None = None) -> list[str]:
    """The exchange ids to look in: ``venue``'s alone, else the Binance three, then the
    other cached exchanges by name."""
    if venue:
        return [exchange_id(venue)]
    root = folder or catalog_dir()
    cached = sorted(p.stem for p in root.glob("*.json")) if root.is_dir() else []
    order = list(VENUE_EXCHANGES.values())
    return order + [e for e in cached if e not in order]


def close_matches(symbol: str, catalogs: list[Catalog]) -> list[str]:
    """Up to five listed symbols that look like ``symbol`` ('venue:SYMBOL' when listed on
    several exchanges)."""
    names = sorted({s for c in catalogs for s in c.instruments})
    return difflib.get_close_matches(symbol.strip().upper(), names, n=5, cutoff=0.6)


def resolve_instrument(
    symbol: str, venue: str | None = None, folder: Path | None = None
) -> Instrument:
    """The instrument ``symbol`` on ``venue`` (any when None) for paper trading: the cached
    catalog's, else the simulated exchange's. Raises CatalogError for a damaged cache and
    UnknownInstrumentError naming close matches and the command that fixes it."""
    looked: list[Catalog] = []
    for ex in search_order(venue, folder):
        for cat in (load_catalog(ex, folder), sim_catalog(ex) if ex in _SIMULATED else None):
            if cat is None:
                continue
            looked.append(cat)
            hit = cat.get(symbol)
            if hit is not None:
                return hit
    where = f"on {exchange_id(venue)} " if venue else ""
    sync = f"tradetui markets sync --venue {venue}" if venue else "tradetui markets sync"
    near = close_matches(symbol, looked)
    hint = f" (close: {', '.join(near)})" if near else ""
    raise UnknownInstrumentError(
        f"no instrument {symbol!r} {where}in the catalog cache or the simulated exchange's "
        f"listing{hint}; run `{sync}` to fetch the exchange's markets, then "
        "`tradetui markets list --search TEXT` to find its symbol"
    )
