"""Parameter sweeps: one backtest per point of a settings grid, run on all cores.

Each worker process loads the decoded events once (from the on-disk cache the parent fills
first) and runs its share of the grid; points differ only in settings, so the same seed and
data make every difference a difference of parameters.
"""

from __future__ import annotations

import itertools
import os
import tomllib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradetui.backtest.run import run_backtest
from tradetui.config import SECTIONS, ConfigError, Settings
from tradetui.core.instrument import Instrument
from tradetui.core.types import MarketEvent
from tradetui.engine.summary import close_markouts, session_summary

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
    values = tuple(_scalar(v.strip()) for v in raw.split(",") if v.strip())
    return Axis(key, values)


def _scalar(raw: str) -> Any:
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
    for key, value in point:
        section, _, name = key.partition(".")
        settings = settings.replace(section, **{name: value})
    return settings


# Worker-process state, set once by ``_init_worker``.
_WORKER: dict[str, Any] = {}


def _init_worker(files: list[Path], instrument: Instrument, settings: Settings, seed: int) -> None:
    from tradetui.market.cache import load_events

    events, _, _ = load_events(files, instrument)
    _WORKER.update(events=events, instrument=instrument, settings=settings, seed=seed)


def _run_point(point: Point) -> dict[str, Any]:
    return run_point(
        _WORKER["settings"], _WORKER["instrument"], _WORKER["events"], point, _WORKER["seed"]
    )


def run_point(
    settings: Settings,
    instrument: Instrument,
    events: list[MarketEvent],
    point: Point,
    seed: int = 0,
) -> dict[str, Any]:
    """One backtest of ``point``: its parameters and headline figures (JSON-ready; money in
    ``settle_asset``, sizes in ``size_unit``, as in the session summary)."""
    result = run_backtest(apply_point(settings, point), instrument, events, seed=seed)
    close_markouts(result.engine)
    s = session_summary(result.engine, (result.end_ns - result.start_ns) / 1e9)
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
        "run_s": round(result.run_s, 3),
    }
    if "max_abs_position_base" in s:
        row["max_abs_position_base"] = s["max_abs_position_base"]
    return row


def run_sweep(
    files: list[Path],
    instrument: Instrument,
    settings: Settings,
    points: list[Point],
    *,
    jobs: int | None = None,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Backtest every point on ``jobs`` processes (default: all cores); results in grid order.

    The caller decodes ``files`` once beforehand (load_events) so workers read the cache.
    """
    for p in points:
        apply_point(settings, p)  # a bad value fails here, before any process starts
    workers = max(1, min(jobs or os.cpu_count() or 1, len(points)))
    with ProcessPoolExecutor(
        max_workers=workers,
        initializer=_init_worker,
        initargs=(files, instrument, settings, seed),
    ) as pool:
        return list(pool.map(_run_point, points))
