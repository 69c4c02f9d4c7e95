"""``tradetui screen``: every symbol of a venue from public websocket streams (docs/screener.md)."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tradetui.commands.common import duration_s, fail, print_table

if TYPE_CHECKING:
    from tradetui.screener.service import Screener

_DEFAULT_DURATION = "60s"
_SORTS = ("spread", "vol", "volume", "trades", "edge")


def screen(
    venue: Annotated[
        str, typer.Option("--venue", help="binanceusdm (usdm), binancecoinm (coinm) or spot.")
    ] = "binanceusdm",
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    top: Annotated[
        int, typer.Option("--top", help="Rows to show, largest first (0 = every symbol).", min=0)
    ] = 0,
    sort: Annotated[
        str,
        typer.Option("--sort", help="spread, vol (1 min), volume (24 h quote), trades or edge."),
    ] = "volume",
    duration: Annotated[
        str,
        typer.Option(
            "--duration",
            help="How long to watch before reporting: 90s, 15m, 1h (a bare number is seconds).",
        ),
    ] = _DEFAULT_DURATION,
    rest_url: Annotated[
        str,
        typer.Option(
            "--rest-url",
            help="REST base for the symbol list (default: venue.rest_url "
            "from the config, else Binance's).",
        ),
    ] = "",
    ws_url: Annotated[
        str,
        typer.Option("--ws-url", help="Websocket base (default: venue.ws_url, else Binance's)."),
    ] = "",
    max_streams: Annotated[
        int,
        typer.Option(
            "--max-streams",
            help="Streams per connection (0: Binance's limit, 1024); fewer means more shards.",
            min=0,
        ),
    ] = 0,
    maker_fee_bps: Annotated[
        float | None,
        typer.Option(
            "--maker-fee-bps",
            help="Your maker fee, bps (default: the venue's base tier from its listing).",
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="TOML config (venue URLs, feed.ws_routing)."),
    ] = None,
) -> None:
    """Watch every symbol of a venue (public streams only, one REST call at start) and report
    spread, volatility, volume, trade rate and a market maker's net spread per symbol."""
    from tradetui.commands.record import LIVE_VENUES
    from tradetui.config import ConfigError, load_settings
    from tradetui.venues.catalog import exchange_id
    from tradetui.venues.screener_feed import STREAM_LIMITS

    if sort not in _SORTS:
        fail(f"--sort {sort!r}: use one of {', '.join(_SORTS)}")
    seconds = duration_s(duration)
    if seconds is None or seconds <= 0:
        fail(f"--duration {duration!r}: expected a positive duration like 90s, 15m or 1h")
    if maker_fee_bps is not None and not math.isfinite(maker_fee_bps):
        fail(f"--maker-fee-bps {maker_fee_bps}: expected a number of bps, e.g. 2")
    exchange = exchange_id(venue)
    if exchange not in LIVE_VENUES:
        fail(f"--venue {venue!r}: the screener watches binanceusdm, binancecoinm or spot")
    limit = STREAM_LIMITS[exchange].max_streams
    if max_streams > limit:
        fail(f"--max-streams {max_streams}: Binance allows at most {limit} streams a connection")
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        fail(str(exc))
    default_ws, default_rest = LIVE_VENUES[exchange]
    rest = rest_url or settings.venue.rest_url or default_rest
    ws = ws_url or settings.venue.ws_url or default_ws
    routed = exchange == "binanceusdm" and settings.feed.ws_routing == "split"
    report = asyncio.run(
        _run(exchange, rest, ws, routed, max_streams, maker_fee_bps, seconds, sort, top)
    )
    if as_json:
        typer.echo(json.dumps(report, allow_nan=False))
        return
    _print(report)


async def _run(
    exchange: str,
    rest: str,
    ws: str,
    routed: bool,
    max_streams: int,
    maker_fee_bps: float | None,
    seconds: float,
    sort: str,
    top: int,
) -> dict[str, Any]:
    from tradetui.screener.service import Screener, load_instruments
    from tradetui.venues.errors import SetupError

    try:
        instruments = await load_instruments(exchange, rest)
    except SetupError as exc:
        fail(str(exc))
    except Exception as exc:  # ccxt's network and exchange errors: one line, no traceback
        fail(
            f"{exchange}: the symbol list could not be read from {rest} "
            f"({type(exc).__name__}: {str(exc)[:160]}); check --rest-url",
            code=1,
        )
    try:
        screener: Screener = Screener(
            exchange, instruments, ws, routed, max_streams=max_streams, maker_fee_bps=maker_fee_bps
        )
    except ValueError as exc:
        fail(str(exc))
    await screener.run(seconds)
    return screener.report(sort, top)


def _print(report: dict[str, Any]) -> None:
    shards = report["shards"]
    typer.echo(
        f"{report['venue']}: {report['symbols']} symbols over {len(shards)} connection(s), "
        f"{report['messages']:,} messages in {report['elapsed_s']:.0f}s; "
        f"maker fee {report['maker_fee_bps']:g} bps"
    )
    columns = [
        "symbol",
        "spread_ticks",
        "spread_bps",
        "vol_1m_bps",
        "vol_1h_bps",
        "quote_volume",
        "trades_per_min",
        "mm_net_bps",
    ]
    print_table("screener", report["rows"], columns, left=("symbol",))


def register(app: typer.Typer) -> None:
    """Add ``screen`` to ``app``."""
    app.command("screen")(screen)
