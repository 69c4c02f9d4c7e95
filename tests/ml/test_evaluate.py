"""`tradetui ml evaluate` and the block bootstrap behind its intervals (issue 23)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from tests.conftest import scratch_app
from tests.ml.conftest import tiny_model
from tradetui.commands import ml, ml_evaluate
from tradetui.ml.evaluate import recent_frequencies
from tradetui.ml.metrics import auc, block_rows, mean_interval, resampled

ROOT = Path(__file__).resolve().parents[2]
SPOT = ROOT / ".." / "shared/data/binance-spot"
S = 1_000_000_000


def _app() -> typer.Typer:
    def both(app: typer.Typer) -> None:
        ml.register(app)
        ml_evaluate.register(app)

    return scratch_app(both)


def _ar1(n: int, phi: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    e = rng.normal(size=n)
    x = np.empty(n)
    x[0] = e[0]
    for i in range(1, n):
        x[i] = phi * x[i - 1] + e[i]
    return x


def test_block_bootstrap_covers_the_truth_where_a_row_bootstrap_does_not() -> None:
    # Autocorrelated rows with true mean 0: the row-by-row interval is far too narrow and
    # misses 0 about 3 times in 4; blocks sized to the correlation miss it near the nominal 5 %.
    misses_block = misses_row = 0
    for seed in range(40):
        x = _ar1(4000, 0.8, seed)
        block = block_rows(x, 1)
        assert block >= 20
        iv = mean_interval(x, block, n_boot=400, seed=seed)
        misses_block += not iv.low <= 0.0 <= iv.high
        row = mean_interval(x, 1, n_boot=400, seed=seed)
        misses_row += not row.low <= 0.0 <= row.high
    assert misses_row >= 20
    assert misses_block <= 8


def test_intervals_are_seeded_and_blocks_never_shorter_than_the_horizon() -> None:
    x = np.random.default_rng(1).normal(size=500)
    assert block_rows(x, 50) == 50  # white noise: the horizon decides
    a = mean_interval(x, 10, seed=3)
    assert a == mean_interval(x, 10, seed=3)
    assert a != mean_interval(x, 10, seed=4)
    assert a.low < a.estimate < a.high
    score = np.arange(500, dtype=np.float64)
    hit = score > 250
    got = resampled(auc, (score, hit), 25, n_boot=200)
    assert got is not None
    assert got.estimate == 1.0
    assert resampled(auc, (score, np.zeros(500, dtype=np.bool_)), 25) is None


def test_recent_baseline_uses_only_labels_already_resolved() -> None:
    t = np.arange(200, dtype=np.int64) * (S // 10)
    y = np.ones(200, dtype=np.int64)
    prior = np.full(3, 1 / 3)
    base = recent_frequencies(y, t, 5 * S, prior)
    changed = y.copy()
    changed[100:] = 2  # rows from 10 s on resolve at 15 s and later
    after = recent_frequencies(changed, t, 5 * S, prior)
    assert np.array_equal(base[:150], after[:150])  # rows up to 14.9 s cannot see them
    assert not np.array_equal(base[151:], after[151:])
    assert np.allclose(base[0], prior)  # nothing resolved yet: the prior alone


@pytest.mark.skipif(not SPOT.exists(), reason=f"shared recordings not found: {SPOT}")
@pytest.mark.usefixtures("simulated_catalogs")
def test_a_model_trained_on_one_shared_file_scores_another_with_intervals(
    tmp_path: Path,
) -> None:
    model = tmp_path / "m"
    app = _app()
    env = {"TRADETUI_CACHE_DIR": str(tmp_path / "cache")}
    r = CliRunner().invoke(
        app, ["train", str(SPOT / "btcusdt_20240808.gz"), "--out", str(model), "--json"], env=env
    )
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(
        app,
        [
            "ml",
            "evaluate",
            str(model),
            str(SPOT / "btcusdt_20240809.gz"),
            "--json",
            "--resamples",
            "200",
        ],
        env=env,
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["training_files_in_input"] == []
    assert out["rows"] > 2500  # ~300 s of rows every 100 ms
    b = out["bootstrap"]
    assert b["block_s"] >= 5.0  # at least one label horizon
    assert 10 <= b["independent_blocks"] <= out["rows"] // 50
    for name in ("model", "prior", "recent"):
        s = out["scores"][name]
        ll = s["log_loss"]
        assert 0.5 < ll["low"] <= ll["estimate"] <= ll["high"] < 2.0
        for cls in ("up", "down"):
            assert s["ece"][cls]["low"] <= s["ece"][cls]["high"]
            assert s["auc"][cls]["low"] <= s["auc"][cls]["estimate"] <= s["auc"][cls]["high"]
    for g in out["gain"].values():
        assert g["low"] < g["high"]
        assert g["estimate"] == pytest.approx(
            out["scores"][next(k for k in out["gain"] if out["gain"][k] is g)]["log_loss"][
                "estimate"
            ]
            - out["scores"]["model"]["log_loss"]["estimate"],
            abs=2e-5,
        )
    assert "the class prior" in out["verdict"]
    # The training file itself: only its held-out tail is scored, never its fit rows.
    r = CliRunner().invoke(
        app,
        [
            "ml",
            "evaluate",
            str(model),
            str(SPOT / "btcusdt_20240808.gz"),
            "--json",
            "--resamples",
            "200",
        ],
        env=env,
    )
    assert r.exit_code == 0, r.output
    tail = json.loads(r.output)
    assert tail["training_files_in_input"] == [str(SPOT / "btcusdt_20240808.gz")]
    card = json.loads((model / "card.json").read_text())
    assert tail["rows"] <= card["split"]["test"]["rows"]


def test_missing_model_is_one_line_exit_2(tmp_path: Path) -> None:
    data = tmp_path / "x.gz"
    data.write_text("x")
    r = CliRunner().invoke(_app(), ["ml", "evaluate", str(tmp_path / "nope"), str(data)])
    assert r.exit_code == 2
    assert r.output.startswith("error: MODEL ")
    assert "model.json" in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_a_file_that_is_not_a_recording_is_one_line_exit_2(tmp_path: Path) -> None:
    model = tiny_model(tmp_path / "m")
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\n")
    r = CliRunner().invoke(_app(), ["ml", "evaluate", str(model), str(bad)])
    assert r.exit_code == 2
    assert r.output.startswith("error: ")
    assert len(r.output.strip().splitlines()) == 1
