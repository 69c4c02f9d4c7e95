"""``tradetui ml evaluate MODEL FILES...``: score a saved model on recorded data, with intervals.

The files are replayed into feature rows and labelled with the model card's horizon and
threshold (``tradetui.ml.evaluate``). A file the model was trained on (same sha256 as in the
card) only contributes its rows from the card's test split on, so a score is never in-sample.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from tradetui.commands.common import fail
from tradetui.commands.data import (
    ContractOpt,
    InverseOpt,
    JsonOpt,
    LotOpt,
    SymbolOpt,
    TickOpt,
    VenueOpt,
    files_instrument,
    instrument_flags,
)

ml_app = typer.Typer(
    help="The ML filter's model: evaluate it on recorded data.", no_args_is_help=True
)


def evaluate(
    model: Annotated[Path, typer.Argument(help="Model directory from `tradetui train`.")],
    files: Annotated[
        list[Path], typer.Argument(help="Recorded files to score it on (not its training data).")
    ],
    venue: VenueOpt = None,
    symbol: SymbolOpt = None,
    tick_size: TickOpt = None,
    lot_size: LotOpt = None,
    contract_size: ContractOpt = None,
    inverse: InverseOpt = None,
    resamples: Annotated[
        int, typer.Option("--resamples", help="Bootstrap resamples per interval.")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Log loss, AUC and calibration of MODEL on FILES against the class prior and a
    recent-label baseline, each with a 95 % block-bootstrap interval."""
    import numpy as np

    from tradetui.market.cache import load_events
    from tradetui.market.files import ReplayError, no_market_data
    from tradetui.market.replay import has_market_data
    from tradetui.ml.dataset import sample_features
    from tradetui.ml.evaluate import (
        EvaluationError,
        card_prior,
        evaluate_rows,
        labelled_rows,
        to_json,
    )
    from tradetui.ml.model import ModelError, instrument_problem, load_model
    from tradetui.ml.train import data_card, predict_proba

    if resamples < 100:
        fail(f"--resamples must be >= 100 (got {resamples})")
    try:
        fm = load_model(model)
    except ModelError as exc:
        fail(f"MODEL {model}: {exc}")
    flags = instrument_flags(venue, symbol, tick_size, lot_size, contract_size, inverse)
    found = files_instrument(files, flags)
    inst = found.instrument
    problem = instrument_problem(fm.card, inst)
    if problem:
        fail(f"MODEL {model}: {problem}")
    threshold = float(fm.card["threshold_bps"])  # load_model checked it: a number >= 0
    try:
        events, report, _cached = load_events(files, inst, strict_grid=found.strict_grid)
    except ReplayError as exc:
        fail(str(exc))
    if not has_market_data(events):
        fail(str(no_market_data(files, report)))
    samples = sample_features(events)
    if not len(samples.t_ns):
        fail("no feature rows: the data has no two-sided book")
    rows = labelled_rows(samples, predict_proba(fm.booster, samples.x), fm.horizon_s, threshold)
    trained_on = {d.get("sha256") for d in fm.card.get("data", []) if isinstance(d, dict)}
    overlap = [d["path"] for d in data_card(list(files), inst)["data"] if d["sha256"] in trained_on]
    held_out_from = None
    if overlap:
        # Only the part the model was tested on, never the part it was fitted on.
        held_out_from = int(fm.card.get("split", {}).get("split_ns", 0)) or None
        if held_out_from is None:
            fail(f"{overlap[0]} is in the model's training data and its card has no split time")
        keep = rows.t_ns >= held_out_from
        rows = type(rows)(rows.p[keep], rows.y[keep], rows.t_ns[keep])
    prior, prior_source = card_prior(fm.card)
    try:
        result = evaluate_rows(rows, fm.horizon_s, prior, n_boot=resamples, seed=seed)
    except EvaluationError as exc:
        fail(str(exc))
    out: dict[str, Any] = {
        "model": str(model),
        "sha256": fm.sha256,
        "files": [str(f) for f in files],
        "horizon_s": fm.horizon_s,
        "threshold_bps": threshold,
        "prior": {"probabilities": np.round(prior, 4).tolist(), "source": prior_source},
        "training_files_in_input": overlap,
        "held_out_from_ns": held_out_from,
        **to_json(result),
    }
    if as_json:
        typer.echo(json.dumps(out, indent=2))
        return
    _print(out)


def _iv(d: dict[str, float | None] | None, fmt: str = ".4f") -> str:
    """``estimate [low, high]``; n/a for what is undefined (e.g. AUC with one class absent)."""
    if d is None:
        return "n/a"
    est, low, high = (
        "n/a" if d[k] is None else f"{d[k]:{fmt}}" for k in ("estimate", "low", "high")
    )
    return f"{est} [{low}, {high}]"


def _print(out: dict[str, Any]) -> None:
    b = out["bootstrap"]
    typer.echo(
        f"model {out['model']} (sha256 {out['sha256'][:12]}) on {len(out['files'])} file(s): "
        f"{out['rows']} rows over {out['span_s']:g} s, horizon {out['horizon_s']:g} s, "
        f"down/flat/up {'/'.join(map(str, out['class_counts']))}"
    )
    if out["training_files_in_input"]:
        typer.echo("training files given: scoring only their held-out part (the card's split)")
    typer.echo(
        f"{b['level']:.0%} intervals: moving-block bootstrap, {b['resamples']} resamples, "
        f"blocks of {b['block_s']:g} s ({b['independent_blocks']} blocks in the data)"
    )
    for name, s in out["scores"].items():
        typer.echo(
            f"{name:<7} log loss {_iv(s['log_loss'])}  AUC up {_iv(s['auc']['up'], '.3f')}  "
            f"down {_iv(s['auc']['down'], '.3f')}  ECE up {_iv(s['ece']['up'], '.3f')}  "
            f"down {_iv(s['ece']['down'], '.3f')}"
        )
    for name, g in out["gain"].items():
        typer.echo(f"log-loss gain over {name}: {_iv(g)} nats/row (> 0: the model is better)")
    typer.echo(f"verdict: {out['verdict']}")


def register(app: typer.Typer) -> None:
    """Add the ``ml`` command group to ``app``."""
    ml_app.command("evaluate")(evaluate)
    app.add_typer(ml_app, name="ml")
