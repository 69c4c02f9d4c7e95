"""Sweeps and searches on a real Dask cluster (a scheduler and worker processes on localhost)
give the rows the local process pool gives."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from typer.testing import CliRunner

from tests.backtest.research import INST, DaskCluster, dask_cluster, record_windows, worker_env
from tradetui.backtest.dispatch import DaskRunner, Task, dataset
from tradetui.backtest.sweep import Axis, grid_points, run_sweep
from tradetui.cli import app
from tradetui.config import Settings

POINTS = grid_points(
    [Axis("strategy.gamma", (0.01, 0.3)), Axis("strategy.order_size", (0.01, 0.02))]
)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return worker_env(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def windows(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return record_windows(tmp_path_factory.mktemp("windows"))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> Iterator[DaskCluster]:
    with dask_cluster(tmp_path_factory.mktemp("dask"), 2, env) as c:
        yield c


@pytest.fixture(autouse=True)
def shared_cache(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADETUI_CACHE_DIR", env["TRADETUI_CACHE_DIR"])


def _timeless(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k != "run_s"} for r in rows]


@pytest.fixture(scope="module")
def local(windows: list[Path], env: dict[str, str]) -> list[dict[str, Any]]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRADETUI_CACHE_DIR", env["TRADETUI_CACHE_DIR"])
        return run_sweep(windows, INST, Settings(), POINTS, jobs=2, folds=1)


def test_sweep_on_dask_gives_the_local_rows(
    windows: list[Path], cluster: DaskCluster, local: list[dict[str, Any]]
) -> None:
    by_path = run_sweep(windows, INST, Settings(), POINTS, folds=1, cluster=cluster.address)
    shipped = run_sweep(
        windows, INST, Settings(), POINTS, folds=1, cluster=cluster.address, shipped=True
    )
    assert _timeless(by_path) == _timeless(local)
    assert _timeless(shipped) == _timeless(local)
    assert [r["params"] for r in local] == [dict(p) for p in POINTS]
    assert len({r["fills"] for r in local}) > 1  # the points differ, so the rows do
    assert all("objective" in r["oos"] for r in local)


def _trials(storage: str) -> list[tuple[Any, ...]]:
    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    return [
        (t.number, t.state.name, t.params, t.value, t.intermediate_values)
        for t in study.get_trials()
    ]


def test_optimize_on_dask_gives_the_local_rows(
    windows: list[Path], cluster: DaskCluster, tmp_path: Path
) -> None:
    args = [
        "optimize",
        *map(str, windows),
        "--param",
        "strategy.gamma=0.005..0.5:log",
        "--param",
        "strategy.order_size=0.01,0.02,0.03",
        "--trials",
        "7",
        "--batch",
        "5",
        "--top",
        "2",
        "--json",
    ]
    local_db = f"sqlite:///{tmp_path / 'local.db'}"
    dask_db = f"sqlite:///{tmp_path / 'dask.db'}"
    local = CliRunner().invoke(app, [*args, "--jobs", "2", "--storage", local_db])
    assert local.exit_code == 0, local.output
    remote = CliRunner().invoke(app, [*args, "--cluster", cluster.address, "--storage", dask_db])
    assert remote.exit_code == 0, remote.output
    assert json.loads(remote.stdout)["folds"] == json.loads(local.stdout)["folds"]
    assert _trials(dask_db) == _trials(local_db)
    (fold,) = json.loads(local.stdout)["folds"]
    assert fold["complete"] + fold["pruned"] == 7
    assert [set(r) >= {"in_sample", "out_of_sample", "diverges"} for r in fold["best"]] == [
        True,
        True,
    ]


def test_a_lost_workers_tasks_run_elsewhere(
    windows: list[Path], cluster: DaskCluster, local: list[dict[str, Any]], tmp_path: Path
) -> None:
    doomed = cluster.add_worker(tmp_path / "doomed.log")
    cluster.wait_for_workers(3)
    data = dataset([windows[:1], windows[1:]], INST, Settings())
    tasks = [Task(p, w) for w in (0, 1) for p in POINTS]
    runner = DaskRunner(data, cluster.address)
    got: dict[int, dict[str, Any]] = {}
    try:
        for i, row in runner.stream(tasks):
            if not got:
                doomed.send_signal(signal.SIGKILL)  # mid-run, with tasks of its own
            got[i] = row
    finally:
        runner.close()
    assert doomed.wait(timeout=15) == -signal.SIGKILL
    cluster.workers.remove(doomed)
    assert sorted(got) == list(range(len(tasks)))
    in_sample = [got[i] for i in range(len(POINTS))]
    assert [r["pnl_total"] for r in in_sample] == [r["pnl_total"] for r in local]
    assert [got[len(POINTS) + i]["objective"] for i in range(len(POINTS))] == [
        r["oos"]["objective"] for r in local
    ]
