"""Which instrument recorded files are of.

In order: (a) the instrument line our own recordings open with; (b) the instrument catalog
cache (``tradetui markets sync``), for the venue and symbol the files show — stream names,
``pu``/``ps`` fields, COIN-M snapshots naming ``symbol`` and ``pair``, tardis exchange names,
folder and file names; (c) the user's ``--tick-size/--lot-size/--contract-size/--inverse``
flags, which also override single fields of (a) or (b). When nothing names the instrument,
one line says which command or flag fixes it. Grids from flags are checked against every
value read: a value off them is a refusal (``ReplayReport.strict_grid``).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from tradetui.core.instrument import Instrument, InstrumentKind
from tradetui.market import decode
from tradetui.market.files import (
    Format,
    ReplayError,
    detect_format,
    head_lines,
    recorded_instrument,
)

_SNIFF_LINES = 400
VENUES = ("usdm", "coinm", "spot")
_FIX_FLAGS = "--tick-size/--lot-size/--contract-size/--inverse"

# COIN-M contracts: a perpetual (BTCUSD_PERP) or a quarterly delivery (BTCUSD_240927).
_COINM_SYMBOL = re.compile(r"^[A-Z0-9]+_(PERP|\d{6})$")
_DELIVERY = re.compile(r"_\d{6}$")
_SYMBOL_IN_NAME = re.compile(
    r"^([a-z0-9]+?usd_(?:perp|\d{6})|[a-z0-9]+?usdt|[a-z0-9]+?usdc|[a-z0-9]+?busd)[_\-.]", re.I
)
_STREAM = re.compile(rb'"stream":"([a-z0-9_]+)@([a-zA-Z]+)')
_SNAPSHOT_SYMBOL = re.compile(rb'^\{"lastUpdateId".*"symbol":"([A-Za-z0-9_]+)","pair":')
# Quote assets a symbol may end with, longest first, to split base from quote when only
# flags describe the instrument (a catalog or a recording names both).
_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "BTC", "ETH", "BNB", "EUR", "TRY")
# tardis.dev exchange names.
_TARDIS_VENUES = {
    "binance-futures": "usdm",
    "binance-delivery": "coinm",
    "binance": "spot",
    "binance-us": "spot",
}


@dataclass(frozen=True, slots=True)
class InstrumentFlags:
    """What the user said on the command line; None for what they left out."""

    venue: str | None = None  # usdm, coinm or spot
    symbol: str | None = None
    tick_size: Decimal | None = None  # quote per tick
    lot_size: Decimal | None = None  # order units (base, or contracts) per lot
    contract_size: Decimal | None = None  # base per unit (linear) or USD per contract (inverse)
    inverse: bool | None = None

    @property
    def grid(self) -> bool:
        return self.tick_size is not None or self.lot_size is not None

    @property
    def contract(self) -> bool:
        return self.grid or self.contract_size is not None or self.inverse is not None


@dataclass(frozen=True, slots=True)
class FilesInstrument:
    """The instrument of some files and where it came from."""

    instrument: Instrument
    source: str  # "recording", "catalog", "flags", or "recording+flags" / "catalog+flags"
    strict_grid: bool  # the grids came from flags: data off them is a refusal


def add_flag_arguments(parser: argparse.ArgumentParser) -> None:
    """The command line's instrument flags on an argparse parser (the bench scripts)."""
    parser.add_argument("--venue", help="usdm, coinm or spot (default: from the files)")
    parser.add_argument("--symbol", help="e.g. ETHUSDT or BTCUSD_PERP (default: from the files)")
    parser.add_argument("--tick-size", type=Decimal, help="price step, quote currency")
    parser.add_argument("--lot-size", type=Decimal, help="size step: base, or contracts")
    parser.add_argument("--contract-size", type=Decimal, help="base, or USD a contract")
    parser.add_argument("--inverse", action=argparse.BooleanOptionalAction, default=None)


def flags_from_arguments(args: argparse.Namespace) -> InstrumentFlags:
    """The flags ``add_flag_arguments`` added, as parsed."""
    return InstrumentFlags(
        venue=args.venue,
        symbol=args.symbol,
        tick_size=args.tick_size,
        lot_size=args.lot_size,
        contract_size=args.contract_size,
        inverse=args.inverse,
    )


def short_venue(venue: str) -> str:
    """'usdm', 'coinm' or 'spot' for a short name or a ccxt exchange id; ReplayError else."""
    from tradetui.venues.catalog import VENUE_EXCHANGES

    v = venue.strip().lower()
    for short, ex in VENUE_EXCHANGES.items():
        if v in (short, ex):
            return short
    raise ReplayError(f"--venue: unknown venue {venue!r}; use usdm, coinm or spot")


