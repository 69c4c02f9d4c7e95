"""``tradetui sweep``: backtest a grid of settings on recorded files, on all cores or a Dask
cluster; with walk-forward folds, each row also scored out of sample."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tradetui.commands.common import fail
from tradetui.commands.data import (
    ContractOpt,
    FilesArg,
    InverseOpt,
    JsonOpt,
    LotOpt,
    SymbolOpt,
    TickOpt,
    VenueOpt,
    files_instrument,
    instrument_flags,
)
from tradetui.core.instrument import Instrument
from tradetui.core.money import dumps

# (key, title, format); money is formatted to the settlement asset's decimals (``{d}``).
_COLUMNS = (
    ("pnl_total", "PnL", "{:+,.{d}f}"),
    ("spread_capture", "spread", "{:+,.{d}f}"),
    ("inventory_pnl", "inventory", "{:+,.{d}f}"),
    ("fees", "fees paid", "{:,.{d}f}"),  # paid, unsigned as everywhere (docs/units.md)
    ("fills", "fills", "{:,}"),
    ("max_abs_position_size", "max |pos|", "{:.4f}"),
    ("markout_5s_bps", "markout 5s bps", "{:+.3f}"),
)


def objective_text(value: float, objective: str, settle: str, quote: str) -> str:
    """An objective's figure: a PnL objective is money in ``settle`` (a coin to 8 decimals),
    the Sharpe ratio a number to 4."""
    from tradetui.core.units import money_decimals

    d = 4 if objective == "sharpe" else money_decimals(settle, quote)
    return f"{value:+,.{d}f}"


ClusterOpt = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        help="`local` (a process pool, the default) or a Dask scheduler, tcp://host:8786.",
    ),
]
ShipOpt = Annotated[
    bool,
    typer.Option(
        "--ship",
        help="Send the files to each Dask worker once (default: workers open the same paths).",
    ),
]
FoldsOpt = Annotated[
    int,
    typer.Option("--folds", help="Walk-forward folds: files in time order cut into folds+1."),
]
ObjectiveOpt = Annotated[
    str, typer.Option("--objective", help="pnl, sharpe or pnl_after_markout (docs/research.md).")
]


def check_objective(name: str) -> None:
    """One-line exit for an unknown --objective."""
    from tradetui.backtest.objective import OBJECTIVES

    if name not in OBJECTIVES:
        fail(f"--objective {name!r}: expected one of {', '.join(OBJECTIVES)}")


def load_windows(files: list[Path], folds: int, inst: Instrument, strict_grid: bool) -> None:
    """Decode each walk-forward window once (filling the cache local workers read) and check
    it holds market data and follows the one before it in time; one-line exit otherwise."""
    from tradetui.backtest.sweep import walk_forward
    from tradetui.config import ConfigError
    from tradetui.market.cache import load_events
    from tradetui.market.files import ReplayError, no_market_data
    from tradetui.market.replay import has_market_data

    try:
        windows = walk_forward(files, folds)
    except ConfigError as exc:
        fail(str(exc))
    last_ns, last_name = 0, ""
    for window in windows:
        try:
            events, data, _ = load_events(window, inst, strict_grid=strict_grid)
            if not has_market_data(events):
                raise no_market_data(window, data)
        except ReplayError as exc:
            fail(str(exc))
        if events[0].exch_ns < last_ns:
            fail(
                f"{window[0]}: starts before {last_name} ends; "
                "give the files in time order (walk-forward tunes on the earlier)"
            )
        last_ns, last_name = events[-1].exch_ns, str(window[-1])


def sweep(
    files: FilesArg,
    param: Annotated[
        list[str],
        typer.Option("--param", help="section.key=v1,v2,... (repeat for more axes)."),
    ],
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML config.")] = None,
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", help="Processes (default: all cores).")
    ] = None,
    latency_ms: Annotated[
        float | None, typer.Option("--latency-ms", help="One-way order latency, ms (all legs).")
    ] = None,
    venue: VenueOpt = None,
    symbol: SymbolOpt = None,
    tick_size: TickOpt = None,
    lot_size: LotOpt = None,
    contract_size: ContractOpt = None,
    inverse: InverseOpt = None,
    folds: FoldsOpt = 0,
    objective: ObjectiveOpt = "pnl",
    cluster: ClusterOpt = None,
    ship: ShipOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Backtest every combination of the --param values on FILES; print a table of results.

    With --folds, each row is a point on one window and its out-of-sample figure on the next.
    """
    from tradetui.backtest.run import backtest_settings
    from tradetui.backtest.sweep import grid_points, parse_axis, run_sweep
    from tradetui.config import ConfigError, load_settings
    from tradetui.core.units import money_decimals

    if jobs is not None and jobs < 1:
        fail(f"--jobs: must be >= 1 (got {jobs})")
    check_objective(objective)
    try:
        settings = backtest_settings(load_settings(config), latency_ms)
        axes = [parse_axis(p) for p in param]
    except ConfigError as exc:
        fail(str(exc))
    flags = instrument_flags(venue, symbol, tick_size, lot_size, contract_size, inverse)
    found = files_instrument(files, flags)
    inst = found.instrument
    load_windows(files, folds, inst, found.strict_grid)
    try:
        rows = run_sweep(
            files,
            inst,
            settings,
            grid_points(axes),
            jobs=jobs,
            folds=folds,
            objective=objective,
            cluster=cluster,
            shipped=ship,
        )
    except ConfigError as exc:
        fail(str(exc) if str(exc).startswith("--") else f"--param: {exc}")
    if as_json:
        typer.echo(dumps(rows, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    d = money_decimals(inst.settle, inst.quote)
    table = Table(
        title=f"sweep: {len(rows)} backtests on {inst.symbol} "
        f"(money in {inst.settle}, sizes in {inst.size_unit})"
    )
    keys = [a.key for a in axes]
    if folds:
        table.add_column("fold", justify="right")
    for k in keys:
        table.add_column(k, justify="right")
    for _, title, _ in _COLUMNS:
        table.add_column(title, justify="right")
    if folds:
        table.add_column(f"{objective} in", justify="right")
        table.add_column(f"{objective} out of sample", justify="right")
    for r in rows:
        cells = [str(r["fold"])] if folds else []
        cells += [str(r["params"][k]) for k in keys]
        cells += [
            "-" if r[c] is None else fmt.replace("{d}", str(d)).format(r[c])
            for c, _, fmt in _COLUMNS
        ]
        if folds:
            oos = r["oos"]
            cells += [
                objective_text(r["objective"], objective, inst.settle, inst.quote),
                objective_text(oos["objective"], objective, inst.settle, inst.quote)
                + (" !" if oos["diverges"] else ""),
            ]
        table.add_row(*cells)
    Console(width=200).print(table)
    if any(r.get("oos", {}).get("diverges") for r in rows):
        typer.echo(
            "warning: rows marked ! score out of sample below half their in-sample figure "
            "(per hour) or with the other sign: tuned to noise? (docs/research.md)"
        )
