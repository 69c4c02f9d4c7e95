"""Retraining: a candidate replaces the current model only when it wins on the latest data.

``retrain(files, model_dir)`` trains a candidate on ``files`` exactly as ``tradetui train``
does (walk-forward; the test window is the last file, or the last 30 % of one file) and scores
both the candidate and the model now in ``model_dir`` on that most recent held-out window with
the same labels (the current model's horizon and threshold are kept, so both predict the same
thing) and the same metric as train's report, log loss. The candidate is promoted only when its gain
(current minus candidate log loss, paired row by row) is larger than its uncertainty: the
lower end of the gain's 95 % moving-block bootstrap interval (``metrics.mean_interval``,
blocks of at least one label horizon) must exceed ``min_gain`` (default 0). A point estimate
that is better by noise does not replace a working model. With no usable current model the
candidate is written whatever its score (the filter is off until a user turns it on).

Promotion is safe for a running engine: the candidate is written to a temporary directory next
to ``model_dir`` and loaded back through ``load_model`` (hash, features, compiled trees against
XGBoost) before anything is replaced — a candidate that fails that check never touches the
current files. ``model.json`` and ``card.json`` are then each moved into place with
``os.replace`` (atomic on one filesystem). The card holds the sha256 of ``model.json``, so a
reader that lands between the two renames sees a hash mismatch and keeps its current model;
the engine's reloader tries again when the files change next (see ``ml/reload.py``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tradetui.core.instrument import Instrument
from tradetui.ml.dataset import STEP_NS, Samples, future_move_bps, labels, sample_features
from tradetui.ml.metrics import Interval, block_rows, mean_interval, row_log_loss
from tradetui.ml.model import CARD_FILE, MODEL_FILE, FilterModel, ModelError, load_model
from tradetui.ml.train import (
    TrainConfig,
    TrainError,
    data_card,
    predict_proba,
    split_rows,
    split_time,
    train_samples,
)
from tradetui.ml.train import write_model as _write_model

log = logging.getLogger(__name__)

_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class RetrainResult:
    """What one retrain did. Log losses in nats on the held-out window (None = no model);
    ``gain``: current minus candidate log loss per row with its interval (None = no model)."""

    promoted: bool
    reason: str
    candidate_log_loss: float | None
    current_log_loss: float | None
    test_rows: int
    sha256: str
    gain: Interval | None = None

    def line(self) -> str:
        """One log line: the verdict, both scores, the gain's interval and why."""
        cur = "none" if self.current_log_loss is None else f"{self.current_log_loss:.4f}"
        cand = "none" if self.candidate_log_loss is None else f"{self.candidate_log_loss:.4f}"
        verdict = "promoted" if self.promoted else "kept current"
        gain = "" if self.gain is None else f", gain {self.gain.text()} (95 %)"
        return (
            f"retrain: {verdict}; held-out log loss candidate {cand} vs current {cur}{gain} "
            f"over {self.test_rows} rows; {self.reason}"
        )


def _current(model_dir: Path) -> tuple[FilterModel | None, str]:
    if not (model_dir / MODEL_FILE).exists() and not (model_dir / CARD_FILE).exists():
        return None, "no current model"
    try:
        return load_model(model_dir), ""
    except ModelError as exc:
        return None, f"current model unusable ({exc})"


def retrain(
    events: list[Any],
    last_file_start_ns: int | None,
    model_dir: Path,
    cfg: TrainConfig,
    **kw: Any,
) -> RetrainResult:
    """Replay ``events`` into feature rows and run ``retrain_samples`` on them; the test
    window starts at ``last_file_start_ns`` (else the last ``cfg.test_fraction`` of time)."""
    samples = sample_features(events)
    if not len(samples.t_ns):
        raise TrainError("no feature rows: the data has no two-sided book")
    split_ns = split_time(samples.t_ns, last_file_start_ns, cfg.test_fraction)
    return retrain_samples(samples, split_ns, model_dir, cfg, **kw)