def infer_instrument(
    paths: list[Path], flags: InstrumentFlags | None = None, *, has_flags: bool = True
) -> FilesInstrument:
    """The instrument of ``paths`` (see the module doc). Raises ReplayError (one line);
    ``has_flags`` False: the caller offers no instrument flags, so the fix named is the sync."""
    flags = flags or InstrumentFlags()
    venue = short_venue(flags.venue) if flags.venue else None
    symbol = flags.symbol.strip().upper() if flags.symbol else None
    spec, spec_path = _recorded(paths)
    if spec is not None:
        if symbol and symbol != spec.symbol.upper():
            raise ReplayError(
                f"{spec_path}: recorded {spec.symbol} (its instrument line), not --symbol "
                f"{symbol}; leave --symbol out or give files of {symbol}"
            )
        spec_venue = short_venue(spec.venue) if spec.venue else None
        if venue and spec_venue and venue != spec_venue:
            raise ReplayError(
                f"{spec_path}: recorded on {spec_venue} (its instrument line), not --venue "
                f"{venue}; leave --venue out"
            )
        return _with_flags(spec, "recording", flags)
    nonempty = _nonempty(paths)
    shown: str | None = None  # the venue the files' content shows
    named: str | None = None  # the venue their folders name
    for path, fmt in nonempty:
        v, s = _sniff(path, fmt)
        if venue and v and v != venue:
            raise ReplayError(
                f"{path}: the data is {v} (its messages show it), not --venue {venue}; "
                "leave --venue out"
            )
        symbol = symbol or s
        shown = shown or v
        named = named or _venue_from_path(path)
    venue = venue or shown or named
    if symbol is None:
        raise ReplayError(
            f"{paths[0]}: cannot tell the symbol; pass --symbol (e.g. BTCUSDT or BTCUSD_PERP)"
        )
    if venue is None and _COINM_SYMBOL.match(symbol):
        venue = "coinm"
    if venue is None and any(fmt is Format.BINANCE_BOOK_TICKER for _, fmt in nonempty):
        venue = "usdm"  # Binance publishes bookTicker archives for futures only
    found = _from_catalog(symbol, venue, paths[0])
    if found is not None:
        return _with_flags(found, "catalog", flags)
    if venue is None:
        raise ReplayError(
            f"{paths[0]}: cannot tell the venue of {symbol}; pass --venue usdm, coinm or spot"
        )
    if flags.tick_size is not None and flags.lot_size is not None:
        return FilesInstrument(_from_flags(symbol, venue, flags), "flags", strict_grid=True)
    alternative = f" or pass {_FIX_FLAGS}" if has_flags else ""
    raise ReplayError(
        f"{paths[0]}: no instrument for {venue}:{symbol}; run `tradetui markets sync --venue "
        f"{venue}`{alternative}"
    )


def _recorded(paths: list[Path]) -> tuple[Instrument | None, Path | None]:
    """The instrument our recordings among ``paths`` name; ReplayError if they disagree."""
    found: Instrument | None = None
    where: Path | None = None
    for path in paths:
        if detect_format(path) is not Format.CAPTURE:
            continue
        spec = recorded_instrument(path)
        if spec is None:
            continue
        if found is not None and spec.symbol.upper() != found.symbol.upper():
            raise ReplayError(
                f"{path}: recorded {spec.symbol}, but {where} recorded {found.symbol}; "
                "give files of one market"
            )
        found, where = found or spec, where or path
    return found, where


def _nonempty(paths: list[Path]) -> list[tuple[Path, Format]]:
    out = [(p, fmt) for p in paths if (fmt := detect_format(p)) is not None]
    if not out:
        raise ReplayError(
            f"{paths[0]}: no data lines (the file is empty, or not readable as text or gzip); "
            "pick another recording"
        )
    return out


def _sniff(path: Path, fmt: Format) -> tuple[str | None, str | None]:
    """(venue, symbol) as far as the first lines of ``path`` tell them."""
    venue: str | None = None
    symbol: str | None = None
    for line in head_lines(path, _SNIFF_LINES):
        if fmt is Format.CAPTURE:
            line = _compact(line)
            m = _STREAM.search(line)
            if m:
                symbol = symbol or m.group(1).decode().upper()
                if b'"ps":' in line:
                    venue = "coinm"  # COIN-M messages name their pair
                elif m.group(2) == b"depth":
                    venue = venue or ("usdm" if b'"pu":' in line else "spot")
            elif snap := _SNAPSHOT_SYMBOL.search(line):
                # A /dapi depth snapshot names symbol and pair; /fapi and /api ones do not.
                venue, symbol = "coinm", symbol or snap.group(1).decode().upper()
        elif fmt in (Format.TARDIS_BOOK, Format.TARDIS_TRADES):
            parts = line.decode("utf-8", "replace").split(",")
            if parts[0] in _TARDIS_VENUES:
                venue, symbol = _TARDIS_VENUES[parts[0]], parts[1].upper()
        if venue and symbol:
            break
    if symbol is None:
        named = _SYMBOL_IN_NAME.match(path.name)
        symbol = named.group(1).upper() if named else None
    return venue, symbol


