"""``tradetui data download``: Binance's public daily archives into the data folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tradetui.commands.common import PORT_RANGE, cannot_listen, fail

if TYPE_CHECKING:
    from tradetui.market.archive import DayFile, DayResult

# A download that did not bring every file (missing day, checksum, interrupted): exit 1, as
# distinct from a refused command line (2).
EXIT_INCOMPLETE = 1


def data_download(
    venue: Annotated[
        str,
        typer.Option(
            "--venue", help="usdm, coinm or spot (ccxt ids binanceusdm, binancecoinm, binance)."
        ),
    ],
    symbol: Annotated[str, typer.Option("--symbol", help="e.g. BTCUSDT or BTCUSD_PERP.")],
    first: Annotated[str, typer.Option("--from", help="First day, YYYY-MM-DD (UTC).")],
    last: Annotated[
        str | None, typer.Option("--to", help="Last day, YYYY-MM-DD (default: --from).")
    ] = None,
    kind: Annotated[
        str | None,
        typer.Option(
            "--kind",
            help="bookTicker, trades, aggTrades, comma-separated (default: bookTicker,trades; "
            "spot: trades).",
        ),
    ] = None,
    dest: Annotated[
        Path | None,
        typer.Option("--dest", help="Folder (default: data.dir, else archives/ in user data)."),
    ] = None,
    base_url: Annotated[
        str | None,
        typer.Option("--base-url", help="Archive base URL (default: data.archive_url)."),
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML config.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Fetch Binance's daily bookTicker/trades/aggTrades archives, verified and resumable."""
    from tradetui.config import ConfigError, load_settings
    from tradetui.market.archive import (
        DEFAULT_KINDS,
        ArchiveError,
        Outcome,
        day_files,
        parse_day,
        parse_kinds,
    )
    from tradetui.market.files import ReplayError
    from tradetui.market.instruments import short_venue

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        fail(str(exc))
    try:
        short = short_venue(venue)
    except ReplayError as exc:
        fail(str(exc))
    try:
        kinds = parse_kinds(kind if kind is not None else DEFAULT_KINDS[short], short)
        day0 = parse_day("--from", first)
        day1 = parse_day("--to", last) if last is not None else day0
        files = day_files(short, symbol, kinds, day0, day1)
    except ArchiveError as exc:
        fail(str(exc))
    base = base_url if base_url is not None else settings.data.archive_url
    if not base.startswith(("http://", "https://")):
        fail(f"--base-url: expected http://host[:port] or https://host (got {base!r})")
    folder = _folder(dest, settings.data.dir)
    try:
        results = _fetch_all(files, base, folder, quiet=as_json)
    except OSError as exc:
        fail(f"{folder}: cannot write there ({exc.strerror or exc}); pass --dest DIR")
    bad = [r for r in results if not r.ok]
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "dest": str(folder),
                    "base_url": base,
                    "files": [
                        {
                            "name": r.file.name,
                            "kind": r.file.kind,
                            "day": r.file.day.isoformat(),
                            "outcome": r.outcome.value,
                            "detail": r.detail,
                            "bytes": r.size,
                            "path": str(r.path),
                        }
                        for r in results
                    ],
                    "complete": not bad,
                },
                indent=2,
            )
        )
    here = [r for r in results if r.ok]
    if here and not as_json:
        typer.echo(f"{len(here)} file(s) in {folder}; backtest them in one run with")
        globs = sorted({str(r.path.parent / f"*-{r.file.kind}-*.zip") for r in here})
        typer.echo("  tradetui backtest " + " ".join(globs))
    if bad:
        first_bad = bad[0]
        nothing = all(r.outcome is Outcome.MISSING for r in results)
        fail(
            f"{len(bad)} of {len(results)} file(s) not downloaded; first: {first_bad.file.name} "
            f"{first_bad.outcome.value}: {first_bad.detail}"
            + (_symbol_hint(short, first_bad.file.symbol) if nothing else ""),
            EXIT_INCOMPLETE,
        )


def _symbol_hint(venue: str, symbol: str) -> str:
    """When no file of ``symbol`` is published: the listed symbols close to it (a symbol of
    another venue, BTCUSD for BTCUSD_PERP), from the cached catalog, or how to look."""
    from tradetui.venues.catalog import CatalogError, exchange_id, load_catalog
    from tradetui.venues.lookup import close_matches

    exchange = exchange_id(venue)
    try:
        cat = load_catalog(exchange)
    except CatalogError:
        cat = None
    head = f"; no file of {symbol} is published: is the symbol right? "
    if cat is None:
        return head + f"`tradetui markets list --venue {venue}` lists them"
    near = close_matches(symbol, [cat])
    return head + (
        f"{exchange} lists {', '.join(near)}"
        if near
        else f"see `tradetui markets list --venue {venue}`"
    )


def _folder(dest: Path | None, configured: str) -> Path:
    if dest is not None:
        return dest.expanduser()
    if configured:
        return Path(configured).expanduser()
    from platformdirs import user_data_path

    return user_data_path("tradetui") / "archives"


def _fetch_all(files: list[DayFile], base: str, folder: Path, quiet: bool) -> list[DayResult]:
    """Each file in turn, with a progress bar and one line per file unless ``quiet``."""
    from tradetui.market.archive import fetch_day

    if quiet:
        return [fetch_day(f, base, folder) for f in files]
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TaskID,
        TextColumn,
        TransferSpeedColumn,
    )
    from rich.text import Text

    results: list[DayResult] = []
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        transient=True,
    ) as bar:
        for f in files:
            task = bar.add_task(f.name, total=None)

            def on_bytes(done: int, total: int | None, task_id: TaskID = task) -> None:
                bar.update(task_id, completed=done, total=total)

            r = fetch_day(f, base, folder, on_bytes)
            bar.remove_task(task)
            line = f"{r.outcome.value:<17} {f.name}  {r.size:,} bytes  {r.detail}"
            bar.console.print(Text(line, style="" if r.ok else "red"), soft_wrap=True)
            results.append(r)
    return results


def sandbox_archive(
    root: Annotated[
        Path, typer.Option("--root", help="Folder served, in the archive's layout (data/...).")
    ],
    from_capture: Annotated[
        list[Path] | None,
        typer.Option(
            "--from-capture",
            help="Publish a recorded capture's bookTicker and trades as daily files first.",
        ),
    ] = None,
    venue: Annotated[
        str, typer.Option("--venue", help="Venue of --from-capture files: usdm, coinm or spot.")
    ] = "usdm",
    port: Annotated[
        int, typer.Option("--port", help="TCP port (0 picks a free one).", **PORT_RANGE)
    ] = 8766,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
) -> None:
    """Serve a folder as a loopback data.binance.vision (for `data download --base-url`)."""
    import time

    from tradetui.sandbox.archive import ArchiveServer, publish_capture

    if venue not in ("usdm", "coinm", "spot"):
        fail(f"--venue: usdm, coinm or spot (got {venue!r})")
    for capture in from_capture or []:
        if not capture.is_file():
            fail(f"--from-capture {capture}: no such file")
        for f in publish_capture(capture, root, venue):
            typer.echo(f"published {f.path}")
    try:
        server = ArchiveServer(root, host, port)
    except OSError as exc:
        cannot_listen(host, port, exc)
    with server:
        typer.echo(f"archive at {server.url} serving {root.resolve()} (Ctrl-C stops)")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
