"""``tradetui optimize``: Optuna search over settings with walk-forward out-of-sample scores."""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Annotated, Any

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
from tradetui.commands.sweep import (
    ClusterOpt,
    ObjectiveOpt,
    ShipOpt,
    check_objective,
    load_windows,
)
from tradetui.core.money import dumps

EXIT_INTERRUPTED = 130  # as a shell reports a command stopped by Ctrl-C
DEFAULT_STORAGE = "sqlite:///tradetui-optuna.db"


def optimize(
    files: FilesArg,
    param: Annotated[
        list[str],
        typer.Option(
            "--param",
            help="section.key=LOW..HIGH[:log] or section.key=a,b,c (repeat for more).",
        ),
    ],
    trials: Annotated[int, typer.Option("--trials", help="Finished trials per fold.")] = 50,
    objective: ObjectiveOpt = "pnl",
    folds: Annotated[
        int,
        typer.Option(
            "--folds",
            help="Walk-forward folds: files in time order cut into folds+1; 0: no out-of-sample.",
        ),
    ] = 1,
    storage: Annotated[
        str, typer.Option("--storage", help="Optuna storage URL (SQLite file by default).")
    ] = DEFAULT_STORAGE,
    study: Annotated[
        str | None,
        typer.Option("--study", help="Study name (default: one derived from the command)."),
    ] = None,
    top: Annotated[int, typer.Option("--top", help="Best trials scored out of sample.")] = 5,
    batch: Annotated[
        int, typer.Option("--batch", help="Trials drawn together (not the worker count).")
    ] = 8,
    seed: Annotated[int, typer.Option("--seed", help="Sampler and backtest seed.")] = 0,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="PNG: optimisation history and parameter importances."),
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="TOML config.")] = None,
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", help="Local processes (default: all cores).")
    ] = None,
    cluster: ClusterOpt = None,
    ship: ShipOpt = False,
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
    """Search settings with Optuna on FILES: tune on each window, score the best on the next.

    The study is kept in --storage: rerun the same command to continue an interrupted one.
    """
    from tradetui.backtest.dispatch import dataset, open_runner
    from tradetui.backtest.optimize import (
        check_space,
        default_study_name,
        parse_search_param,
        search_fingerprint,
    )
    from tradetui.backtest.plot import plot_path_problem
    from tradetui.backtest.run import backtest_settings
    from tradetui.backtest.sweep import walk_forward
    from tradetui.config import ConfigError, load_settings
    from tradetui.core.units import money_decimals

    if importlib.util.find_spec("optuna") is None:
        fail("optimize needs Optuna: pip install 'tradetui[research]'")
    for name, value in (("--trials", trials), ("--top", top), ("--batch", batch)):
        if value < 1:
            fail(f"{name}: must be >= 1 (got {value})")
    if jobs is not None and jobs < 1:
        fail(f"--jobs: must be >= 1 (got {jobs})")
    check_objective(objective)
    if plot is not None and (problem := plot_path_problem(plot)):
        fail(f"--plot {plot}: {problem}")
    try:
        settings = backtest_settings(load_settings(config), latency_ms)
        space = [parse_search_param(p) for p in param]
        check_space(space, settings)
    except ConfigError as exc:
        fail(str(exc))
    flags = instrument_flags(venue, symbol, tick_size, lot_size, contract_size, inverse)
    found = files_instrument(files, flags)
    inst = found.instrument
    load_windows(files, folds, inst, found.strict_grid)
    windows = walk_forward(files, folds)
    fingerprint = search_fingerprint(space, objective, settings, seed)
    base = study or default_study_name([f.name for f in files], {**fingerprint, "folds": folds})
    try:
        runner = open_runner(dataset(windows, inst, settings, seed, shipped=ship), cluster, jobs)
    except ConfigError as exc:
        fail(str(exc))
    try:
        reports = _search(
            runner,
            space,
            settings,
            windows,
            base,
            storage,
            fingerprint,
            trials=trials,
            objective=objective,
            folds=folds,
            batch=batch,
            seed=seed,
            top=top,
            quiet=as_json,
        )
    except ConfigError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        typer.echo(
            f"interrupted: the study in {storage} keeps every finished trial; "
            "run the same command again to continue",
            err=True,
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        runner.close()
    out = {
        "symbol": inst.symbol,
        "objective": objective,
        "storage": storage,
        "folds": [
            {
                "fold": r.fold,
                "study": r.study,
                "tuned_on": [str(p) for p in windows[r.fold]],
                "scored_on": [str(p) for p in windows[r.fold + 1]] if folds else [],
                "complete": r.complete,
                "pruned": r.pruned,
                "best": r.best,
            }
            for r in reports
        ],
    }
    if plot is not None:
        from tradetui.backtest.optimize_plot import write_study_plot

        write_study_plot([(r.study, r.study_obj) for r in reports], objective, plot)
    if as_json:
        typer.echo(dumps(out, indent=2))
    else:
        _print_report(
            out, [p.key for p in space], inst.settle, money_decimals(inst.settle, inst.quote)
        )
    if plot is not None:
        typer.echo(f"plot: {plot}", err=as_json)


def _search(
    runner: Any,
    space: list[Any],
    settings: Any,
    windows: list[list[Path]],
    base: str,
    storage: str,
    fingerprint: dict[str, Any],
    *,
    trials: int,
    objective: str,
    folds: int,
    batch: int,
    seed: int,
    top: int,
    quiet: bool,
) -> list[Any]:
    """Each fold's study run to ``trials`` with a progress bar, then its best trials."""
    import optuna
    from optuna.trial import TrialState
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from tradetui.backtest.optimize import (
        FoldReport,
        best_trials,
        finished,
        open_study,
        run_study,
    )

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    reports = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=Console(stderr=True), disable=quiet, transient=True) as bar:
        for fold in range(max(folds, 1)):
            name = base if folds <= 1 else f"{base}-fold{fold}"
            st = open_study(storage, name, fingerprint)
            task = bar.add_task(
                f"{name} on {', '.join(p.name for p in windows[fold])}",
                total=trials,
                completed=min(trials, finished(st)),
            )
            run_study(
                st,
                runner,
                space,
                fold,
                settings,
                trials=trials,
                objective=objective,
                batch=batch,
                seed=seed,
                on_trial=functools.partial(_advance, bar, task),
            )
            best = best_trials(
                st, runner, space, fold, fold + 1 if folds else None, objective=objective, top=top
            )
            states = [t.state for t in st.get_trials(deepcopy=False)]
            reports.append(
                FoldReport(
                    fold,
                    name,
                    complete=states.count(TrialState.COMPLETE),
                    pruned=states.count(TrialState.PRUNED),
                    best=best,
                    study_obj=st,
                )
            )
    return reports