def _compact(line: bytes) -> bytes:
    """A capture line with its JSON as Binance sends it (decode.canonical) when another
    collector wrote it differently."""
    stamp, _, body = line.partition(b" ")
    if body.startswith((b'{"stream":"', b'{"lastUpdateId":')):
        return line
    again = decode.canonical(body)
    return line if again is None else stamp + b" " + again


def _venue_from_path(path: Path) -> str | None:
    """The venue folder names show (Binance's archive tree: futures/um, futures/cm, spot)."""
    words: set[str] = set()
    for part in path.resolve().parts[:-1]:
        words.update(re.split(r"[^a-z0-9]+", part.lower()))
    if words & {"coinm", "cm", "delivery"}:
        return "coinm"
    if words & {"usdm", "um", "futures"}:
        return "usdm"
    if "spot" in words:
        return "spot"
    return None


def _from_catalog(symbol: str, venue: str | None, where: Path) -> Instrument | None:
    """The cached catalog's instrument; with no venue known, the one catalog listing it."""
    from tradetui.venues.catalog import CatalogError, cached_catalogs, exchange_id, load_catalog

    try:
        if venue is not None:
            cat = load_catalog(exchange_id(venue))
            return cat.get(symbol) if cat is not None else None
        hits = [i for c in cached_catalogs() if (i := c.get(symbol)) is not None]
    except CatalogError as exc:
        raise ReplayError(str(exc)) from None
    if len(hits) > 1:
        names = ", ".join(sorted(short_venue(i.venue) for i in hits if i.venue))
        raise ReplayError(f"{where}: {symbol} is listed on {names}; pass --venue to say which one")
    return hits[0] if hits else None


def _with_flags(base: Instrument, source: str, flags: InstrumentFlags) -> FilesInstrument:
    if not flags.contract:
        return FilesInstrument(base, source, strict_grid=False)
    changes: dict[str, object] = {}
    if flags.tick_size is not None:
        changes["tick_size"] = flags.tick_size
    if flags.lot_size is not None:
        changes["lot_size"] = flags.lot_size
        changes["min_qty"] = max(base.min_qty, flags.lot_size)
    if flags.contract_size is not None:
        changes["contract_size"] = flags.contract_size
    if flags.inverse is not None and flags.inverse != base.inverse:
        changes["inverse"] = flags.inverse
        changes["settle"] = changes["margin_asset"] = ""  # the new contract's natural asset
    try:
        inst = dataclasses.replace(base, **changes)  # type: ignore[arg-type]
    except ValueError as exc:
        raise ReplayError(f"{_FIX_FLAGS}: {exc}") from None
    return FilesInstrument(inst, f"{source}+flags", strict_grid=flags.grid)


def split_symbol(symbol: str) -> tuple[str, str] | None:
    """(base, quote) of an exchange symbol like ETHUSDT or BTCUSD_PERP; None when unclear."""
    pair = symbol.upper().split("_", 1)[0]
    for quote in _QUOTES:
        if pair.endswith(quote) and len(pair) > len(quote):
            return pair[: -len(quote)], quote
    return None


def _from_flags(symbol: str, venue: str, flags: InstrumentFlags) -> Instrument:
    """An instrument from flags alone: assets from the symbol; fees are the simulated
    exchange's, which backtests and paper sessions apply to every instrument."""
    from tradetui.venues.catalog import exchange_id

    assert flags.tick_size is not None
    assert flags.lot_size is not None
    assets = split_symbol(symbol)
    if assets is None:
        raise ReplayError(
            f"--symbol {symbol}: cannot tell its base and quote assets from the name; run "
            f"`tradetui markets sync --venue {venue}` so the catalog names them"
        )
    inverse = flags.inverse if flags.inverse is not None else venue == "coinm"
    if inverse and flags.contract_size is None:
        raise ReplayError(
            f"--contract-size: needed for the inverse {symbol} (USD per contract, e.g. 100 for "
            f"BTCUSD_PERP); or run `tradetui markets sync --venue {venue}`"
        )
    if venue == "spot":
        kind = InstrumentKind.SPOT
    elif _DELIVERY.search(symbol):
        kind = InstrumentKind.FUTURE
    else:
        kind = InstrumentKind.PERPETUAL
    try:
        return Instrument(
            symbol=symbol,
            base=assets[0],
            quote=assets[1],
            tick_size=flags.tick_size,
            lot_size=flags.lot_size,
            min_qty=flags.lot_size,
            min_notional=Decimal(0),
            kind=kind,
            inverse=inverse,
            contract_size=flags.contract_size or Decimal(1),
            venue=exchange_id(venue),
        )
    except ValueError as exc:
        raise ReplayError(f"{_FIX_FLAGS}: {exc}") from None
