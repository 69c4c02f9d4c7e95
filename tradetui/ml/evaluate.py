"""Score a saved model on recorded data it was not trained on, with confidence intervals.

The rows and labels are built exactly as in training (``sample_features`` every 100 ms, the
card's horizon and label threshold). Two honest references are scored on the same rows:

- ``prior``: the class frequencies of the model's own fit window (from its card), a constant
  forecast known before the data;
- ``recent``: the frequencies of the labels that had resolved in the last ``RECENT_S`` seconds
  before each row (a label resolves at t + horizon, so nothing from the future is used),
  shrunk towards the prior by ``RECENT_PRIOR_ROWS`` pseudo-rows. It needs no fitting and
  captures label persistence (trends, volatility regimes), the cheapest thing a model must beat.

Each score (log loss, one-vs-rest AUC of up and down, calibration gap ECE of up and down) and
the log-loss gain of the model over each reference (paired, row by row) gets a moving-block
bootstrap interval (``metrics.mean_interval`` / ``metrics.resampled``) with blocks of at least
one label horizon, longer when the gain series stays autocorrelated (``metrics.block_rows``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tradetui.ml.dataset import CLASSES, DOWN, STEP_NS, UP, Samples, future_move_bps, labels
from tradetui.ml.metrics import (
    LEVEL,
    N_BOOT,
    Interval,
    auc,
    block_rows,
    calibration,
    mean_interval,
    resampled,
    row_log_loss,
)

RECENT_S = 60.0
RECENT_PRIOR_ROWS = 50.0
_NS = 1_000_000_000


class EvaluationError(Exception):
    """The data cannot be scored with this model; the message says why in one line."""


@dataclass(frozen=True, slots=True)
class Rows:
    """Labelled rows to score: model probabilities, labels, times (ns)."""

    p: npt.NDArray[np.float64]
    y: npt.NDArray[np.int64]
    t_ns: npt.NDArray[np.int64]


def card_prior(card: dict[str, Any]) -> tuple[npt.NDArray[np.float64], str]:
    """The fit window's class frequencies from the card, or uniform when it has none."""
    counts = card.get("class_counts", {}).get("fit")
    if isinstance(counts, list) and len(counts) == len(CLASSES) and sum(counts) > 0:
        c = np.asarray(counts, dtype=np.float64)
        return c / c.sum(), "fit-window class frequencies from the card"
    return np.full(len(CLASSES), 1.0 / len(CLASSES)), "uniform (the card has no class counts)"


def labelled_rows(
    samples: Samples, p: npt.NDArray[np.float64], horizon_s: float, threshold_bps: float
) -> Rows:
    """The rows whose label horizon ends inside the data, with their labels."""
    move = future_move_bps(samples, int(horizon_s * _NS))
    keep = ~np.isnan(move)
    return Rows(p[keep], labels(move[keep], threshold_bps), samples.t_ns[keep])


def recent_frequencies(
    y: npt.NDArray[np.int64],
    t_ns: npt.NDArray[np.int64],
    horizon_ns: int,
    prior: npt.NDArray[np.float64],
    window_ns: int = int(RECENT_S * _NS),
    prior_rows: float = RECENT_PRIOR_ROWS,
) -> npt.NDArray[np.float64]:
    """Per row i: frequencies of the labels resolved in (t_i − window, t_i] (row j resolves at
    t_j + horizon), with ``prior_rows`` pseudo-rows of ``prior``. Rows in time order."""
    onehot = np.zeros((len(y) + 1, len(CLASSES)))
    onehot[np.arange(1, len(y) + 1), y] = 1.0
    cum = np.cumsum(onehot, axis=0)
    resolved = t_ns + horizon_ns
    hi = np.searchsorted(resolved, t_ns, side="right")
    lo = np.searchsorted(resolved, t_ns - window_ns, side="right")
    counts = cum[hi] - cum[lo]
    out: npt.NDArray[np.float64] = (counts + prior_rows * prior) / (
        counts.sum(axis=1, keepdims=True) + prior_rows
    )
    return out


def _ece(p: npt.NDArray[np.float64], hit: npt.NDArray[np.bool_]) -> float:
    return float(calibration(p, hit)["ece"])


def _scores(
    p: npt.NDArray[np.float64], y: npt.NDArray[np.int64], block: int, n_boot: int, seed: int
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "log_loss": mean_interval(row_log_loss(p, y), block, n_boot=n_boot, seed=seed),
        "auc": {},
        "ece": {},
        "calibration": {},
    }
    for k in (UP, DOWN):
        name = CLASSES[k]
        hit = y == k
        out["auc"][name] = resampled(auc, (p[:, k], hit), block, n_boot=n_boot, seed=seed)
        out["ece"][name] = resampled(_ece, (p[:, k], hit), block, n_boot=n_boot, seed=seed)
        out["calibration"][name] = calibration(p[:, k], hit)
    return out


def _verdict(gain: Interval, name: str) -> str:
    if gain.low > 0:
        return f"beats the {name}"
    if gain.high < 0:
        return f"is worse than the {name}"
    return f"is not distinguishable from the {name}"


def evaluate_rows(
    rows: Rows,
    horizon_s: float,
    prior: npt.NDArray[np.float64],
    *,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> dict[str, Any]:
    """Scores of the model, the prior and the recent-label baseline on ``rows``, the model's
    log-loss gain over each (nats per row; > 0 = the model is better), all with intervals."""
    y, t = rows.y, rows.t_ns
    n = len(y)
    horizon_rows = max(1, round(horizon_s * _NS / STEP_NS))
    if n < 4 * horizon_rows:
        raise EvaluationError(
            f"only {n} labelled rows ({n * STEP_NS / _NS:.0f} s); an interval needs at least four "
            f"label horizons ({4 * horizon_s:g} s) of data"
        )
    refs = {
        "prior": np.tile(prior, (n, 1)),
        "recent": recent_frequencies(y, t, int(horizon_s * _NS), prior),
    }
    ll_model = row_log_loss(rows.p, y)
    gains = {name: row_log_loss(p, y) - ll_model for name, p in refs.items()}
    block = max(block_rows(g, horizon_rows) for g in gains.values())
    scores = {"model": _scores(rows.p, y, block, n_boot, seed)}
    for name, p in refs.items():
        scores[name] = _scores(p, y, block, n_boot, seed)
    gain = {name: mean_interval(g, block, n_boot=n_boot, seed=seed) for name, g in gains.items()}
    return {
        "rows": n,
        "span_s": round(float(t[-1] - t[0]) / _NS, 1),
        "class_counts": np.bincount(y, minlength=len(CLASSES)).tolist(),
        "bootstrap": {
            "method": "moving block",
            "block_rows": block,
            "block_s": block * STEP_NS / _NS,
            "independent_blocks": n // block,
            "resamples": n_boot,
            "level": LEVEL,
            "seed": seed,
        },
        "scores": scores,
        "gain": gain,
        "verdict": "; ".join(
            f"the model {_verdict(gain[name], label)}"
            for name, label in (("prior", "class prior"), ("recent", "recent-label baseline"))
        ),
    }


def to_json(value: Any) -> Any:
    """``value`` with every Interval as {estimate, low, high} (None stays None)."""
    if isinstance(value, Interval):
        return value.to_dict()
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    return value
