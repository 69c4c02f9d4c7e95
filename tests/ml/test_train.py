from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from tests.conftest import scratch_app
from tests.instruments import btcusdt_perpetual
from tradetui.commands.ml import register
from tradetui.core.types import BestBidOffer
from tradetui.market.synthetic import SyntheticMarket
from tradetui.ml.dataset import DOWN, FLAT, UP, Samples, future_move_bps, labels, sample_features
from tradetui.ml.features import FEATURE_NAMES, N_FEATURES
from tradetui.ml.model import load_model
from tradetui.ml.train import TrainConfig, split_rows, train_samples, write_model

S = 1_000_000_000
T0 = 1_700_000_000 * S
SPOT = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "binance-spot"


def test_labels_use_the_threshold_both_ways() -> None:
    y = labels(np.array([3.0, -3.0, 1.0, -1.0, 2.0]), 2.0)
    assert y.tolist() == [UP, DOWN, FLAT, FLAT, FLAT]


def test_future_move_is_missing_past_the_data() -> None:
    t = np.arange(10, dtype=np.int64) * S
    # The mid grows 2 bps (log) a second: every 3 s move is 6 bps, on any price level.
    mids = 1000 * np.exp(np.arange(10) * 2e-4)
    s = Samples(np.zeros((10, N_FEATURES), np.float32), t, mids)
    move = future_move_bps(s, 3 * S)
    assert move[:7] == pytest.approx([6.0] * 7)
    assert np.isnan(move[7:]).all()


def test_rows_are_sampled_every_100_ms_of_replayed_time() -> None:
    events = [
        BestBidOffer(
            exch_ns=T0 + i * 50_000_000,
            local_ns=T0 + i * 50_000_000,
            update_id=i,
            bid_ticks=100,
            bid_lots=1,
            ask_ticks=102,
            ask_lots=1,
        )
        for i in range(21)
    ]
    s = sample_features(events)
    assert np.diff(s.t_ns).tolist() == [100_000_000] * (len(s.t_ns) - 1)
    assert len(s.t_ns) == 10


