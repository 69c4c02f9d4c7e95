"""``tradetui train``: fit the ML filter's model on recorded files and write it with its card.

``--watch DIR`` is the periodic retrain, meant to run as its own process beside a trading one:
every ``--every`` it takes the newest ``--last`` recordings in DIR (by name, as the recorder's
hourly files sort; files changed in the last ``_SETTLE_S`` seconds are still being written and
wait), trains a candidate and replaces the model in ``--out`` only when the candidate has the
lower log loss on the most recent held-out window by more than the gain's uncertainty
(``tradetui.ml.retrain``). Each cycle prints
one line (one JSON object with ``--json``) and logs it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tradetui.commands.common import duration_s, fail
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

if TYPE_CHECKING:
    from tradetui.market.instruments import FilesInstrument, InstrumentFlags

log = logging.getLogger("tradetui.ml.retrain")

_SETTLE_S = 10.0


def train(
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Recorded files (capture, Binance or tardis CSV)."),
    ] = None,
    horizon: Annotated[
        float, typer.Option("--horizon", help="Label horizon in seconds (mid move over it).")
    ] = 5.0,
    threshold_bps: Annotated[
        float | None,
        typer.Option(
            "--threshold-bps",
            help="Mid move beyond which a row is up/down, bps (default: a third of rows flat).",
        ),
    ] = None,
    agnostic: Annotated[
        bool,
        typer.Option(
            "--agnostic",
            help="Let the model serve any instrument, not only the one trained on "
            "(docs/ml-filter.md).",
        ),
    ] = False,
    out: Annotated[Path, typer.Option("--out", help="Model directory to write.")] = Path("model"),
    venue: VenueOpt = None,
    symbol: SymbolOpt = None,
    tick_size: TickOpt = None,
    lot_size: LotOpt = None,
    contract_size: ContractOpt = None,
    inverse: InverseOpt = None,
    as_json: JsonOpt = False,
    watch: Annotated[
        Path | None,
        typer.Option(
            "--watch",
            help="Retrain periodically from the newest recordings in this folder; the model in "
            "--out is replaced only by a better one.",
        ),
    ] = None,
    every: Annotated[
        str, typer.Option("--every", help="With --watch: time between retrains (90s, 15m, 1h).")
    ] = "1h",
    last: Annotated[
        int, typer.Option("--last", help="With --watch: how many newest recordings to use.")
    ] = 2,
    once: Annotated[
        bool, typer.Option("--once", help="With --watch: one retrain cycle, then exit.")
    ] = False,
) -> None:
    """Replay FILES through the feature code, train XGBoost, score it on the last part."""
    from tradetui.market.files import ReplayError
    from tradetui.ml.dataset import sample_features
    from tradetui.ml.train import (
        TrainConfig,
        TrainError,
        data_card,
        split_time,
        train_samples,
        write_model,
    )

    flags = instrument_flags(venue, symbol, tick_size, lot_size, contract_size, inverse)
    if horizon <= 0:
        fail(f"--horizon must be > 0 (got {horizon})")
    if threshold_bps is not None and not threshold_bps >= 0:
        fail(f"--threshold-bps must be >= 0 (got {threshold_bps}); leave it out for the default")
    problem = _unwritable_dir(out)
    if problem:
        fail(f"--out {out}: {problem}; give a directory path to create or reuse")
    if watch is not None:
        if files:
            fail("give recorded FILES or --watch DIR, not both")
        period = duration_s(every)
        if period is None or period <= 0:
            fail(f"--every: expected a duration like 90s, 15m or 1h (got {every!r})")
        if last < 1:
            fail(f"--last: must be >= 1 (got {last})")
        if not watch.is_dir():
            fail(f"--watch {watch}: not a directory")
        cfg = TrainConfig(horizon_s=horizon, threshold_bps=threshold_bps, agnostic=agnostic)
        _watch(watch, out, cfg, period, last, once, flags, as_json)
        return
    if not files:
        fail("no recorded FILES given; pass them, or --watch DIR for periodic retraining")
    found = files_instrument(files, flags)
    inst = found.instrument
    try:
        events, last_start = _events_and_test_start(files, found)
    except ReplayError as exc:
        fail(str(exc))
    cfg = TrainConfig(horizon_s=horizon, threshold_bps=threshold_bps, agnostic=agnostic)
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
    card |= data_card(list(files), inst)
    try:
        card = write_model(booster, card, out)
    except OSError as exc:
        fail(f"--out {out}: cannot write the model ({exc.strerror or exc})")
    if as_json:
        typer.echo(json.dumps({"out": str(out), **card}, indent=2))
        return
    _print_summary(out, card)


def _unwritable_dir(out: Path) -> str:
    """Why ``out`` cannot be (made) a model directory, or '' when it can."""
    if out.exists():
        return "" if out.is_dir() else "exists and is not a directory"
    parent = out.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is a file, not a directory"
    if not os.access(parent, os.W_OK):
        return f"{parent} is not writable"
    return ""


def _print_summary(out: Path, card: dict[str, Any]) -> None:
    sp = card["split"]
    typer.echo(
        f"model {out / 'model.json'}: {card['rounds']} rounds, horizon "
        f"{card['horizon_s']:g} s, threshold {card['threshold_bps']:.3g} bps"
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


def _events_and_test_start(
    files: list[Path], found: FilesInstrument
) -> tuple[list[Any], int | None]:
    """Decoded events of ``files`` and, with several files, the last one's first local time
    (the start of the test window). Raises ReplayError, also when there is no market data."""
    from tradetui.market.cache import load_events
    from tradetui.market.files import no_market_data
    from tradetui.market.replay import has_market_data

    inst, strict = found.instrument, found.strict_grid
    events, report, _c = load_events(files, inst, strict_grid=strict)
    if not has_market_data(events):
        raise no_market_data(files, report)
    if len(files) < 2:
        return events, None
    tail, _r, _c = load_events(files[-1:], inst, strict_grid=strict)
    return events, tail[0].local_ns if tail else None


def newest_recordings(folder: Path, last: int, now_s: float) -> list[Path]:
    """The ``last`` newest finished recordings in ``folder`` (by name; hidden files and files
    modified within ``_SETTLE_S`` seconds of ``now_s`` are left out)."""
    done = [
        p
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.startswith(".") and now_s - p.stat().st_mtime >= _SETTLE_S
    ]
    return done[-last:]


def _watch(
    folder: Path,
    out: Path,
    cfg: Any,
    period_s: float,
    last: int,
    once: bool,
    flags: InstrumentFlags,
    as_json: bool,
) -> None:
    """Retrain every ``period_s`` until interrupted (or once); one line per cycle."""
    seen: list[tuple[str, int, float]] | None = None
    try:
        while True:
            files = newest_recordings(folder, last, time.time())
            key = [(str(p), p.stat().st_size, p.stat().st_mtime) for p in files]
            if not files:
                _report(
                    {"result": "waiting", "line": f"retrain: no recordings in {folder} yet"},
                    as_json,
                )
            elif key == seen:
                _report({"result": "unchanged", "line": "retrain: no new recordings"}, as_json)
            else:
                seen = key
                _report(_retrain_cycle(files, out, cfg, flags), as_json)
            if once:
                return
            time.sleep(period_s)
    except KeyboardInterrupt:
        return


def _retrain_cycle(
    files: list[Path], out: Path, cfg: Any, flags: InstrumentFlags
) -> dict[str, Any]:
    from tradetui.market.files import ReplayError
    from tradetui.market.instruments import infer_instrument
    from tradetui.ml.retrain import retrain
    from tradetui.ml.train import TrainError

    names = ", ".join(p.name for p in files)
    try:
        found = infer_instrument(files, flags)
        inst = found.instrument
        events, last_start = _events_and_test_start(files, found)
        res = retrain(events, last_start, out, cfg, data=files, instrument=inst)
    except (ReplayError, TrainError) as exc:
        return {"result": "skipped", "line": f"retrain on {names}: skipped ({exc})"}
    return {
        "result": "promoted" if res.promoted else "kept",
        "line": f"{res.line()} (data: {names})",
        "candidate_log_loss": res.candidate_log_loss,
        "current_log_loss": res.current_log_loss,
        "test_rows": res.test_rows,
        "gain": None if res.gain is None else res.gain.to_dict(),
        "sha256": res.sha256,
        "files": [str(p) for p in files],
    }


def _report(entry: dict[str, Any], as_json: bool) -> None:
    log.info("%s", entry["line"])
    typer.echo(json.dumps(entry) if as_json else entry["line"])


def register(app: typer.Typer) -> None:
    """Add ``train`` to ``app``."""
    app.command("train")(train)
