"""``tradetui train``: fit the ML filter's model on recorded files and write it with its card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from tradetui.commands.common import fail
from tradetui.commands.data import FilesArg, JsonOpt, SymbolOpt, VenueOpt, _instrument


def train(
    files: FilesArg,
    horizon: Annotated[
        float, typer.Option("--horizon", help="Label horizon in seconds (mid move over it).")
    ] = 5.0,
    threshold_ticks: Annotated[
        float | None,
        typer.Option(
            "--threshold-ticks",
            help="Move beyond which a row is up/down, ticks (default: a third of rows flat).",
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Model directory to write.")] = Path("model"),
    venue: VenueOpt = None,
    symbol: SymbolOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Replay FILES through the feature code, train XGBoost, score it on the last part."""
    from tradetui.market.cache import load_events
    from tradetui.market.files import ReplayError
    from tradetui.ml.dataset import sample_features
    from tradetui.ml.train import TrainConfig, TrainError, split_time, train_samples, write_model

    if horizon <= 0:
        fail(f"--horizon must be > 0 (got {horizon})")
    inst = _instrument(files, venue, symbol)
    try:
        events, _report, _cached = load_events(files, inst)
        last_start = None
        if len(files) > 1:
            last, _r, _c = load_events(files[-1:], inst)
            last_start = last[0].local_ns if last else None
    except ReplayError as exc:
        fail(str(exc))
    cfg = TrainConfig(horizon_s=horizon, threshold_ticks=threshold_ticks)
    samples = sample_features(events)
    if not len(samples.t_ns):
        fail("no feature rows: the data has no two-sided book")
    split_ns = split_time(samples.t_ns, last_start, cfg.test_fraction)
    try:
        if as_json:
            booster, card = train_samples(samples, split_ns, cfg)
        else:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            with Progress(
                TextColumn("train"), BarColumn(), MofNCompleteColumn(), transient=True
            ) as bar:
                task = bar.add_task("rounds", total=cfg.rounds)
                booster, card = train_samples(
                    samples, split_ns, cfg, lambda n: bar.update(task, completed=n)
                )
    except TrainError as exc:
        fail(str(exc))
    card["data"] = [{"path": str(f), "bytes": f.stat().st_size} for f in files]
    card["instrument"] = {"symbol": inst.symbol, "kind": str(inst.kind)}
    card = write_model(booster, card, out)
    if as_json:
        typer.echo(json.dumps({"out": str(out), **card}, indent=2))
        return
    _print_summary(out, card)


def _print_summary(out: Path, card: dict[str, Any]) -> None:
    sp = card["split"]
    typer.echo(
        f"model {out / 'model.json'}: {card['rounds']} rounds, horizon "
        f"{card['horizon_s']:g} s, threshold {card['threshold_ticks']:.3g} ticks"
    )
    typer.echo(
        f"rows: fit {sp['fit']['rows']}, validation {sp['validation']['rows']}, "
        f"test {sp['test']['rows']} (gap {sp['gap_s']:g} s)"
    )
    for name, m in card["metrics"].items():
        auc = m["auc"]
        typer.echo(
            f"{name:<15} log loss {m['log_loss']:.4f}  AUC up {auc['up']}  down {auc['down']}  "
            f"ECE up {m['calibration']['up']['ece']}  down {m['calibration']['down']['ece']}"
        )


def register(app: typer.Typer) -> None:
    """Add ``train`` to ``app``."""
    app.command("train")(train)
