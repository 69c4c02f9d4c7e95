"""``tradetui record``: a market into capture files — a live Binance feed, or the synthetic one."""

from __future__ import annotations

import asyncio
import json
import signal
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tradetui.commands.common import SEED_RANGE, fail, parse_speed

if TYPE_CHECKING:
    from tradetui.core.instrument import Instrument
    from tradetui.venues.binance_stream import BinanceStreamFeed

# The venues a live recording can read (ccxt's exchange ids), with Binance's public websocket
# and REST bases (USD-M fstream/fapi, COIN-M dstream/dapi, spot).
LIVE_VENUES = {
    "binanceusdm": ("wss://fstream.binance.com", "https://fapi.binance.com"),
    "binancecoinm": ("wss://dstream.binance.com", "https://dapi.binance.com"),
    "binance": ("wss://stream.binance.com:9443", "https://api.binance.com"),
}
_PREFLIGHT_TIMEOUT_S = 10.0


def record(
    out: Annotated[Path, typer.Option("--out", help="Folder for the hourly .gz files.")],
    venue: Annotated[
        str | None,
        typer.Option(
            "--venue",
            help="Record a live feed: usdm (USD-M futures), coinm (COIN-M futures) or spot.",
        ),
    ] = None,
    symbol: Annotated[
        str, typer.Option("--symbol", help="Instrument, e.g. BTCUSDT or BTCUSD_PERP.")
    ] = "BTCUSDT",
    ws_url: Annotated[
        str | None,
        typer.Option("--ws-url", help="Live: websocket base (default: Binance's; the sandbox's)."),
    ] = None,
    rest_url: Annotated[
        str | None, typer.Option("--rest-url", help="Live: REST base for the depth snapshots.")
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option("--duration", help="Seconds to record (live: default until Ctrl+C)."),
    ] = None,
    source: Annotated[
        str, typer.Option("--source", help="Without --venue: the market to record (synthetic).")
    ] = "synthetic",
    seconds: Annotated[
        float, typer.Option("--seconds", help="Synthetic: market time to record, s.")
    ] = 60.0,
    seed: Annotated[int, typer.Option("--seed", help="Synthetic market seed.", **SEED_RANGE)] = 1,
    speed: Annotated[
        str, typer.Option("--speed", help="Synthetic: 1 = real time, N = N× faster, max = unpaced.")
    ] = "max",
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="TOML config (its feed section's reconnect policies)."),
    ] = None,
) -> None:
    """Record a market in the capture format (gzip, hourly files, flushed every second)."""
    if duration is not None and not duration > 0:
        fail(f"--duration: must be > 0 seconds (got {duration})")
    if venue is not None:
        _record_live(out, venue, symbol, ws_url, rest_url, duration, config)
        return
    if ws_url is not None or rest_url is not None:
        fail("--ws-url/--rest-url: only for a live recording; add --venue usdm, coinm or spot")
    _record_synthetic(out, source, duration or seconds, symbol, seed, speed)


