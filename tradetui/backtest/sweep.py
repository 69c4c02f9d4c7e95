"""Parameter sweeps: one backtest per point of a settings grid, on all cores or a cluster.

Each worker process loads the decoded events once (from the on-disk cache the parent fills
first, or from files shipped to it; see dispatch.py) and runs its share of the grid; points
differ only in settings, so the same seed and data make every difference a difference of
parameters. With walk-forward folds every point is also scored on the window after the one
it is reported on (its out-of-sample figure).
"""

from __future__ import annotations

import itertools
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradetui.backtest.dispatch import Task, dataset, open_runner
from tradetui.backtest.objective import OBJECTIVES, comparable, diverges
from tradetui.backtest.run import BacktestResult, run_backtest
from tradetui.config import SECTIONS, ConfigError, Settings
from tradetui.core.instrument import Instrument
from tradetui.core.types import MarketEvent

Point = tuple[tuple[str, Any], ...]  # (("strategy.gamma", 0.01), ...)


@dataclass(frozen=True, slots=True)
class Axis:
    """One swept setting: ``key`` is "section.name"; ``values`` in the order given."""

    key: str
    values: tuple[Any, ...]


def parse_axis(text: str) -> Axis:
    """``section.name=v1,v2,...`` as an Axis (values read as TOML scalars, else strings).

    Raises ConfigError naming the problem.
    """
    key, eq, raw = text.partition("=")
    key = key.strip()
    section, dot, name = key.partition(".")
    if not (eq and dot and name and raw.strip()):
        raise ConfigError(
            f"--param {text!r}: expected section.key=v1,v2 (e.g. strategy.gamma=0.01,0.1)"
        )
    if section not in SECTIONS:
        raise ConfigError(f"--param {text!r}: unknown section {section!r}")
    values = tuple(toml_scalar(v.strip()) for v in raw.split(",") if v.strip())
    return Axis(key, values)


