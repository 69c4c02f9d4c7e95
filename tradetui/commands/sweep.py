"""``tradetui sweep``: backtest a grid of settings on recorded files, on all cores."""

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
    as_json: JsonOpt = False,
) -> None:
    """Backtest every combination of the --param values on FILES; print a table of results."""
    from tradetui.backtest.run import backtest_settings
    from tradetui.backtest.sweep import grid_points, parse_axis, run_sweep
    from tradetui.config import ConfigError, load_settings
    from tradetui.core.units import money_decimals
    from tradetui.market.cache import load_events
    from tradetui.market.files import ReplayError, no_market_data
    from tradetui.market.replay import has_market_data

    if jobs is not None and jobs < 1:
        fail(f"--jobs: must be >= 1 (got {jobs})")
    try:
        settings = backtest_settings(load_settings(config), latency_ms)
        axes = [parse_axis(p) for p in param]
    except ConfigError as exc:
        fail(str(exc))
    flags = instrument_flags(venue, symbol, tick_size, lot_size, contract_size, inverse)
    found = files_instrument(files, flags)
    inst = found.instrument
    try:
        # Fills the cache the workers read.
        events, data, _ = load_events(files, inst, strict_grid=found.strict_grid)
        if not has_market_data(events):
            raise no_market_data(files, data)
    except ReplayError as exc:
        fail(str(exc))
    del events
    try:
        rows = run_sweep(files, inst, settings, grid_points(axes), jobs=jobs)
    except ConfigError as exc:
        fail(f"--param: {exc}")
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
    for k in keys:
        table.add_column(k, justify="right")
    for _, title, _ in _COLUMNS:
        table.add_column(title, justify="right")
    for r in rows:
        cells = [str(r["params"][k]) for k in keys]
        cells += [
            "-" if r[c] is None else fmt.replace("{d}", str(d)).format(r[c])
            for c, _, fmt in _COLUMNS
        ]
        table.add_row(*cells)
    Console(width=200).print(table)
