"""Parameter sweeps: the grid, its validation, and parallel runs equal to serial ones."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.instruments import btcusdt_perpetual
from tradetui.backtest.sweep import Axis, grid_points, parse_axis, run_point, run_sweep
from tradetui.cli import app
from tradetui.config import ConfigError, Settings
from tradetui.market.cache import load_events
from tradetui.market.recorder import CaptureEncoder, CaptureWriter, record_events
from tradetui.market.synthetic import SyntheticMarket

INST = btcusdt_perpetual()
T0_NS = 1_700_000_000 * 1_000_000_000


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    events = SyntheticMarket(INST, seed=7, start_ns=T0_NS).events()
    encoder = CaptureEncoder(INST)
    out = tmp_path_factory.mktemp("sweep")
    with CaptureWriter(out, "btc", encoder.snapshot, instrument=INST) as writer:
        record_events(events, encoder, writer, T0_NS + 40 * 1_000_000_000)
    return writer.files[0]


@pytest.fixture(autouse=True)
def cache_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADETUI_CACHE_DIR", str(tmp_path / "cache"))


def test_axis_reads_typed_values() -> None:
    assert parse_axis("strategy.gamma=0.01, 0.1") == Axis("strategy.gamma", (0.01, 0.1))
    assert parse_axis("sim.queue_model=power").values == ("power",)


@pytest.mark.parametrize("text", ["gamma=0.1", "strategy.gamma", "strategy.gamma=", "nope.x=1"])
def test_axis_refuses_malformed_text(text: str) -> None:
    with pytest.raises(ConfigError, match="--param"):
        parse_axis(text)


def test_grid_is_every_combination_last_axis_fastest() -> None:
    points = grid_points([Axis("a.x", (1, 2)), Axis("b.y", ("p", "q", "r"))])
    assert [tuple(v for _, v in p) for p in points] == list(
        itertools.product((1, 2), ("p", "q", "r"))
    )


def test_bad_value_fails_before_any_backtest(recorded: Path) -> None:
    with pytest.raises(ConfigError, match="gamma"):
        run_sweep([recorded], INST, Settings(), [(("strategy.gamma", -1.0),)], jobs=1)


def test_parallel_sweep_equals_serial_backtests(recorded: Path) -> None:
    events, _, _ = load_events([recorded], INST)
    points = grid_points([Axis("strategy.gamma", (0.02, 0.2))])
    parallel = run_sweep([recorded], INST, Settings(), points, jobs=2)
    serial = [run_point(Settings(), INST, events, p) for p in points]
    same = set(parallel[0]) - {"run_s"}
    assert [{k: r[k] for k in same} for r in parallel] == [{k: r[k] for k in same} for r in serial]
    assert [r["params"]["strategy.gamma"] for r in parallel] == [0.02, 0.2]
    assert parallel[0]["fills"] != parallel[1]["fills"]


def test_sweep_command_prints_one_row_per_point(recorded: Path) -> None:
    args = ["sweep", str(recorded), "--param", "strategy.gamma=0.05,0.1", "--jobs", "2"]
    r = CliRunner().invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    rows = json.loads(r.output)
    assert [row["params"] for row in rows] == [
        {"strategy.gamma": 0.05},
        {"strategy.gamma": 0.1},
    ]
    table = CliRunner().invoke(app, args)
    assert table.exit_code == 0, table.output
    assert "strategy.gamma" in table.output
