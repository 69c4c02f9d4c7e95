"""``tradetui data check`` and ``tradetui backtest``: recorded markets from the command line."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tradetui.commands.common import fail
from tradetui.core.money import dumps

if TYPE_CHECKING:
    from tradetui.backtest.run import BacktestResult
    from tradetui.config import Settings
    from tradetui.core.instrument import Instrument
    from tradetui.core.types import MarketEvent
    from tradetui.market.instruments import FilesInstrument, InstrumentFlags

FilesArg = Annotated[
    list[Path], typer.Argument(help="Recorded files (capture, Binance or tardis CSV).")
]
VenueOpt = Annotated[
    str | None,
    typer.Option("--venue", help="usdm, coinm or spot (default: from the files)."),
]
SymbolOpt = Annotated[
    str | None,
    typer.Option("--symbol", help="e.g. ETHUSDT or BTCUSD_PERP (default: from the files)."),
]
TickOpt = Annotated[
    str | None,
    typer.Option(
        "--tick-size", help="Price step, quote currency (default: recording, then catalog)."
    ),
]
LotOpt = Annotated[
    str | None,
    typer.Option(
        "--lot-size", help="Size step: base asset, or contracts (default: as --tick-size)."
    ),
]
ContractOpt = Annotated[
    str | None,
    typer.Option(
        "--contract-size", help="One contract: base (linear), or USD (inverse, e.g. 100)."
    ),
]
InverseOpt = Annotated[
    bool | None,
    typer.Option(
        "--inverse/--linear", help="Inverse (coin-settled) or linear contract (default: venue)."
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _decimal(flag: str, text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        fail(f"{flag}: expected a number like 0.01 (got {text!r})")
    if not (value.is_finite() and value > 0):
        fail(f"{flag}: must be a positive number (got {text!r})")
    return value


def instrument_flags(
    venue: str | None,
    symbol: str | None,
    tick_size: str | None = None,
    lot_size: str | None = None,
    contract_size: str | None = None,
    inverse: bool | None = None,
) -> InstrumentFlags:
    """The instrument options as given (numbers checked; one-line exit on a bad one)."""
    from tradetui.market.instruments import InstrumentFlags

    return InstrumentFlags(
        venue=venue,
        symbol=symbol,
        tick_size=_decimal("--tick-size", tick_size),
        lot_size=_decimal("--lot-size", lot_size),
        contract_size=_decimal("--contract-size", contract_size),
        inverse=inverse,
    )


def files_instrument(files: list[Path], flags: InstrumentFlags) -> FilesInstrument:
    """The instrument of ``files`` (recording, catalog, flags); one-line exit when none."""
    from tradetui.market.files import ReplayError, not_a_data_file
    from tradetui.market.instruments import infer_instrument

    for f in files:
        problem = not_a_data_file(f)
        if problem:
            fail(problem)
    try:
        return infer_instrument(files, flags)
    except ReplayError as exc:
        fail(str(exc))


def data_check(
    files: FilesArg,
    venue: VenueOpt = None,
    symbol: SymbolOpt = None,
    tick_size: TickOpt = None,
    lot_size: LotOpt = None,
    contract_size: ContractOpt = None,
    inverse: InverseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rebuild the book from FILES and compare it with the exchange's bookTicker stream."""
    from tradetui.market.check import check_files
    from tradetui.market.files import ReplayError

    flags = instrument_flags(venue, symbol, tick_size, lot_size, contract_size, inverse)
    found = files_instrument(files, flags)
    inst = found.instrument
    try:
        r = check_files(files, inst, strict_grid=found.strict_grid)
    except ReplayError as exc:
        fail(str(exc))
    r["instrument"] = {"source": found.source, **inst.to_spec()}
    if as_json:
        typer.echo(json.dumps(r, indent=2))
        return
    a = r["bbo_agreement"]
    frac = "n/a" if a["agree_fraction"] is None else f"{a['agree_fraction']:.2%}"
    typer.echo(
        f"{inst.symbol} ({r['kind']}, {inst.venue or 'venue unknown'}, sizes in "
        f"{inst.size_unit}; instrument from the {found.source}), "
        f"{r['time_span']['seconds']:.1f} s of exchange time"
    )
    typer.echo("messages      " + ", ".join(f"{k} {v:,}" for k, v in r["messages"].items()))
    typer.echo(
        f"book          {r['snapshots']} snapshot(s), {r['gaps']} gap(s), {r['crossed']} crossed"
    )
    typer.echo(
        f"bookTicker    {frac} agree ({a['agree']:,} of {a['comparable']:,} comparable, "
        f"{a['book_tickers']:,} in all)"
    )
    for d in a["first_disagreements"]:
        typer.echo(f"  id {d['update_id']}: ours {d['ours']} vs {d['bookTicker']}")
    for issue in r["first_issues"]:
        typer.echo(f"issue         {issue}")


