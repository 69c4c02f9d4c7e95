"""``tradetui markets sync|list|show``: the instrument catalog, fetched from the exchanges and
read offline from its cache."""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tradetui.commands.common import fail

if TYPE_CHECKING:
    from tradetui.core.instrument import Instrument
    from tradetui.venues.catalog import Catalog

DEFAULT_VENUES = ("usdm", "coinm", "spot")
_OF_SYMBOL = re.compile(r" of \S+$")
# Exit code of a sync that could not fetch a venue's markets (a user error exits 2).
SYNC_FAILED = 1

VenueOpt = Annotated[
    str | None,
    typer.Option(
        "--venue", help="usdm, coinm, spot or a ccxt exchange id (default: every cached one)."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def sync(
    venue: Annotated[
        list[str] | None,
        typer.Option(
            "--venue",
            help="usdm, coinm, spot or a ccxt exchange id; repeat for several "
            "(default: usdm, coinm and spot).",
        ),
    ] = None,
    rest_url: Annotated[
        str,
        typer.Option("--rest-url", help="Fetch from this base URL instead (a sandbox or a proxy)."),
    ] = "",
    json_out: JsonOpt = False,
) -> None:
    """Fetch each venue's markets (ccxt load_markets) and write the catalog cache."""
    import asyncio

    import ccxt.pro as ccxt_pro

    from tradetui.venues.catalog import CatalogError, exchange_id, save_catalog
    from tradetui.venues.errors import SetupError

    exchanges = list(dict.fromkeys(exchange_id(v) for v in venue or DEFAULT_VENUES))
    for ex in exchanges:
        if ex not in ccxt_pro.exchanges:
            fail(
                f"--venue {ex}: not a ccxt exchange with websockets (ccxt.pro); use usdm, coinm, "
                "spot or an id such as okx"
            )
    try:
        fetched = asyncio.run(_fetch_all(exchanges, rest_url))
    except SetupError as exc:
        fail(str(exc).replace("venue.rest_url", "--rest-url", 1))
    results, failures = [], []
    for ex, outcome in zip(exchanges, fetched, strict=True):
        if isinstance(outcome, str):
            failures.append(f"{ex}: cannot fetch markets ({outcome}); any cached catalog is kept")
            continue
        try:
            path = save_catalog(outcome)
        except CatalogError as exc:
            fail(str(exc))
        results.append(sync_report(outcome, str(path)))
    if json_out:
        typer.echo(json.dumps({"synced": results, "failed": failures}))
    else:
        for r in results:
            typer.echo(format_sync(r))
    for line in failures:
        typer.echo(f"error: {line}", err=True)
    if failures:
        raise typer.Exit(SYNC_FAILED)


async def _fetch_all(exchanges: list[str], rest_url: str) -> list[Catalog | str]:
    """Each exchange's catalog, or a one-line reason it could not be fetched."""
    import ccxt

    from tradetui.venues.catalog import sync_catalog
    from tradetui.venues.clients import make_client, market_data_options
    from tradetui.venues.errors import map_error

    out: list[Catalog | str] = []
    for ex in exchanges:
        # Binance's spot client would also list USD-M and COIN-M markets under the same ids.
        client = make_client(ex, rest_url=rest_url, options=market_data_options(ex))
        try:
            out.append(await sync_catalog(client))
        except (ccxt.BaseError, OSError, TimeoutError) as exc:
            # The exchange's answer can be a whole HTML page: keep the line readable.
            out.append(f"{type(exc).__name__}: {str(map_error(exc, str))[:300]}")
        finally:
            await client.close()
    return out


def sync_report(cat: Catalog, path: str) -> dict[str, Any]:
    """What one venue's sync cached and skipped (reasons grouped), as printed or --json."""
    reasons: dict[str, int] = {}
    for why in cat.skipped.values():
        # "the exchange does not say the tick size of X/Y:Z": one group for every symbol.
        group = _OF_SYMBOL.sub("", why)
        reasons[group] = reasons.get(group, 0) + 1
    return {
        "exchange": cat.exchange,
        "instruments": len(cat.instruments),
        "skipped": len(cat.skipped),
        "skipped_by_reason": dict(sorted(reasons.items(), key=lambda kv: -kv[1])),
        "source": cat.source,
        "path": path,
        "prices": len(cat.prices),
        "prices_error": cat.prices_error,
    }


def format_sync(r: dict[str, Any]) -> str:
    """``sync_report`` as text: one line, then one line per skip reason."""
    n = r["instruments"]
    head = f"{r['exchange']}: {_count(n, 'instrument')}, {r['skipped']} skipped → {r['path']}"
    lines = [head] + [f"  skipped {n}: {why}" for why, n in r["skipped_by_reason"].items()]
    if r["prices_error"]:
        lines.append(f"  no last prices ({r['prices_error']}); instruments cached all the same")
    return "\n".join(lines)


def _catalogs(venue: str | None) -> list[Catalog]:
    """The cached catalogs to read (one venue's, or all); exits with one line when none."""
    from tradetui.venues.catalog import CatalogError, exchange_id, load_catalog
    from tradetui.venues.lookup import search_order, short_venue

    try:
        found = [c for ex in search_order(venue) if (c := load_catalog(ex)) is not None]
    except CatalogError as exc:
        fail(str(exc))
    if not found:
        if venue:
            ex = exchange_id(venue)
            fail(
                f"no instrument catalog for {ex} yet; run "
                f"`tradetui markets sync --venue {short_venue(ex)}`"
            )
        fail("no instrument catalog yet; run `tradetui markets sync`")
    return found


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _age(fetched_ns: int) -> str:
    s = max(0.0, (time.time_ns() - fetched_ns) / 1e9)
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if s >= size:
            return f"{s / size:.0f} {unit} ago"
    return f"{s:.0f} s ago"


def _fetched(cat: Catalog) -> str:
    return f"fetched {_age(cat.fetched_ns)} from {cat.source or 'an unknown source'}"


def _num(value: object) -> str:
    """A Decimal as plain digits (no exponent), '-' when absent."""
    from decimal import Decimal

    if not isinstance(value, Decimal):
        return "-"
    return format(value.normalize(), "f")


def kind_label(inst: Instrument) -> str:
    """spot, or linear/inverse perpetual/future."""
    if inst.kind.value == "spot":
        return "spot"
    return f"{'inverse' if inst.inverse else 'linear'} {inst.kind.value}"


# The table's type column: linear/inverse and perpetual/future in 8 characters at most.
_SHORT_KIND = {"linear": "lin", "inverse": "inv", "perpetual": "perp", "future": "fut"}


def _row(inst: Instrument) -> list[str]:
    from tradetui.venues.lookup import short_venue

    kind = kind_label(inst)
    for long, short in _SHORT_KIND.items():
        kind = kind.replace(long, short)
    return [
        inst.symbol,
        short_venue(inst.venue),
        kind,
        _num(inst.tick_size),
        _num(inst.lot_size),
        _num(inst.min_qty),
        _num(inst.min_notional) if inst.min_notional else "-",
        _num(inst.contract_size) if inst.kind.value != "spot" else "-",
        inst.settle,
    ]


_HEADER = ["symbol", "venue", "type", "tick", "step", "min qty", "min ntl", "contract", "settle"]


def _table(rows: list[list[str]]) -> str:
    """Plain columns a space apart: 78 columns for Binance's longest symbols and grids."""
    widths = [max(len(r[i]) for r in [_HEADER, *rows]) for i in range(len(_HEADER))]
    right = {3, 4, 5, 6, 7}
    lines = []
    for r in [_HEADER, *rows]:
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ]
        lines.append(" ".join(cells).rstrip())
    return "\n".join(lines)


def list_markets(
    venue: VenueOpt = None,
    search: Annotated[
        str | None,
        typer.Option("--search", help="Only symbols, base or quote assets containing TEXT."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """List cached instruments (offline): grids, minimums, contract terms, settlement."""
    cats = _catalogs(venue)
    needle = (search or "").strip().upper()
    picked = [
        inst
        for cat in cats
        for inst in sorted(cat.instruments.values(), key=lambda i: i.symbol)
        if needle in inst.symbol.upper()
        or needle in inst.base.upper()
        or needle in inst.quote.upper()
    ]
    if json_out:
        typer.echo(json.dumps([i.to_spec() for i in picked]))
        return
    for cat in cats:
        n = len(cat.instruments)
        typer.echo(f"{cat.exchange}: {_count(n, 'instrument')}, {_fetched(cat)}")
    if not picked:
        typer.echo(f"no instrument matches {search!r}")
        return
    typer.echo(_table([_row(i) for i in picked]))


def show(
    symbol: Annotated[str, typer.Argument(help="The exchange's symbol, e.g. BTCUSD_PERP.")],
    venue: VenueOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Every field of one cached instrument, with its units."""
    from tradetui.venues.lookup import close_matches, short_venue

    cats = _catalogs(venue)
    hits = [(cat, inst) for cat in cats if (inst := cat.get(symbol)) is not None]
    if not hits:
        near = close_matches(symbol, cats)
        hint = f"; close matches: {', '.join(near)}" if near else ""
        where = ", ".join(c.exchange for c in cats)
        fail(
            f"no instrument {symbol!r} in the cached catalog ({where}){hint}; run "
            "`tradetui markets sync` if it was listed since"
        )
    cat, inst = hits[0]
    if json_out:
        typer.echo(json.dumps(inst.to_spec()))
        return
    typer.echo(f"{inst.symbol} on {cat.exchange}, {_fetched(cat)}")
    for name, value in describe(inst):
        typer.echo(f"  {name:<15} {value}")
    last = cat.price(inst.symbol)
    if last is not None:
        typer.echo(
            f"  {'last price':<15} {last:g} {inst.quote} (at the sync, {_age(cat.prices_ns)})"
        )
    if len(hits) > 1:
        others = ", ".join(short_venue(c.exchange) for c, _ in hits[1:])
        typer.echo(f"also listed on {others} (pick one with --venue)")


def _qty(value: object, units: str) -> str:
    """A size with its unit ('1 contract', '5 contracts', '0.001 BTC')."""
    text = _num(value)
    return f"{text} {'contract' if units == 'contracts' and text == '1' else units}"


def describe(inst: Instrument) -> list[tuple[str, str]]:
    """(field, value with its unit) for every field of ``inst``."""
    from tradetui.venues.lookup import short_venue

    units, q = inst.size_unit, inst.quote
    lines = [
        ("type", kind_label(inst)),
        ("base / quote", f"{inst.base} / {q}"),
        ("sizes in", units if not inst.inverse else f"contracts of {_num(inst.contract_size)} {q}"),
    ]
    if inst.kind.value != "spot":
        per = f"{q} per contract" if inst.inverse else f"{inst.base} per contract"
        lines.append(("contract size", f"{_num(inst.contract_size)} {per}"))
    lines += [
        ("tick size", f"{_num(inst.tick_size)} {q}"),
        ("lot step", _qty(inst.lot_size, units)),
        ("min qty", _qty(inst.min_qty, units)),
        ("max qty", _qty(inst.max_qty, units) if inst.max_qty is not None else "-"),
        ("min notional", f"{_num(inst.min_notional)} {q}" if inst.min_notional else "none"),
        ("min price", f"{_num(inst.min_price)} {q}" if inst.min_price is not None else "-"),
        ("max price", f"{_num(inst.max_price)} {q}" if inst.max_price is not None else "-"),
    ]
    up, down = inst.percent_price_up, inst.percent_price_down
    if up is not None and down is not None:
        lines.append(
            ("percent price", f"limit prices within ×{_num(down)} to ×{_num(up)} of the mark")
        )
    lines += [
        ("settle", f"{inst.settle} (PnL and fees in {inst.settle})"),
        ("margin asset", inst.margin_asset),
        ("maker fee", f"{inst.maker_fee_rate * 1e4:g} bps of notional"),
        ("taker fee", f"{inst.taker_fee_rate * 1e4:g} bps of notional"),
        ("venue", f"{inst.venue} ({short_venue(inst.venue)})"),
    ]
    return lines


def register(app: typer.Typer) -> None:
    """Add ``markets sync``, ``markets list`` and ``markets show`` to ``app``."""
    markets_app = typer.Typer(help="The instrument catalog: exchanges' markets, cached on disk.")
    markets_app.command("sync")(sync)
    markets_app.command("list")(list_markets)
    markets_app.command("show")(show)
    app.add_typer(markets_app, name="markets")
