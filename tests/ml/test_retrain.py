"""Retraining promotes a candidate only when it wins on the latest held-out window."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from tests.conftest import scratch_app
from tests.ml.conftest import record_within_one_hour, tiny_model
from tradetui.commands.ml import newest_recordings, register
from tradetui.ml.dataset import Samples
from tradetui.ml.features import FEATURE_NAMES, N_FEATURES
from tradetui.ml.model import CARD_FILE, MODEL_FILE, load_model
from tradetui.ml.retrain import retrain_samples
from tradetui.ml.train import TrainConfig, write_model

S = 1_000_000_000
T0 = 1_700_000_000 * S
FAST = TrainConfig(rounds=40, gap_s=5.0)
# The label threshold a retrain takes from the current model's card: a planted 5 s move is
# ~7 ticks of a ~1000-tick mid, ~70 bps, so 0 (the tiny model's default) would leave no flat
# rows.
PLANTED_THRESHOLD = 20.0


def planted(seed: int = 0, n: int = 3000) -> tuple[Samples, int]:
    """Rows every 100 ms whose touch imbalance foretells the coming 5 s mid move."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    t = T0 + np.arange(n, dtype=np.int64) * (S // 10)
    mid = 1000.0 + np.cumsum(rng.normal(size=n))
    ahead = np.zeros(n)
    ahead[:-50] = mid[50:] - mid[:-50]
    x[:, FEATURE_NAMES.index("imbalance_1")] = ahead + 0.5 * rng.normal(size=n)
    return Samples(x, t, mid), int(t[2000])


def files_bytes(d: Path) -> tuple[bytes, bytes]:
    return (d / MODEL_FILE).read_bytes(), (d / CARD_FILE).read_bytes()


def test_better_candidate_replaces_an_uninformed_model(tmp_path: Path) -> None:
    model = tiny_model(tmp_path / "m", threshold_bps=PLANTED_THRESHOLD)  # knows nothing here
    old_sha = load_model(model).sha256
    samples, split = planted()
    res = retrain_samples(samples, split, model, FAST)
    assert res.promoted, res.line()
    assert res.candidate_log_loss is not None
    assert res.current_log_loss is not None
    assert res.candidate_log_loss < res.current_log_loss
    new = load_model(model)
    assert new.sha256 == res.sha256 != old_sha
    assert new.card["retrain"]["previous_sha256"] == old_sha
    assert "promoted" in res.line()
    assert not [p for p in model.iterdir() if p.name.startswith(".candidate")]


def test_worse_candidate_leaves_the_current_model_untouched(tmp_path: Path) -> None:
    samples, split = planted()
    model = tmp_path / "m"
    assert retrain_samples(samples, split, model, FAST).promoted  # no model yet: promoted
    before = files_bytes(model)
    # One tiny boosting step: close to a uniform forecast, worse than the informed model.
    weak = TrainConfig(rounds=1, eta=0.001, gap_s=5.0, early_stopping=1)
    res = retrain_samples(samples, split, model, weak)
    assert not res.promoted
    assert res.candidate_log_loss is not None
    assert res.current_log_loss is not None
    assert res.candidate_log_loss > res.current_log_loss
    assert files_bytes(model) == before
    assert "kept current" in res.line()


def test_equal_candidate_is_not_promoted(tmp_path: Path) -> None:
    samples, split = planted()
    model = tmp_path / "m"
    retrain_samples(samples, split, model, FAST)
    before = files_bytes(model)
    assert not retrain_samples(samples, split, model, FAST).promoted
    assert files_bytes(model) == before


