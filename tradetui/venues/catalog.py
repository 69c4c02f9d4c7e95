"""The instrument catalog: every market an exchange lists, from its own metadata, cached on disk.

``sync_catalog`` reads an exchange's markets through ccxt's ``load_markets`` and turns each into
an Instrument (tick, step, minimums, contract terms, fees); ``save_catalog`` writes one JSON file
per exchange with the time it was fetched; offline commands read them back with
``load_catalog`` / ``find_instrument``. Nothing here holds an instrument of its own. A sync
also keeps each symbol's last traded price (ccxt ``fetch_last_prices``, one request), so a
paper session can start a synthetic market of any listed symbol at a price it really had.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tradetui.core.instrument import Instrument, InstrumentKind
from tradetui.venues.errors import SetupError
from tradetui.venues.markets import instrument_from_market

log = logging.getLogger(__name__)

CATALOG_VERSION = 1

# The short venue names recordings and CLI flags use, and the ccxt exchange each stands for.
VENUE_EXCHANGES = {"usdm": "binanceusdm", "coinm": "binancecoinm", "spot": "binance"}


class CatalogError(Exception):
    """A catalog that cannot be read or written (the message names the file and the fix)."""


def exchange_id(venue: str) -> str:
    """The ccxt exchange id for a short venue name ('usdm') or an exchange id as it is."""
    v = venue.strip().lower()
    return VENUE_EXCHANGES.get(v, v)


def catalog_dir() -> Path:
    """$TRADETUI_CATALOG_DIR, else the user cache folder (platformdirs) / markets."""
    env = os.environ.get("TRADETUI_CATALOG_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("tradetui")) / "markets"


@dataclass(slots=True)
class Catalog:
    """One exchange's markets as fetched at ``fetched_ns`` (wall clock, ns) from ``source``."""

    exchange: str
    fetched_ns: int
    source: str
    instruments: dict[str, Instrument] = field(default_factory=dict)
    # Markets listed but not tradable by us, with the reason (e.g. no tick size given).
    skipped: dict[str, str] = field(default_factory=dict)
    # Last traded price per exchange symbol (decimal strings, quote per base) at ``prices_ns``.
    prices: dict[str, str] = field(default_factory=dict)
    prices_ns: int = 0
    # Why no price came with this sync (not stored: the next sync tries again).
    prices_error: str = ""

    def price(self, symbol: str) -> float | None:
        """The last price cached for ``symbol`` (an exchange id), or None."""
        text = self.prices.get(symbol.strip().upper())
        try:
            value = float(text) if text is not None else 0.0
        except ValueError:
            return None
        return value if value > 0 else None

    def get(self, symbol: str) -> Instrument | None:
        """The instrument for an exchange id ('BTCUSD_PERP') or a ccxt unified symbol
        ('ETH/USDT:USDT', 'BTC/USD:BTC', 'BTC/USD:BTC-250328', 'ETH/USDT' for spot): the
        unified name's base, quote and settlement asset, perpetual or spot unless it names
        an expiry, whose date then ends the exchange id."""
        key = symbol.strip().upper()
        hit = self.instruments.get(key)
        if hit is not None:
            return hit
        if "/" not in key:
            return self.instruments.get(key.replace("-", ""))  # BTC-USDT
        pair, _, rest = key.partition(":")
        base, _, quote = pair.partition("/")
        settle, _, expiry = rest.partition("-")
        for inst in self.instruments.values():
            if (inst.base.upper(), inst.quote.upper()) != (base, quote):
                continue
            if not settle:
                if inst.kind is InstrumentKind.SPOT:
                    return inst
                continue
            if inst.settle.upper() != settle or inst.kind is InstrumentKind.SPOT:
                continue
            dated = inst.kind is InstrumentKind.FUTURE
            if (expiry and dated and inst.symbol.upper().endswith(expiry)) or (
                not expiry and not dated
            ):
                return inst
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": CATALOG_VERSION,
            "exchange": self.exchange,
            "fetched_ns": self.fetched_ns,
            "source": self.source,
            "instruments": [i.to_spec() for i in self.instruments.values()],
            "skipped": self.skipped,
            "prices": self.prices,
            "prices_ns": self.prices_ns,
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> Catalog:
        if not isinstance(data, dict) or data.get("version") != CATALOG_VERSION:
            raise CatalogError(
                f"{where}: not a tradetui catalog of version {CATALOG_VERSION}; "
                "run `tradetui markets sync` to rebuild it"
            )
        try:
            instruments = [Instrument.from_spec(s) for s in data["instruments"]]
            return cls(
                exchange=str(data["exchange"]),
                fetched_ns=int(data["fetched_ns"]),
                source=str(data.get("source", "")),
                instruments={i.symbol.upper(): i for i in instruments},
                skipped={str(k): str(v) for k, v in dict(data.get("skipped") or {}).items()},
                prices={str(k): str(v) for k, v in dict(data.get("prices") or {}).items()},
                prices_ns=int(data.get("prices_ns") or 0),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CatalogError(
                f"{where}: damaged catalog ({exc}); run `tradetui markets sync` to rebuild it"
            ) from None


def catalog_path(exchange: str, folder: Path | None = None) -> Path:
    return (folder or catalog_dir()) / f"{exchange_id(exchange)}.json"


def save_catalog(catalog: Catalog, folder: Path | None = None) -> Path:
    """Write ``catalog`` atomically (a reader never sees half a file); returns its path."""
    path = catalog_path(catalog.exchange, folder)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(catalog.to_json(), indent=1) + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise CatalogError(
            f"{path}: cannot write the catalog ({exc.strerror or exc}); "
            "set TRADETUI_CATALOG_DIR to a writable folder"
        ) from None
    return path


def load_catalog(exchange: str, folder: Path | None = None) -> Catalog | None:
    """The cached catalog of ``exchange`` ('usdm' or 'binanceusdm'), or None if never synced."""
    path = catalog_path(exchange, folder)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read the catalog ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise CatalogError(
            f"{path}: damaged catalog (not JSON); run `tradetui markets sync` to rebuild it"
        ) from None
    return Catalog.from_json(data, str(path))


def cached_catalogs(folder: Path | None = None) -> list[Catalog]:
    """Every cached catalog, by exchange id."""
    root = folder or catalog_dir()
    out = []
    for path in sorted(root.glob("*.json")) if root.is_dir() else ():
        cat = load_catalog(path.stem, root)
        if cat is not None:
            out.append(cat)
    return out


def find_instrument(
    symbol: str, exchanges: Iterable[str] | None = None, folder: Path | None = None
) -> Instrument | None:
    """The cached instrument ``symbol`` on the first of ``exchanges`` (all cached ones when
    None) that lists it."""
    if exchanges is None:
        catalogs = cached_catalogs(folder)
    else:
        catalogs = [c for e in exchanges if (c := load_catalog(e, folder)) is not None]
    for cat in catalogs:
        hit = cat.get(symbol)
        if hit is not None:
            return hit
    return None


def catalog_from_markets(
    exchange: str, markets: dict[str, Any], precision_mode: int, source: str
) -> Catalog:
    """A catalog of ccxt's ``markets`` (as ``load_markets`` returns them)."""
    cat = Catalog(exchange=exchange, fetched_ns=time.time_ns(), source=source)
    for market in markets.values():
        mid = str(market.get("id") or market.get("symbol"))
        if market.get("active") is False:
            # Delisted or settling (Binance status other than TRADING): nothing to quote.
            cat.skipped[mid] = "not trading"
            continue
        try:
            inst = instrument_from_market(market, precision_mode, exchange)
        except SetupError as exc:
            cat.skipped[mid] = str(exc).split("; ")[0].removeprefix("venue.symbol: ")
            continue
        # One exchange id can be listed under several unified symbols; the first one wins.
        cat.instruments.setdefault(inst.symbol.upper(), inst)
    return cat


# The ccxt URL key of the API each Binance exchange reads its markets from (exchangeInfo).
_MARKETS_API = {"binanceusdm": "fapiPublic", "binancecoinm": "dapiPublic", "binance": "public"}


def markets_source(client: Any) -> str:
    """The base URL (scheme and host) ``client`` reads its markets from."""
    api = client.urls.get("api")
    if not isinstance(api, dict):
        return str(api or "")
    key = _MARKETS_API.get(str(client.id))
    urls = [(str(k), str(v)) for k, v in api.items() if isinstance(v, str) and "://" in v]
    picked = next((v for k, v in urls if k == key), None)
    picked = picked or next((v for k, v in urls if "public" in k.lower()), None)
    picked = picked or (urls[0][1] if urls else "")
    parts = urlsplit(picked)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else picked


async def sync_catalog(client: Any, *, prices: bool = True) -> Catalog:
    """Fetch every market of the ccxt ``client`` (async) and build its catalog, with each
    symbol's last price where the exchange gives them and ``prices`` asks for them (best
    effort: the instruments are what a sync is for; ``prices_error`` says why there are none)."""
    import ccxt

    markets = await client.load_markets(True)
    cat = catalog_from_markets(
        str(client.id), markets, int(client.precisionMode), markets_source(client)
    )
    if not prices:
        return cat
    try:
        cat.prices = await _last_prices(client)
        cat.prices_ns = time.time_ns()
    except (ccxt.BaseError, OSError, TimeoutError) as exc:
        cat.prices_error = f"{type(exc).__name__}: {str(exc)[:200]}"
    return cat


async def _last_prices(client: Any) -> dict[str, str]:
    """Last price per exchange symbol: ``fetch_last_prices`` (Binance: one ticker/price
    request for the whole venue), else the tickers' ``last``."""
    if client.has.get("fetchLastPrices"):
        found = await client.fetch_last_prices()
        field_name = "price"
    elif client.has.get("fetchTickers"):
        found = await client.fetch_tickers()
        field_name = "last"
    else:
        return {}
    out: dict[str, str] = {}
    for unified, row in found.items():
        market = client.markets.get(unified) if client.markets else None
        value = row.get(field_name) if isinstance(row, dict) else None
        if market is None or not value:
            continue
        out[str(market["id"]).upper()] = repr(float(value))
    return out


def cache_loaded_markets(client: Any, folder: Path | None = None) -> Path | None:
    """Write the markets a ccxt ``client`` has loaded as its exchange's catalog (a session
    refreshing the cache at no extra request). Best effort: a failure is a logged warning."""
    markets = getattr(client, "markets", None)
    if not markets:
        return None
    try:
        cat = catalog_from_markets(
            str(client.id), markets, int(client.precisionMode), markets_source(client)
        )
        try:
            cached = load_catalog(cat.exchange, folder)
        except CatalogError:
            cached = None  # a damaged cache is rewritten whole
        if cached is not None:  # a session loads no prices: keep the last sync's
            cat.prices, cat.prices_ns = cached.prices, cached.prices_ns
        return save_catalog(cat, folder)
    except Exception as exc:  # a cache we cannot write must never stop a session trading
        log.warning("instrument catalog not refreshed: %s", exc)
        return None
