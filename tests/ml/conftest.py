"""A tiny model for the ML tests: up when touch imbalance is high, down when it is low."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import typer
import xgboost as xgb
from typer.testing import CliRunner, Result

from tradetui.ml.dataset import DOWN, FLAT, UP
from tradetui.ml.features import N_FEATURES
from tradetui.ml.train import feature_card, write_model


def tiny_rows(n: int = 600, seed: int = 0) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
    x[::5, 2:4] = np.nan
    y = np.full(n, FLAT)
    y[x[:, 1] > 0.5] = UP
    y[x[:, 1] < -0.5] = DOWN
    return x, y


def tiny_model(out: Path, rounds: int = 10, threshold_bps: float = 0.0) -> Path:
    x, y = tiny_rows()
    params = {"objective": "multi:softprob", "num_class": 3, "max_depth": 3, "nthread": 1}
    booster = xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=rounds)
    # Trained on noise rows, tied to no instrument: usable with any.
    card = {
        **feature_card(),
        "horizon_s": 5.0,
        "threshold_bps": threshold_bps,
        "instrument_agnostic": True,
    }
    write_model(booster, card, out)
    return out


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("model"))


def record_within_one_hour(app: typer.Typer, out: Path, seconds: float) -> Result:
    """`tradetui record` on a clock set to just after the top of the current UTC hour: the
    recorder starts a new file every hour, and a test must not get two files because it
    happened to run at, say, 09:59."""
    hour_ns = 3600 * 10**9
    start_ns = time.time_ns() // hour_ns * hour_ns + 10**9
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(time, "time_ns", lambda: start_ns)
        return CliRunner().invoke(app, ["record", "--out", str(out), "--seconds", str(seconds)])