def toml_scalar(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def grid_points(axes: list[Axis]) -> list[Point]:
    """Every combination of the axes' values (the last axis varies fastest)."""
    keys = [a.key for a in axes]
    return [
        tuple(zip(keys, combo, strict=True))
        for combo in itertools.product(*(a.values for a in axes))
    ]


def apply_point(settings: Settings, point: Point) -> Settings:
    """``settings`` with the point's values (validated as a config file's would be)."""
    changes: dict[str, dict[str, Any]] = {}
    for key, value in point:
        section, _, name = key.partition(".")
        changes.setdefault(section, {})[name] = value
    # A section's values together: a minimum may pass the old maximum when both change.
    for section, values in changes.items():
        settings = settings.replace(section, **values)
    return settings


# Partial-run scores a backtest reports: one per twentieth of its data's time span.
PRUNE_STEPS = 20


class _PrunedError(Exception):
    """Raised inside a run whose partial score fell below the pruning threshold."""


def run_point(
    settings: Settings,
    instrument: Instrument,
    events: list[MarketEvent],
    point: Point,
    seed: int = 0,
    *,
    objective: str = "pnl",
    prune_below: dict[int, float] | None = None,
) -> dict[str, Any]:
    """One backtest of ``point``: its parameters and headline figures (JSON-ready; money in
    ``settle_asset``, sizes in ``size_unit``, as in the session summary), its ``objective``
    value and the partial scores ``steps`` ([step, value], step 1..PRUNE_STEPS-1 of the time
    span). With ``prune_below`` (step → value) the run stops at the first step scoring below
    it: the row then has ``pruned`` true, the last partial score and no other figures."""
    score = OBJECTIVES[objective]
    span_ns = max(1, events[-1].exch_ns - events[0].exch_ns)
    steps: list[list[float]] = []

    def checkpoint(partial: BacktestResult) -> None:
        step = PRUNE_STEPS * (partial.end_ns - partial.start_ns) // span_ns
        if not 0 < step < PRUNE_STEPS or (steps and steps[-1][0] >= step):
            return
        value = score(partial)
        steps.append([step, value])
        if prune_below and step in prune_below and value < prune_below[step]:
            raise _PrunedError

    try:
        result = run_backtest(
            apply_point(settings, point), instrument, events, seed=seed, checkpoint=checkpoint
        )
    except _PrunedError:
        return {"params": dict(point), "pruned": True, "objective": steps[-1][1], "steps": steps}
    s = result.summary
    marks = s["markouts"]
    row = {
        "params": dict(point),
        "settle_asset": s["settle_asset"],
        "size_unit": s["size_unit"],
        "pnl_total": s["pnl_total"],
        "spread_capture": s["spread_capture"],
        "inventory_pnl": s["inventory_pnl"],
        "fees": s["fees"],
        "fills": s["fills"],
        "volume_quote": s["volume_quote"],
        "max_abs_position_size": s["max_abs_position_size"],
        "markout_5s_bps": marks["5s"]["mean_bps"] if "5s" in marks else None,
        "objective": score(result),
        "duration_s": s["duration_s"],
        "run_s": round(result.run_s, 3),
        "pruned": False,
        "steps": steps,
    }
    if "max_abs_position_base" in s:
        row["max_abs_position_base"] = s["max_abs_position_base"]
    return row


def walk_forward(files: list[Path], folds: int) -> list[list[Path]]:
    """``files`` (in time order) cut into ``folds + 1`` windows of consecutive files, as equal
    in count as can be (earlier windows take the extra file); fold i tunes on window i and
    scores on window i + 1. ``folds`` 0 is one window of every file. Raises ConfigError."""
    if folds < 0:
        raise ConfigError(f"--folds: must be >= 0 (got {folds})")
    n = folds + 1
    if len(files) < n:
        raise ConfigError(
            f"--folds {folds}: walk-forward needs at least {n} files in time order "
            f"(one window each), got {len(files)}"
        )
    size, extra = divmod(len(files), n)
    out, i = [], 0
    for k in range(n):
        j = i + size + (1 if k < extra else 0)
        out.append(files[i:j])
        i = j
    return out


def run_sweep(
    files: list[Path],
    instrument: Instrument,
    settings: Settings,
    points: list[Point],
    *,
    jobs: int | None = None,
    seed: int = 0,
    folds: int = 0,
    objective: str = "pnl",
    cluster: str | None = None,
    shipped: bool = False,
) -> list[dict[str, Any]]:
    """Backtest every point (on every fold) on ``jobs`` local processes (default: all cores)
    or the Dask cluster ``cluster``; rows in grid order (fold by fold), whichever worker ran
    them. With ``folds`` > 0 each row is the point on fold i's window and carries ``oos``:
    the same point scored on the next window (see ``walk_forward``).

    The caller decodes each window once beforehand (load_events) so local workers read the
    cache. Raises ConfigError for a bad value or cluster address.
    """
    for p in points:
        apply_point(settings, p)  # a bad value fails here, before any process starts
    windows = walk_forward(files, folds)
    tasks = [Task(p, w, objective) for w in range(len(windows)) for p in points]
    jobs = min(jobs or os.cpu_count() or 1, len(tasks))
    runner = open_runner(
        dataset(windows, instrument, settings, seed, shipped=shipped), cluster, jobs
    )
    try:
        got = dict(runner.stream(tasks))
    finally:
        runner.close()
    rows = [_sweep_row(got[i]) for i in range(len(tasks))]
    if folds == 0:
        return rows
    out = []
    for fold in range(folds):
        for k in range(len(points)):
            row = rows[fold * len(points) + k]
            after = rows[(fold + 1) * len(points) + k]
            row["fold"] = fold
            row["oos"] = {
                "objective": after["objective"],
                "pnl_total": after["pnl_total"],
                "fills": after["fills"],
                "duration_s": after["duration_s"],
                "diverges": diverges(
                    comparable(objective, row["objective"], row["duration_s"]),
                    comparable(objective, after["objective"], after["duration_s"]),
                ),
            }
            out.append(row)
    return out


def _sweep_row(row: dict[str, Any]) -> dict[str, Any]:
    # A sweep never prunes (the partial scores are the optimiser's); ``fold`` names the window.
    return {k: v for k, v in row.items() if k not in ("steps", "pruned", "window")}