def _advance(bar: Any, task: Any, done: int) -> None:
    bar.update(task, completed=done)


def _print_report(out: dict[str, Any], keys: list[str], settle: str, decimals: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=200)
    objective = out["objective"]
    warnings = []
    for f in out["folds"]:
        scored = ", ".join(Path(p).name for p in f["scored_on"]) or "no out-of-sample window"
        table = Table(
            title=f"{f['study']}: {f['complete']} complete, {f['pruned']} pruned; tuned on "
            f"{', '.join(Path(p).name for p in f['tuned_on'])}, scored on {scored} "
            f"(money in {settle})"
        )
        table.add_column("trial", justify="right")
        for k in keys:
            table.add_column(k, justify="right")
        for title in ("in-sample", "PnL in", "fills in", "out-of-sample", "PnL out", "fills out"):
            table.add_column(title, justify="right")
        for row in f["best"]:
            ins, oos = row["in_sample"], row.get("out_of_sample")
            cells = [str(row["trial"]), *(_fmt(row["params"][k]) for k in keys)]
            cells += [f"{ins['objective']:+,.6g}", f"{ins['pnl_total']:+,.{decimals}f}"]
            cells += [_fmt(ins["fills"])]
            if oos is None:
                cells += ["-", "-", "-"]
            else:
                flag = " !" if row["diverges"] else ""
                cells += [f"{oos['objective']:+,.6g}{flag}", f"{oos['pnl_total']:+,.{decimals}f}"]
                cells += [_fmt(oos["fills"])]
            table.add_row(*cells)
        console.print(table)
        best = f["best"][0] if f["best"] else None
        if best is not None and best.get("diverges"):
            warnings.append(
                f"warning: fold {f['fold']}: the best trial ({best['trial']}) scores {objective} "
                f"{best['out_of_sample']['objective']:+,.6g} out of sample against "
                f"{best['in_sample']['objective']:+,.6g} in sample: the two diverge "
                "(below half, per hour, or the other sign); treat it as tuned to noise"
            )
    for w in warnings:
        console.print(w, markup=False)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.6g}"
    return "-" if v is None else str(v)


def register(app: typer.Typer) -> None:
    """Add ``optimize`` to ``app``."""
    app.command("optimize")(optimize)
