"""The Optuna search: its search space, walk-forward windows, pruning on partial runs, the
command's report and errors, and a study that survives an interrupt."""

from __future__ import annotations

import contextlib
import json
import math
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState
from typer.testing import CliRunner

from tests.backtest.research import INST, record_windows, worker_env
from tradetui.backtest.objective import comparable, diverges, objective_value
from tradetui.backtest.optimize import (
    PRUNE_STARTUP_TRIALS,
    PRUNE_WARMUP_STEPS,
    check_space,
    parse_search_param,
    prune_thresholds,
)
from tradetui.backtest.run import run_backtest
from tradetui.backtest.sweep import PRUNE_STEPS, run_point, walk_forward
from tradetui.cli import app
from tradetui.config import ConfigError, Settings
from tradetui.market.cache import load_events

TRADETUI = [sys.executable, "-m", "tradetui"]
GAMMA = "strategy.gamma=0.005..0.5:log"


@pytest.fixture(scope="module")
def windows(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return record_windows(tmp_path_factory.mktemp("windows"))


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADETUI_CACHE_DIR", str(tmp_path / "cache"))


def test_search_params_read_ranges_scales_and_choices() -> None:
    assert parse_search_param(GAMMA).distribution == FloatDistribution(0.005, 0.5, log=True)
    ticks = parse_search_param("strategy.min_spread_ticks=1..20")
    assert ticks.distribution == IntDistribution(1, 20)
    queue = parse_search_param("sim.queue_model=power,risk_averse")
    assert queue.distribution == CategoricalDistribution(("power", "risk_averse"))


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("strategy.gamma", "expected section.key=LOW..HIGH"),
        ("gamma=0.1..0.2", "expected section.key=LOW..HIGH"),
        ("nope.gamma=0.1..0.2", "unknown section"),
        ("strategy.nope=0.1..0.2", "unknown key"),
        ("strategy.gamma=0.5..0.1", "LOW must be below HIGH"),
        ("strategy.gamma=0..0.1:log", "above 0"),
        ("strategy.gamma=0.1..0.2:ln", "only scale is :log"),
        ("strategy.gamma=a..b", "must be numbers"),
        ("strategy.gamma=0.1", "two or more choices"),
        ("strategy.gamma=-1..0.5", "gamma"),
    ],
)
def test_bad_search_params_are_refused_with_the_reason(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        check_space([parse_search_param(text)], Settings())


def test_a_range_is_checked_with_the_other_searched_settings() -> None:
    wide = [parse_search_param("strategy.min_spread_ticks=1..600")]
    with pytest.raises(ConfigError, match="max_spread_ticks"):
        check_space(wide, Settings())  # above the configured maximum, 400
    check_space([*wide, parse_search_param("strategy.max_spread_ticks=500..2000")], Settings())
    with pytest.raises(ConfigError, match="given twice"):
        check_space([*wide, *wide], Settings())


def test_walk_forward_cuts_files_in_time_order_into_windows() -> None:
    files = [Path(f"d{i}") for i in range(5)]
    assert walk_forward(files, 0) == [files]
    assert walk_forward(files, 1) == [files[:3], files[3:]]
    assert walk_forward(files, 2) == [files[:2], files[2:4], files[4:]]
    with pytest.raises(ConfigError, match="at least 6 files"):
        walk_forward(files, 5)


def test_prune_thresholds_are_the_median_of_completed_trials_past_the_warm_up() -> None:
    def trial(scale: float) -> optuna.trial.FrozenTrial:
        curve = {s: scale * s for s in range(1, PRUNE_STEPS)}
        return optuna.trial.create_trial(value=scale, intermediate_values=curve)

    assert prune_thresholds([trial(k) for k in range(PRUNE_STARTUP_TRIALS - 1)]) == {}
    five = [trial(k) for k in (5, 1, 4, 2, 3)]
    got = prune_thresholds(five)
    assert sorted(got) == list(range(PRUNE_WARMUP_STEPS, PRUNE_STEPS))
    assert got[PRUNE_WARMUP_STEPS] == 3 * PRUNE_WARMUP_STEPS


def test_a_run_reports_partial_scores_and_stops_when_pruned(windows: list[Path]) -> None:
    events, _, _ = load_events(windows[:1], INST)
    point = (("strategy.gamma", 0.05),)
    full = run_point(Settings(), INST, events, point)
    steps = [s for s, _ in full["steps"]]
    assert steps == sorted(set(steps))
    assert steps[0] > 0
    assert steps[-1] < PRUNE_STEPS
    assert full["objective"] == float(full["pnl_total"])
    assert not full["pruned"]
    stop_at = steps[len(steps) // 2]
    pruned = run_point(Settings(), INST, events, point, prune_below={stop_at: math.inf})
    assert pruned["pruned"]
    assert pruned["steps"] == full["steps"][: len(steps) // 2 + 1]
    assert "pnl_total" not in pruned
    kept = run_point(Settings(), INST, events, point, prune_below={stop_at: -math.inf})
    assert {**kept, "run_s": 0} == {**full, "run_s": 0}


def test_objectives_of_a_finished_run(windows: list[Path]) -> None:
    events, _, _ = load_events(windows[:1], INST)
    result = run_backtest(Settings().replace("strategy", gamma=0.05), INST, events)
    assert result.fills  # the objectives below have something to measure
    assert objective_value(result, "pnl") == float(result.engine.pnl().total)
    assert math.isfinite(objective_value(result, "sharpe"))
    markout = objective_value(result, "pnl_after_markout")
    assert markout != objective_value(result, "pnl")


def test_divergence_is_judged_per_hour() -> None:
    assert comparable("pnl", 2.0, 1800) == 4.0
    assert comparable("sharpe", 2.0, 1800) == 2.0
    assert diverges(4.0, 1.0)
    assert diverges(4.0, -1.0)
    assert diverges(-1.0, 1.0)
    assert not diverges(4.0, 3.0)
    assert not diverges(-1.0, -3.0)
    assert diverges(0.0, -0.1)  # broke even when tuned, loses after
    assert not diverges(0.0, 0.0)


def _optimize_args(windows: list[Path], db: Path, trials: int) -> list[str]:
    return [
        "optimize",
        *map(str, windows),
        "--param",
        GAMMA,
        "--trials",
        str(trials),
        "--batch",
        "2",
        "--top",
        "2",
        "--jobs",
        "1",
        "--storage",
        f"sqlite:///{db}",
    ]


def test_optimize_prints_in_and_out_of_sample_and_plots(
    windows: list[Path], tmp_path: Path
) -> None:
    png = tmp_path / "study.png"
    r = CliRunner().invoke(
        app, [*_optimize_args(windows, tmp_path / "s.db", 3), "--plot", str(png)]
    )
    assert r.exit_code == 0, r.output
    assert "in-sample" in r.output
    assert "out-of-sample" in r.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--param", "strategy.gamma"], "--param 'strategy.gamma': expected"),
        (["--param", "strategy.nope=1..2"], "unknown key"),
        (["--param", "strategy.gamma=0.5..0.1"], "LOW must be below HIGH"),
        (["--param", GAMMA, "--trials", "0"], "--trials: must be >= 1"),
        (["--param", GAMMA, "--objective", "money"], "--objective 'money'"),
        (["--param", GAMMA, "--folds", "2"], "--folds 2: walk-forward needs at least 3 files"),
        (["--param", GAMMA, "--cluster", "dask"], "--cluster 'dask': expected `local`"),
        (["--param", GAMMA, "--storage", "nosuchdb://x"], "--storage 'nosuchdb://x'"),
    ],
)
def test_optimize_refuses_bad_input_in_one_line(
    windows: list[Path], args: list[str], says: str
) -> None:
    r = CliRunner().invoke(app, ["optimize", *map(str, windows), *args])
    assert r.exit_code == 2, r.output
    assert says in r.output, r.output
    assert len(r.output.strip().splitlines()) == 1, r.output


def test_a_study_name_of_another_search_is_refused(windows: list[Path], tmp_path: Path) -> None:
    args = [*_optimize_args(windows[:1], tmp_path / "s.db", 1), "--folds", "0", "--study", "mine"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    other = CliRunner().invoke(app, [*args, "--objective", "sharpe"])
    assert other.exit_code == 2, other.output
    assert "--study mine: made by another search" in other.output


def test_an_unreachable_scheduler_is_one_line(windows: list[Path]) -> None:
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{closed.getsockname()[1]}"
        for cmd in (["optimize", "--param", GAMMA], ["sweep", "--param", "strategy.gamma=0.1"]):
            r = CliRunner().invoke(
                app, [*cmd, str(windows[0]), "--folds", "0", "--cluster", address]
            )
            assert r.exit_code == 2, r.output
            assert f"--cluster {address}: no Dask scheduler answered" in r.output
            assert len(r.output.strip().splitlines()) == 1, r.output


def test_sweep_scores_each_point_out_of_sample(windows: list[Path]) -> None:
    args = ["sweep", *map(str, windows), "--param", "strategy.gamma=0.01,0.3", "--folds", "1"]
    r = CliRunner().invoke(app, [*args, "--jobs", "2", "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [(row["fold"], row["params"]) for row in rows] == [
        (0, {"strategy.gamma": 0.01}),
        (0, {"strategy.gamma": 0.3}),
    ]
    assert {"objective", "pnl_total", "fills", "diverges"} <= set(rows[0]["oos"])
    table = CliRunner().invoke(app, [*args, "--jobs", "2"])
    assert table.exit_code == 0
    assert "pnl out of sample" in table.output


def _finished(db: Path) -> list[optuna.trial.FrozenTrial]:
    storage = f"sqlite:///{db}"
    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    return study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))


def _finished_now(db: Path) -> int:
    """Finished trials in a study another process is writing (read-only: optuna would
    create its tables in the middle of that process creating them)."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            sql = "SELECT COUNT(*) FROM trials WHERE state IN ('COMPLETE', 'PRUNED')"
            return int(con.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:  # not made yet
        return 0


def test_an_interrupted_study_resumes_where_it_stopped(windows: list[Path], tmp_path: Path) -> None:
    db = tmp_path / "resume.db"
    args = _optimize_args(windows, db, 10)
    env = worker_env(tmp_path / "cache")
    proc = subprocess.Popen(
        [*TRADETUI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 300  # a loaded 2-core machine decodes slowly
        while _finished_now(db) < 2:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no trial finished in time"
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)  # as Ctrl-C
        _, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "run the same command again to continue" in err
    before = {t.number: t.params for t in _finished(db)}
    assert 2 <= len(before) < 10
    study = optuna.load_study(
        study_name=optuna.get_all_study_summaries(f"sqlite:///{db}")[0].study_name,
        storage=f"sqlite:///{db}",
    )
    assert not study.get_trials(states=(TrialState.RUNNING,))  # none left dangling
    again = subprocess.run(
        [*TRADETUI, *args, "--json"], env=env, capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr
    after = _finished(db)
    assert len(after) == 10
    assert {t.number: t.params for t in after if t.number in before} == before