def _writable(out: Path) -> None:
    """Fail with one line unless ``out`` is (or can be made) a folder we can write files in."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        fail(f"--out {out}: not writable ({exc.strerror or exc}); pick a folder you can write to")


def _record_synthetic(
    out: Path, source: str, seconds: float, symbol: str, seed: int, speed: str
) -> None:
    from tradetui.config import ConfigError, Settings
    from tradetui.market.recorder import CaptureEncoder, CaptureWriter, record_events
    from tradetui.market.synthetic import SyntheticMarket
    from tradetui.session import sim_instrument, synthetic_params

    if source != "synthetic":
        fail(f"--source: only 'synthetic' (or a live --venue) can be recorded (got {source!r})")
    if not seconds > 0:
        fail(f"--seconds: must be > 0 (got {seconds})")
    pace = parse_speed(speed)
    settings = Settings().replace("venue", symbol=symbol)
    try:
        inst = sim_instrument(settings)
        params = synthetic_params(settings, inst)
    except ConfigError as exc:
        fail(str(exc).replace("venue.symbol", "--symbol"))
    _writable(out)
    start_ns = time.time_ns()
    encoder = CaptureEncoder(inst)
    prefix = f"{source}_{inst.symbol.lower()}"
    with CaptureWriter(out, prefix, encoder.snapshot, instrument=inst) as writer:
        market = SyntheticMarket(inst, params, seed=seed, start_ns=start_ns).events()
        record_events(market, encoder, writer, start_ns + int(seconds * 1e9), speed=pace)
    typer.echo(f"{writer.lines:,} messages in " + ", ".join(str(p) for p in writer.files))


def live_instrument(venue: str, symbol: str) -> Instrument:
    """The catalog's instrument of ``symbol`` on ``venue`` (usdm, coinm, spot or a ccxt id of
    LIVE_VENUES); ValueError (one line saying how to fix it) when unknown."""
    from tradetui.market.files import ReplayError
    from tradetui.market.instruments import short_venue
    from tradetui.venues.catalog import CatalogError, load_catalog

    try:
        short = short_venue(venue)
        catalog = load_catalog(short)
    except (ReplayError, CatalogError) as exc:
        raise ValueError(str(exc)) from None
    inst = catalog.get(symbol) if catalog is not None else None
    if inst is None:
        listed = "no catalog cached" if catalog is None else f"not in the {short} catalog"
        raise ValueError(
            f"--symbol {symbol}: {listed}; run `tradetui markets sync --venue {short}` "
            f"(or check the symbol with `tradetui markets list --venue {short}`)"
        )
    return inst


def _record_live(
    out: Path,
    venue: str,
    symbol: str,
    ws_url: str | None,
    rest_url: str | None,
    duration: float | None,
    config: Path | None,
) -> None:
    from tradetui.config import ConfigError, load_settings
    from tradetui.market.recorder import FeedRecorder
    from tradetui.venues.binance_stream import BinanceStreamFeed, FeedStatus
    from tradetui.venues.catalog import exchange_id

    try:
        inst = live_instrument(venue, symbol)
        settings = load_settings(config)
    except (ValueError, ConfigError) as exc:
        fail(str(exc))
    exchange = exchange_id(venue)
    default_ws, default_rest = LIVE_VENUES[exchange]

    def status(s: FeedStatus) -> None:
        typer.echo(f"feed {s.state}: {s.detail}", err=True)

    try:
        feed = BinanceStreamFeed.from_settings(
            inst,
            settings.feed,
            ws_url=ws_url or default_ws,
            rest_url=rest_url or default_rest,
            on_status=status,
        )
    except ValueError as exc:
        fail(f"--ws-url/--rest-url: {exc}")
    _writable(out)
    asyncio.run(_preflight(feed, venue))
    recorder = FeedRecorder(
        out,
        f"{exchange}_{inst.symbol.lower()}",
        inst,
        lambda: feed.book,
        flush_s=settings.record.flush_s,
    )
    feed.on_raw = recorder.on_raw
    try:
        asyncio.run(_stream(feed, duration))
    finally:
        recorder.close()
    w, stats = recorder.writer, feed.stats
    summary = (
        f"{w.lines:,} messages in {', '.join(str(p) for p in w.files) or 'no file'}; "
        f"{stats.connects} connection(s), {stats.gaps} gap(s), {stats.issues} issue(s)"
    )
    if not w.files:
        fail(f"nothing recorded: the feed never got in sync ({summary})", code=1)
    typer.echo(summary)


async def _preflight(feed: BinanceStreamFeed, venue: str) -> None:
    """One small depth request, so a wrong URL or symbol fails now with one line."""
    import aiohttp

    url = feed.snapshot_url.rsplit("&limit=", 1)[0] + "&limit=5"
    try:
        timeout = aiohttp.ClientTimeout(total=_PREFLIGHT_TIMEOUT_S)
        async with aiohttp.ClientSession(timeout=timeout) as http, http.get(url) as resp:
            body = await resp.read()
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        fail(f"--rest-url: cannot reach {url.split('?')[0]} ({str(exc) or type(exc).__name__})")
    if resp.status == 200:
        return
    try:
        msg = str(json.loads(body).get("msg", ""))
    except (ValueError, AttributeError):
        msg = body[:100].decode("utf-8", "replace")
    if resp.status == 400 and "symbol" in msg.lower():
        fail(f"--symbol {feed.instrument.symbol}: {venue} answered {msg!r}")
    fail(f"--rest-url: depth snapshot answered HTTP {resp.status} {msg!r}")


async def _stream(feed: BinanceStreamFeed, duration: float | None) -> None:
    """Run ``feed`` until ``duration`` seconds passed or SIGINT/SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    task = asyncio.create_task(feed.run(lambda _ev: None))
    try:
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait({task, waiter}, timeout=duration, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
    finally:
        await feed.close()
        await task
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
