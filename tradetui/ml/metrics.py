"""Held-out scores for 3-class probabilities (log loss, one-vs-rest AUC, calibration bins) and
the block bootstrap that puts a confidence interval on them."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tradetui.ml.dataset import CLASSES

_EPS = 1e-12


def row_log_loss(p: npt.NDArray[np.float64], y: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Negative log likelihood of the true class, per row (nats)."""
    return -np.log(np.clip(p[np.arange(len(y)), y], _EPS, 1.0))


def log_loss(p: npt.NDArray[np.float64], y: npt.NDArray[np.int64]) -> float:
    """Mean negative log likelihood of the true class (nats)."""
    return float(np.mean(row_log_loss(p, y)))


def auc(score: npt.NDArray[np.float64], positive: npt.NDArray[np.bool_]) -> float | None:
    """Area under the ROC curve by ranks (ties averaged); None when one class is absent."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score), dtype=np.float64)
    sorted_scores = score[order]
    # Average ranks over ties so a constant score gets exactly 0.5.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def calibration(
    p: npt.NDArray[np.float64], hit: npt.NDArray[np.bool_], bins: int = 5
) -> dict[str, Any]:
    """Predicted vs observed frequency in equal-count bins, and the weighted mean gap (ECE)."""
    order = np.argsort(p, kind="mergesort")
    rows = []
    ece = 0.0
    for chunk in np.array_split(order, bins):
        if len(chunk) == 0:
            continue
        pred, obs = float(p[chunk].mean()), float(hit[chunk].mean())
        rows.append({"n": len(chunk), "predicted": round(pred, 4), "observed": round(obs, 4)})
        ece += len(chunk) * abs(pred - obs)
    return {"bins": rows, "ece": round(ece / max(len(p), 1), 4)}


def score(p: npt.NDArray[np.float64], y: npt.NDArray[np.int64]) -> dict[str, Any]:
    """Log loss, AUC per class (one-vs-rest) and calibration of each class probability."""
    out: dict[str, Any] = {"log_loss": round(log_loss(p, y), 5), "auc": {}, "calibration": {}}
    for k, name in enumerate(CLASSES):
        a = auc(p[:, k], y == k)
        out["auc"][name] = None if a is None else round(a, 4)
        out["calibration"][name] = calibration(p[:, k], y == k)
    return out


# Block bootstrap: confidence intervals for statistics of rows that are not independent.
#
# Rows taken every 100 ms with a 5 s label horizon overlap: neighbouring labels share most of
# their future, so resampling rows one by one would make intervals far too narrow. The moving
# block bootstrap (Künsch 1989) resamples runs of ``block`` consecutive rows instead, keeping
# the dependence inside a block. ``block_rows`` sizes the blocks to at least the label horizon
# and to the lag where the series' own autocorrelation has died out.

N_BOOT = 1000
LEVEL = 0.95
# Resampled rows drawn per vectorised batch of a resampling statistic (memory bound).
_BATCH_CELLS = 4_000_000


@dataclass(frozen=True, slots=True)
class Interval:
    """A point estimate with its bootstrap interval (``level``, percentile method)."""

    estimate: float
    low: float
    high: float

    def to_dict(self, digits: int = 5) -> dict[str, float | None]:
        """JSON-ready; an undefined bound (no resample could compute it) is None."""
        return {
            k: None if math.isnan(v) else round(v, digits)
            for k, v in (("estimate", self.estimate), ("low", self.low), ("high", self.high))
        }

    def text(self, fmt: str = ".4f") -> str:
        return f"{self.estimate:{fmt}} [{self.low:{fmt}}, {self.high:{fmt}}]"


def block_rows(series: npt.NDArray[np.float64], min_rows: int = 1) -> int:
    """Block length for ``series``: at least ``min_rows`` (e.g. the label horizon in rows)
    and at least twice the first lag whose sample autocorrelation falls inside the ±2/√n band
    of noise; at most a quarter of the series (so a resample still mixes four blocks).

    Twice, because a block only carries the correlation between rows inside it: blocks just
    as long as the correlation understate the variance of the mean (on AR(1) series with
    φ = 0.8, 95 % intervals missed the true mean 6 times in 40 at 2× and more often at 1×;
    see tests/ml/test_evaluate.py)."""
    n = len(series)
    cap = max(1, n // 4)
    if n < 8:
        return max(1, min(min_rows, cap))
    x = series - series.mean()
    var = float(x @ x)
    lag = 1
    if var > 0:
        # Autocorrelation of every lag at once through the FFT (zero-padded: no wrap-around).
        f = np.fft.rfft(x, 2 * n)
        acf = np.fft.irfft(f * np.conj(f))[:n] / var
        inside = np.flatnonzero(np.abs(acf[1:cap]) < 2.0 / np.sqrt(n))
        lag = int(inside[0]) + 1 if len(inside) else cap
    return int(min(max(min_rows, 2 * lag), cap))


def _starts(n: int, block: int, n_boot: int, seed: int) -> npt.NDArray[np.int64]:
    """Random block starts, one row of ``ceil(n / block)`` blocks per resample."""
    block = max(1, min(block, n))
    n_blocks = -(-n // block)
    rng = np.random.default_rng(seed)
    return rng.integers(0, n - block + 1, size=(n_boot, n_blocks))


def mean_interval(
    values: npt.NDArray[np.float64],
    block: int,
    *,
    n_boot: int = N_BOOT,
    seed: int = 0,
    level: float = LEVEL,
) -> Interval:
    """Mean of ``values`` with its moving-block bootstrap interval. Each resample is the mean
    of ``ceil(n / block)`` blocks, read from prefix sums: no row is copied."""
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    block = max(1, min(block, n))
    csum = np.concatenate(([0.0], np.cumsum(v)))
    sums = csum[block:] - csum[:-block]  # sum of the block starting at each row
    starts = _starts(n, block, n_boot, seed)
    means = sums[starts].sum(axis=1) / (starts.shape[1] * block)
    return _interval(float(v.mean()), means, level)


def resampled(
    stat: Callable[..., float | None],
    arrays: Sequence[npt.NDArray[Any]],
    block: int,
    *,
    n_boot: int = N_BOOT,
    seed: int = 0,
    level: float = LEVEL,
) -> Interval | None:
    """``stat(*arrays)`` with its moving-block bootstrap interval, for statistics that are not
    means (AUC, calibration gap). Each resample's rows are gathered with one fancy index per
    batch; a resample where ``stat`` is undefined (None, e.g. one class absent) is skipped.
    None when ``stat`` is undefined on the data itself."""
    point = stat(*arrays)
    if point is None:
        return None
    n = len(arrays[0])
    block = max(1, min(block, n))
    starts = _starts(n, block, n_boot, seed)
    offsets = np.arange(block)
    got: list[float] = []
    per_batch = max(1, _BATCH_CELLS // max(n, 1))
    for b in range(0, n_boot, per_batch):
        idx = (starts[b : b + per_batch, :, None] + offsets).reshape(
            len(starts[b : b + per_batch]), -1
        )
        idx = idx[:, :n]
        for row in idx:
            v = stat(*(a[row] for a in arrays))
            if v is not None:
                got.append(v)
    if not got:
        return Interval(point, float("nan"), float("nan"))
    return _interval(point, np.asarray(got), level)


def _interval(point: float, draws: npt.NDArray[np.float64], level: float) -> Interval:
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(draws, [tail, 100.0 - tail])
    return Interval(point, float(low), float(high))