def backtest(
    files: FilesArg,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML config.")] = None,
    latency_ms: Annotated[
        float | None, typer.Option("--latency-ms", help="One-way order latency, ms (all legs).")
    ] = None,
    venue: VenueOpt = None,
    symbol: SymbolOpt = None,
    tick_size: TickOpt = None,
    lot_size: LotOpt = None,
    contract_size: ContractOpt = None,
    inverse: InverseOpt = None,
    as_json: JsonOpt = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Decode afresh.")] = False,
    model: Annotated[
        Path | None,
        typer.Option("--model", help="ML filter model directory (from `tradetui train`)."),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Write price (with our fills), inventory and PnL to a PNG."),
    ] = None,
    db: Annotated[
        Path | None,
        typer.Option(
            "--db", help="Also store the run as a session here (`tradetui report --db` reads it)."
        ),
    ] = None,
) -> None:
    """Trade FILES with the configured strategy on the virtual clock; print a report."""
    from tradetui.backtest.report import build_report, format_report
    from tradetui.backtest.run import backtest_settings
    from tradetui.config import ConfigError, load_settings
    from tradetui.engine.summary import format_summary
    from tradetui.market.cache import load_events
    from tradetui.market.files import ReplayError, no_market_data
    from tradetui.market.replay import has_market_data
    from tradetui.store.schema import StoreError

    if plot is not None:
        from tradetui.backtest.plot import plot_path_problem

        problem = plot_path_problem(plot)
        if problem:
            fail(f"--plot {plot}: {problem}")
    try:
        settings = backtest_settings(load_settings(config), latency_ms)
        if model is not None:
            settings = settings.replace("ml", enabled=True, model=str(model))
        if settings.ml.enabled:
            from tradetui.ml.filter import MlFilter

            MlFilter.from_settings(settings.ml)  # a bad model fails here, before any replay
    except ConfigError as exc:
        fail(str(exc))
    flags = instrument_flags(venue, symbol, tick_size, lot_size, contract_size, inverse)
    found = files_instrument(files, flags)
    inst = found.instrument
    try:
        events, data, cached = load_events(
            files, inst, use_cache=not no_cache, strict_grid=found.strict_grid
        )
        if not has_market_data(events):
            raise no_market_data(files, data)
    except ReplayError as exc:
        fail(str(exc))
    try:
        result = _run(settings, inst, events, as_json, db)
    except ConfigError as exc:  # settings this instrument cannot trade (order size < lot)
        fail(str(exc))
    except StoreError as exc:
        fail(str(exc))
    r = build_report(result, data, cached)
    r["instrument_source"] = found.source
    if plot is not None:
        from tradetui.backtest.plot import plot_series, write_plot

        try:
            write_plot(plot_series(result), plot)
        except OSError as exc:
            fail(f"--plot {plot}: cannot write the PNG ({exc.strerror or exc})")
        r["plot"] = str(plot)
    if as_json:
        typer.echo(dumps(r, indent=2))
    else:
        typer.echo(format_summary(r))
        typer.echo(format_report(r))
    damaged = data.damage_error()
    if damaged:
        fail(damaged)


def _run(
    settings: Settings,
    inst: Instrument,
    events: list[MarketEvent],
    quiet: bool,
    db: Path | None,
) -> BacktestResult:
    """The backtest (stored in ``db`` when given), with a progress bar unless ``quiet``."""
    from tradetui.backtest.run import run_backtest

    if quiet:
        result = run_backtest(settings, inst, events, store=db)
    else:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("backtest"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task("run", total=1.0)
            result = run_backtest(
                settings,
                inst,
                events,
                progress=lambda done, total: bar.update(task, completed=done / max(total, 1)),
                store=db,
            )
    return result


def register(app: typer.Typer) -> None:
    """Add ``data check``, ``data download``, ``backtest``, ``record``, ``sweep`` and
    ``calibrate`` to ``app``."""
    from tradetui.commands.calibrate import calibrate
    from tradetui.commands.download import data_download
    from tradetui.commands.record import record
    from tradetui.commands.sweep import sweep

    data_app = typer.Typer(help="Inspect recorded market data; download Binance archives.")
    data_app.command("check")(data_check)
    data_app.command("download")(data_download)
    app.add_typer(data_app, name="data")
    app.command("backtest")(backtest)
    app.command("record")(record)
    app.command("sweep")(sweep)
    app.command("calibrate")(calibrate)