def _corrupt_writer(booster: Any, card: dict[str, Any], out: Path) -> dict[str, Any]:
    written = write_model(booster, card, out)
    text = (out / MODEL_FILE).read_text()
    (out / MODEL_FILE).write_text(text[: len(text) // 2])  # truncated after hashing
    return written


def test_corrupt_candidate_never_replaces_a_good_model(tmp_path: Path) -> None:
    model = tiny_model(tmp_path / "m", threshold_bps=PLANTED_THRESHOLD)
    before = files_bytes(model)
    samples, split = planted()
    res = retrain_samples(samples, split, model, FAST, write_model=_corrupt_writer)
    assert not res.promoted
    assert res.reason.startswith("candidate rejected: ")
    assert files_bytes(model) == before
    assert load_model(model).sha256 == res.sha256
    assert not [p for p in model.iterdir() if p.name.startswith(".candidate")]


def test_corrupt_candidate_writes_nothing_where_there_was_no_model(tmp_path: Path) -> None:
    samples, split = planted()
    res = retrain_samples(samples, split, tmp_path / "m", FAST, write_model=_corrupt_writer)
    assert not res.promoted
    assert not (tmp_path / "m" / MODEL_FILE).exists()


def test_unusable_current_model_is_replaced(tmp_path: Path) -> None:
    model = tiny_model(tmp_path / "m")
    (model / MODEL_FILE).write_text("{}")  # hash no longer matches the card
    samples, split = planted()
    res = retrain_samples(samples, split, model, FAST)
    assert res.promoted
    assert res.reason.startswith("current model unusable")
    assert load_model(model).sha256 == res.sha256


def test_newest_recordings_skip_hidden_and_still_written_files(tmp_path: Path) -> None:
    for name in ("a_01.gz", "a_02.gz", "a_03.gz", ".tmp.gz", "a_04.gz"):
        (tmp_path / name).write_text("x")
    now = (tmp_path / "a_04.gz").stat().st_mtime

    for name in ("a_01.gz", "a_02.gz", "a_03.gz", ".tmp.gz"):
        os.utime(tmp_path / name, (now - 60, now - 60))
    got = newest_recordings(tmp_path, 2, now + 1)
    assert [p.name for p in got] == ["a_02.gz", "a_03.gz"]


def _app() -> typer.Typer:
    return scratch_app(register)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--every", "soon"], "--every"),
        (["--last", "0"], "--last"),
        (["x.gz"], "not both"),
    ],
)
def test_watch_bad_arguments_are_one_line_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    r = CliRunner().invoke(_app(), ["train", "--watch", str(tmp_path), *args])
    assert r.exit_code == 2
    assert r.output.startswith("error: ")
    assert message in r.output
    assert len(r.output.strip().splitlines()) == 1


def test_watch_without_recordings_waits(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        _app(), ["train", "--watch", str(tmp_path), "--once", "--json", "--out", str(tmp_path)]
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["result"] == "waiting"


def test_train_without_files_or_watch_is_an_error() -> None:
    r = CliRunner().invoke(_app(), ["train"])
    assert r.exit_code == 2
    assert "--watch" in r.output


def test_watch_cycle_promotes_then_keeps_on_recorded_files(tmp_path: Path) -> None:
    from tradetui.commands.data import register as register_data

    app = _app()
    register_data(app)
    rec = tmp_path / "rec"
    r = record_within_one_hour(app, rec, 120)
    assert r.exit_code == 0, r.output
    old = time.time() - 60
    for p in rec.iterdir():
        os.utime(p, (old, old))  # finished recordings: not modified in the last seconds
    model = tmp_path / "model"
    env = {"TRADETUI_CACHE_DIR": str(tmp_path / "cache")}
    args = ["train", "--watch", str(rec), "--once", "--json", "--horizon", "1", "--out"]
    first = CliRunner().invoke(app, [*args, str(model)], env=env)
    assert first.exit_code == 0, first.output
    got = json.loads(first.output)
    assert got["result"] == "promoted", got["line"]
    assert load_model(model).sha256 == got["sha256"]
    before = files_bytes(model)
    again = CliRunner().invoke(app, [*args, str(model)], env=env)
    assert json.loads(again.output)["result"] == "kept"
    assert files_bytes(model) == before


def test_a_candidate_better_only_by_noise_is_not_promoted(tmp_path: Path) -> None:
    # Features that know nothing: two trainings differ only by their subsampling seed. The
    # candidate's held-out log loss is lower, yet within the gain's bootstrap interval.
    samples, split = planted()
    rng = np.random.default_rng(7)
    noise = Samples(
        rng.normal(size=samples.x.shape).astype(np.float32), samples.t_ns, samples.mid_ticks
    )
    model = tmp_path / "m"
    cfg = TrainConfig(rounds=40, gap_s=5.0, threshold_bps=PLANTED_THRESHOLD)
    assert retrain_samples(noise, split, model, cfg).promoted  # no model yet
    before = files_bytes(model)
    # A subsampling seed whose candidate happens to come out ahead by the point estimate (seed 1
    # does not with the bps labels); the assertion below checks that premise.
    res = retrain_samples(noise, split, model, TrainConfig(rounds=40, gap_s=5.0, seed=2))
    assert res.candidate_log_loss is not None
    assert res.current_log_loss is not None
    assert res.candidate_log_loss < res.current_log_loss  # better by the point estimate
    assert res.gain is not None
    assert res.gain.low <= 0.0 < res.gain.estimate < res.gain.high
    assert not res.promoted, res.line()
    assert "uncertainty" in res.reason
    assert files_bytes(model) == before


def test_a_promotion_reports_the_gain_interval_above_zero(tmp_path: Path) -> None:
    model = tiny_model(tmp_path / "m", threshold_bps=PLANTED_THRESHOLD)
    samples, split = planted()
    res = retrain_samples(samples, split, model, FAST)
    assert res.promoted
    assert res.gain is not None
    assert res.gain.low > 0.0
    assert "gain " in res.line()
    assert load_model(model).card["retrain"]["gain"]["low"] == pytest.approx(res.gain.low, abs=1e-5)