def test_split_keeps_a_gap_and_label_windows_apart() -> None:
    t = np.arange(0, 600 * S, S // 10, dtype=np.int64)
    sp = split_rows(t, 400 * S, 5 * S, 30 * S)
    assert t[sp.fit].max() + 5 * S < t[sp.valid].min()
    assert t[sp.valid].max() + 5 * S <= 400 * S - 30 * S
    assert t[sp.test].min() >= 400 * S
    assert not (sp.fit & sp.valid).any()
    assert not (sp.valid & sp.test).any()


def test_training_on_a_predictive_feature_beats_the_prior(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 3000
    x = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    t = T0 + np.arange(n, dtype=np.int64) * (S // 10)
    mid = 1000.0 + np.cumsum(rng.normal(size=n))
    # imbalance_1 is a noisy view of the coming 5 s move (50 rows ahead).
    ahead = np.zeros(n)
    ahead[:-50] = mid[50:] - mid[:-50]
    x[:, FEATURE_NAMES.index("imbalance_1")] = ahead + rng.normal(size=n)
    s = Samples(x, t, mid)
    booster, card = train_samples(s, int(t[2000]), TrainConfig(rounds=40, gap_s=5.0))
    m = card["metrics"]
    assert m["model"]["log_loss"] < m["prior"]["log_loss"]
    assert card["split"]["test"]["start_ns"] >= t[2000]
    written = write_model(booster, card, tmp_path / "m")
    assert load_model(tmp_path / "m").card["sha256"] == written["sha256"]


def test_too_little_data_is_a_clear_error() -> None:
    from tradetui.ml.train import TrainError

    t = T0 + np.arange(100, dtype=np.int64) * (S // 10)
    s = Samples(np.zeros((100, N_FEATURES), np.float32), t, np.full(100, 1000.0))
    with pytest.raises(TrainError, match="rows"):
        train_samples(s, int(t[50]), TrainConfig())


def test_threshold_that_leaves_a_class_empty_is_a_clear_error() -> None:
    from tradetui.ml.train import TrainError

    rng = np.random.default_rng(1)
    n = 3000
    t = T0 + np.arange(n, dtype=np.int64) * (S // 10)
    s = Samples(
        rng.normal(size=(n, N_FEATURES)).astype(np.float32),
        t,
        1000 + np.cumsum(rng.normal(size=n)),
    )
    with pytest.raises(TrainError, match=r"threshold 1e\+09 bps leaves 0 up, 0 down"):
        train_samples(s, int(t[2000]), TrainConfig(threshold_bps=1e9, rounds=5, gap_s=5.0))


def test_synthetic_market_replays_into_feature_rows() -> None:
    inst = btcusdt_perpetual()
    end = T0 + 20 * S
    events = list(
        itertools.takewhile(
            lambda e: e.exch_ns < end, SyntheticMarket(inst, seed=2, start_ns=T0).events()
        )
    )
    s = sample_features(events)
    assert len(s.t_ns) > 150
    assert np.isfinite(s.x[:, FEATURE_NAMES.index("spread_bps")]).all()


def _app() -> typer.Typer:
    return scratch_app(register)


def test_cli_missing_file_is_one_line_exit_2(tmp_path: Path) -> None:
    r = CliRunner().invoke(_app(), ["train", str(tmp_path / "missing.gz")])
    assert r.exit_code == 2
    assert r.output.startswith("error: ")
    assert len(r.output.strip().splitlines()) == 1


def test_cli_negative_threshold_is_one_line_exit_2(tmp_path: Path) -> None:
    r = CliRunner().invoke(_app(), ["train", str(tmp_path / "x.gz"), "--threshold-bps", "-5"])
    assert r.exit_code == 2
    assert r.output.startswith("error: --threshold-bps must be >= 0")
    assert len(r.output.strip().splitlines()) == 1


@pytest.mark.parametrize("kind", ["file", "under_a_file"])
def test_cli_out_that_cannot_be_a_directory_is_one_line_exit_2(tmp_path: Path, kind: str) -> None:
    """Checked before any data is read, so no training is wasted."""
    blocker = tmp_path / "taken"
    blocker.write_text("not a directory")
    out = blocker if kind == "file" else blocker / "m"
    r = CliRunner().invoke(_app(), ["train", str(tmp_path / "x.gz"), "--out", str(out)])
    assert r.exit_code == 2
    assert r.output.startswith(f"error: --out {out}: ")
    assert len(r.output.strip().splitlines()) == 1
    assert blocker.read_text() == "not a directory"


@pytest.mark.usefixtures("simulated_catalogs")  # the file finds its instrument there
@pytest.mark.skipif(not SPOT.exists(), reason=f"shared recordings not found at {SPOT}")
def test_cli_trains_on_the_shared_spot_files_and_scores_the_later_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADETUI_CACHE_DIR", str(tmp_path / "cache"))
    files = sorted(str(p) for p in SPOT.glob("btcusdt_2024080*.gz"))
    r = CliRunner().invoke(_app(), ["train", *files, "--out", str(tmp_path / "m"), "--json"])
    assert r.exit_code == 0, r.output
    card = json.loads(r.output)
    assert card["split"]["fit"]["end_ns"] < card["split"]["test"]["start_ns"]
    assert set(card["metrics"]) == {"model", "prior", "imbalance_only"}
    assert load_model(tmp_path / "m").card["features"] == list(FEATURE_NAMES)
    # What it was trained on: the instrument's spec (its ticks and lots), each file's hash.
    assert card["instrument"]["symbol"] == "BTCUSDT"
    assert card["instrument"]["kind"] == "spot"
    assert card["instrument"]["tick_size"] == "0.01"
    assert card["instrument_agnostic"] is False
    assert [d["sha256"] for d in card["data"]] == [
        hashlib.sha256(Path(f).read_bytes()).hexdigest() for f in files
    ]
    assert card["versions"]["tradetui_commit"]
