"""Train the filter model on recorded data and write it with its model card.

The split is by time, never shuffled: rows before ``split_ns − gap`` (whose label horizon
also ends before that) train, rows from ``split_ns`` on test. With several files the test part
is the last file; with one file it is the last ``test_fraction`` of its time. Inside the
training part the last 20 % (after a gap of one horizon) is the early-stopping validation
window, so model selection never sees the test part. Scores are compared with two baselines:
the training class prior and a one-feature model on the touch imbalance.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tradetui.core.instrument import Instrument
from tradetui.ml.dataset import CLASSES, STEP_NS, Samples, future_move_bps, labels
from tradetui.ml.features import FEATURE_NAMES, FEATURE_UNITS, FEATURES
from tradetui.ml.metrics import score
from tradetui.ml.model import CARD_FILE, MODEL_FILE

_NS = 1_000_000_000
_IMBALANCE_COL = FEATURE_NAMES.index("imbalance_1")
_VALID_FRACTION = 0.2
# Fewest fit rows of each class (down, flat, up) worth training on.
_MIN_CLASS_ROWS = 10


class TrainError(Exception):
    """Training cannot proceed; the message says why in one line."""


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """horizon_s, gap_s in seconds; threshold_bps None = the training set's 33rd percentile
    of |mid move| (about a third of rows flat); agnostic: the card says the model may serve
    any instrument (docs/ml-filter.md)."""

    horizon_s: float = 5.0
    threshold_bps: float | None = None
    gap_s: float = 30.0
    test_fraction: float = 0.3
    rounds: int = 300
    max_depth: int = 3
    eta: float = 0.05
    early_stopping: int = 30
    seed: int = 0
    agnostic: bool = False


@dataclass(frozen=True, slots=True)
class Split:
    """Row masks of the fit, validation and test windows."""

    fit: npt.NDArray[np.bool_]
    valid: npt.NDArray[np.bool_]
    test: npt.NDArray[np.bool_]


def split_rows(t_ns: npt.NDArray[np.int64], split_ns: int, horizon_ns: int, gap_ns: int) -> Split:
    """Walk-forward windows: fit | horizon gap | valid | gap | test, with label windows inside."""
    labelled = t_ns + horizon_ns <= t_ns[-1] if len(t_ns) else np.zeros(0, dtype=np.bool_)
    train = labelled & (t_ns + horizon_ns <= split_ns - gap_ns)
    test = labelled & (t_ns >= split_ns)
    if not train.any():
        return Split(train, train, test)
    t0, t1 = int(t_ns[train][0]), int(t_ns[train][-1])
    valid_start = t1 - int((t1 - t0) * _VALID_FRACTION)
    fit = train & (t_ns + horizon_ns <= valid_start - horizon_ns)
    valid = train & (t_ns >= valid_start)
    return Split(fit, valid, test)


def _span(t_ns: npt.NDArray[np.int64], mask: npt.NDArray[np.bool_]) -> dict[str, Any]:
    t = t_ns[mask]
    if not len(t):
        return {"rows": 0}
    return {"rows": len(t), "start_ns": int(t[0]), "end_ns": int(t[-1])}


def _fit(
    x: npt.NDArray[np.float32],
    y: npt.NDArray[np.int64],
    xv: npt.NDArray[np.float32],
    yv: npt.NDArray[np.int64],
    cfg: TrainConfig,
    max_depth: int,
    progress: Callable[[int], None] | None,
) -> Any:
    import xgboost as xgb

    class _Progress(xgb.callback.TrainingCallback):
        def after_iteration(self, model: Any, epoch: int, evals_log: Any) -> bool:
            if progress is not None:
                progress(epoch + 1)
            return False

    params = {
        "objective": "multi:softprob",
        "num_class": len(CLASSES),
        "max_depth": max_depth,
        "eta": cfg.eta,
        "subsample": 0.8,
        "colsample_bytree": 0.8,
        "min_child_weight": 5.0,
        "eval_metric": "mlogloss",
        "nthread": 2,
        "seed": cfg.seed,
    }
    dfit = xgb.DMatrix(x, label=y)
    dvalid = xgb.DMatrix(xv, label=yv)
    booster = xgb.train(
        params,
        dfit,
        num_boost_round=cfg.rounds,
        evals=[(dvalid, "valid")],
        early_stopping_rounds=cfg.early_stopping,
        verbose_eval=False,
        callbacks=[_Progress()],
    )
    return booster[: booster.best_iteration + 1]


def predict_proba(booster: Any, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Class probabilities (rows × down, flat, up) of ``booster`` on the feature rows ``x``."""
    return np.asarray(booster.inplace_predict(x), dtype=np.float64).reshape(len(x), len(CLASSES))