def retrain_samples(
    samples: Samples,
    split_ns: int,
    model_dir: Path,
    cfg: TrainConfig,
    *,
    data: list[Path] | None = None,
    instrument: Instrument | None = None,
    min_gain: float = 0.0,
    write_model: Callable[[Any, dict[str, Any], Path], dict[str, Any]] = _write_model,
) -> RetrainResult:
    """Train a candidate on ``samples`` (test window from ``split_ns``), compare it with the
    model in ``model_dir`` on that window, promote it if better. Raises TrainError when no
    candidate can be trained (too little data)."""
    current, why_none = _current(model_dir)
    if current is not None:
        # Like-for-like: the candidate predicts the same move over the same horizon.
        thr = current.card.get("threshold_bps")
        cfg = replace(
            cfg,
            horizon_s=current.horizon_s,
            threshold_bps=float(thr) if thr is not None else cfg.threshold_bps,
        )
    booster, card = train_samples(samples, split_ns, cfg)
    horizon_ns = int(cfg.horizon_s * _NS)
    test = split_rows(samples.t_ns, split_ns, horizon_ns, int(cfg.gap_s * _NS)).test
    n_test = int(test.sum())
    y = labels(future_move_bps(samples, horizon_ns), float(card["threshold_bps"]))[test]
    x = samples.x[test]
    # Both on the same rows and labels, unrounded (the card's metrics are rounded).
    cand_rows = row_log_loss(predict_proba(booster, x), y)
    cand_ll = float(cand_rows.mean())
    cur_ll: float | None = None
    gain: Interval | None = None
    if current is not None:
        cur_rows = row_log_loss(predict_proba(current.booster, x), y)
        cur_ll = float(cur_rows.mean())
        diff = cur_rows - cand_rows
        horizon_rows = max(1, horizon_ns // STEP_NS)
        gain = mean_interval(diff, block_rows(diff, horizon_rows), seed=cfg.seed)
        if not gain.low > min_gain:
            return RetrainResult(
                False,
                f"the candidate's gain interval does not lie above {min_gain:g} (worse, or "
                "better only within its uncertainty)",
                cand_ll,
                cur_ll,
                n_test,
                str(current.card["sha256"]),
                gain,
            )
    card["retrain"] = {
        "previous_sha256": None if current is None else current.card["sha256"],
        "previous_log_loss": cur_ll,
        "candidate_log_loss": cand_ll,
        "gain": None if gain is None else gain.to_dict(),
    }
    if instrument is not None:
        card |= data_card(data or [], instrument)
    reason = why_none or "the candidate's gain interval lies above 0"
    try:
        sha = promote(booster, card, model_dir, write_model)
    except ModelError as exc:
        return RetrainResult(
            False, f"candidate rejected: {exc}", cand_ll, cur_ll, n_test, _sha(current), gain
        )
    return RetrainResult(True, reason, cand_ll, cur_ll, n_test, sha, gain)


def _sha(model: FilterModel | None) -> str:
    return "" if model is None else str(model.card["sha256"])


@contextmanager
def _signals_held() -> Iterator[None]:
    """Defer SIGINT and SIGTERM for this thread while the block runs."""
    held = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def promote(
    booster: Any,
    card: dict[str, Any],
    model_dir: Path,
    write_model: Callable[[Any, dict[str, Any], Path], dict[str, Any]] = _write_model,
) -> str:
    """Write the candidate beside ``model_dir``, verify it loads, then move it into place.

    Returns the new model's sha256. Raises ModelError (nothing replaced) when the written
    candidate does not load."""
    model_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".candidate-", dir=model_dir))
    try:
        write_model(booster, card, staging)
        load_model(staging)  # hash, features, compiled trees vs XGBoost: or ModelError
        written = (staging / CARD_FILE).read_bytes()
        # Ctrl+C or SIGTERM must not land between the two renames (they wait until both are
        # done); only a hard kill can leave the new model beside the old card, which the next
        # cycle then replaces as an unusable model.
        with _signals_held():
            os.replace(staging / MODEL_FILE, model_dir / MODEL_FILE)
            os.replace(staging / CARD_FILE, model_dir / CARD_FILE)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return str(json.loads(written)["sha256"])
