"""Held-out scores for 3-class probabilities: log loss, one-vs-rest AUC, calibration bins."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from tradetui.ml.dataset import CLASSES

_EPS = 1e-12


def log_loss(p: npt.NDArray[np.float64], y: npt.NDArray[np.int64]) -> float:
    """Mean negative log likelihood of the true class (nats)."""
    return float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], _EPS, 1.0))))


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