def train_samples(
    samples: Samples,
    split_ns: int,
    cfg: TrainConfig,
    progress: Callable[[int], None] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """(booster, card fields) for ``samples`` split at ``split_ns``. Raises TrainError."""
    horizon_ns = int(cfg.horizon_s * _NS)
    if len(samples.t_ns) == 0:
        raise TrainError("no feature rows: the data has no two-sided book")
    move = future_move_bps(samples, horizon_ns)
    sp = split_rows(samples.t_ns, split_ns, horizon_ns, int(cfg.gap_s * _NS))
    for name, mask in (("fit", sp.fit), ("validation", sp.valid), ("test", sp.test)):
        if mask.sum() < 50:
            raise TrainError(
                f"only {int(mask.sum())} {name} rows (need 50); give more data or a shorter "
                "--horizon"
            )
    thr = cfg.threshold_bps
    if thr is None:
        thr = float(np.percentile(np.abs(move[sp.fit]), 100 / 3))
    y = labels(move, thr)
    fit_counts = np.bincount(y[sp.fit], minlength=len(CLASSES))
    if fit_counts.min() < _MIN_CLASS_ROWS:
        down, flat, up = (int(c) for c in fit_counts)
        raise TrainError(
            f"label threshold {thr:g} bps leaves {up} up, {down} down and {flat} flat rows in "
            f"the fit window (need {_MIN_CLASS_ROWS} of each); the median |move| is "
            f"{float(np.median(np.abs(move[sp.fit]))):g} bps: set --threshold-bps near it, "
            "or give more data"
        )
    x = samples.x
    booster = _fit(x[sp.fit], y[sp.fit], x[sp.valid], y[sp.valid], cfg, cfg.max_depth, progress)
    xi = x[:, [_IMBALANCE_COL]]
    imb = _fit(xi[sp.fit], y[sp.fit], xi[sp.valid], y[sp.valid], cfg, 2, None)
    yt = y[sp.test]
    prior = np.bincount(y[sp.fit], minlength=len(CLASSES)) / sp.fit.sum()
    metrics = {
        "model": score(predict_proba(booster, x[sp.test]), yt),
        "prior": score(np.tile(prior, (len(yt), 1)), yt),
        "imbalance_only": score(predict_proba(imb, xi[sp.test]), yt),
    }
    card = {
        **feature_card(),
        "classes": list(CLASSES),
        "horizon_s": cfg.horizon_s,
        "threshold_bps": thr,
        "instrument_agnostic": cfg.agnostic,
        "sample_step_ms": STEP_NS / 1e6,
        "split": {
            "split_ns": split_ns,
            "gap_s": cfg.gap_s,
            "fit": _span(samples.t_ns, sp.fit),
            "validation": _span(samples.t_ns, sp.valid),
            "test": _span(samples.t_ns, sp.test),
        },
        "class_counts": {
            "fit": np.bincount(y[sp.fit], minlength=3).tolist(),
            "test": np.bincount(yt, minlength=3).tolist(),
        },
        "params": asdict(cfg),
        "rounds": int(booster.num_boosted_rounds()),
        "metrics": metrics,
    }
    return booster, card


def feature_card() -> dict[str, Any]:
    """The card fields naming the feature columns in order, with their docs and units."""
    return {
        "features": list(FEATURE_NAMES),
        "feature_docs": dict(FEATURES),
        "feature_units": dict(FEATURE_UNITS),
    }


def _dist_version(*names: str) -> str:
    for name in names:
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return "unknown"


def _git_commit() -> str:
    """The git commit of the tradetui code running, with "-dirty" when its package files differ
    from that commit; "unknown" outside a git checkout."""
    package = Path(__file__).resolve().parents[1]

    def git(*args: str) -> subprocess.CompletedProcess[str] | None:
        try:
            return subprocess.run(
                ["git", *args], cwd=package, capture_output=True, text=True, timeout=5
            )
        except (OSError, subprocess.SubprocessError):
            return None

    head = git("rev-parse", "HEAD")
    commit = head.stdout.strip() if head is not None and head.returncode == 0 else ""
    if not commit:
        return "unknown"
    diff = git("diff", "--quiet", "HEAD", "--", ".")
    return f"{commit}-dirty" if diff is not None and diff.returncode == 1 else commit


def _versions() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "xgboost": _dist_version("xgboost", "xgboost-cpu"),
        "numpy": _dist_version("numpy"),
        "tradetui": _dist_version("tradetui"),
        "tradetui_commit": _git_commit(),
    }


def data_card(files: list[Path], instrument: Instrument) -> dict[str, Any]:
    """The card fields saying what a model was trained on: each file with its size and
    sha256, and the instrument's full spec (venue, kind, symbol, tick, lot...)."""
    data = []
    for f in files:
        digest = hashlib.sha256()
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        data.append({"path": str(f), "bytes": f.stat().st_size, "sha256": digest.hexdigest()})
    return {"data": data, "instrument": instrument.to_spec()}


def write_model(booster: Any, card: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Save ``model.json`` and ``card.json`` (with versions and sha256) in ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out_dir / (MODEL_FILE + ".tmp.json")
    booster.save_model(str(tmp))
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    tmp.replace(out_dir / MODEL_FILE)
    card = {**card, "versions": _versions(), "sha256": digest}
    tmp_card = out_dir / (CARD_FILE + ".tmp")
    tmp_card.write_text(json.dumps(card, indent=2))
    tmp_card.replace(out_dir / CARD_FILE)
    return card


def split_time(
    t_ns: npt.NDArray[np.int64], last_file_start_ns: int | None, test_fraction: float
) -> int:
    """Start of the test part (ns): the last file's first event, else a fraction of the span."""
    if last_file_start_ns is not None:
        return last_file_start_ns
    t0, t1 = int(t_ns[0]), int(t_ns[-1])
    return t1 - int((t1 - t0) * test_fraction)
