"""A trained filter model loaded for the engine: the XGBoost JSON model compiled to Python.

A model directory holds ``model.json`` (XGBoost's JSON format) and ``card.json`` (features in
order, horizon, data, metrics, versions and the sha256 of ``model.json``). Loading checks the
hash, the feature list and the card fields the engine reads, parses ``model.json`` and checks
its trees in Python (only JSON text with well-formed trees reaches XGBoost's native loader,
which crashes on some malformed input), then generates one Python function holding every
tree as nested comparisons (``compile_trees``); ``predict`` calls it
and takes the softmax, with no numpy call per decision. The compiled trees are checked
against XGBoost's own prediction on probe rows at load.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tradetui.core.instrument import Instrument
from tradetui.ml.features import FEATURE_NAMES, INSTRUMENT_FREE_UNITS, N_FEATURES

MODEL_FILE = "model.json"
CARD_FILE = "card.json"
_N_CLASSES = 3
_PROBE_ROWS = 64
_PROBE_TOLERANCE = 1e-4
# Pause before re-reading a model whose hash did not match its card (a swap in progress), s.
_SWAP_PAUSE_S = 0.05


class ModelError(Exception):
    """A model that cannot be used; the message is one line saying why."""


_MAX_DEPTH = 48  # nested ``if`` levels the generated source may hold (Python allows ~100)

Margins = Callable[[Sequence[float]], tuple[float, float, float]]


@dataclass(frozen=True, slots=True)
class CompiledTrees:
    """All trees as one generated Python function of the feature row.

    ``fn(row)`` returns the three raw class margins without the base margins (``base``, taken
    from XGBoost at load). Each split reads one float32 feature as a Python float and compares
    it with the float32 threshold, going left when ``x < threshold`` like XGBoost; a missing
    value (NaN) takes the split's default direction, which the generated comparison encodes
    (``x < t`` is False for NaN; ``not x >= t`` is True for NaN).
    """

    fn: Margins
    n_trees: int
    n_nodes: int
    depth: int
    base: list[float]

    def margins(self, x: Sequence[float]) -> tuple[float, float, float]:
        """Raw class margins (down, flat, up) for one feature row ``x``."""
        a, b, c = self.fn(x)
        base = self.base
        return a + base[0], b + base[1], c + base[2]


def compile_trees(model_json: dict[str, Any]) -> CompiledTrees:
    """Generate and compile the margin function of an XGBoost multi:softprob JSON model."""
    gb = model_json["learner"]["gradient_booster"]
    if gb.get("name") != "gbtree":
        raise ModelError(f"booster {gb.get('name')!r} is not a tree model")
    trees = gb["model"]["trees"]
    tree_info = [int(k) for k in gb["model"]["tree_info"]]
    if len(tree_info) != len(trees) or any(not 0 <= k < _N_CLASSES for k in tree_info):
        raise ModelError(f"tree_info does not map {len(trees)} trees to {_N_CLASSES} classes")
    # Features unpacked into locals once: each split is then a local load and a compare.
    names = ", ".join(f"x{i}" for i in range(N_FEATURES))
    lines = ["def margins(x):", f"    {names}, = x", "    m0 = m1 = m2 = 0.0"]
    nodes = 0
    depth = 0
    for i, (t, k) in enumerate(zip(trees, tree_info, strict=True)):
        lc, rc = t["left_children"], t["right_children"]
        si, sc, dl = t["split_indices"], t["split_conditions"], t["default_left"]
        n = len(lc)
        if not n or any(not isinstance(a, list) or len(a) != n for a in (lc, rc, si, sc, dl)):
            raise ModelError(f"tree {i}: node arrays missing or of unequal lengths")
        # XGBoost numbers children after their parent: this also rules out cycles.
        if any(c != -1 and not node < c < n for node in range(n) for c in (lc[node], rc[node])):
            raise ModelError(f"tree {i}: a child index outside the tree")
        nodes += n
        # Depth-first emission with an explicit stack: (node, indent, prefix line or None).
        stack: list[tuple[int, int, str | None]] = [(0, 1, None)]
        while stack:
            node, level, before = stack.pop()
            pad = "    " * level
            if before is not None:
                lines.append("    " * (level - 1) + before)
            if level > _MAX_DEPTH:
                raise ModelError(f"a tree is deeper than {_MAX_DEPTH} levels")
            depth = max(depth, level - 1)
            if lc[node] == -1:
                lines.append(f"{pad}m{k} += {float(sc[node])!r}")
                continue
            f = int(si[node])
            if not 0 <= f < N_FEATURES:
                raise ModelError(f"a tree splits on feature {f}, beyond the {N_FEATURES} known")
            thr = float(np.float32(sc[node]))
            cond = f"not x{f} >= {thr!r}" if dl[node] else f"x{f} < {thr!r}"
            lines.append(f"{pad}if {cond}:")
            # Right subtree after the left one: pushed first, emitted under an "else:".
            stack.append((int(rc[node]), level + 1, "else:"))
            stack.append((int(lc[node]), level + 1, None))
    lines.append("    return m0, m1, m2")
    # repr() writes infinities and NaN as names; give the generated code those names.
    namespace: dict[str, Any] = {"inf": math.inf, "nan": math.nan}
    exec(compile("\n".join(lines), "<xgboost trees>", "exec"), namespace)
    return CompiledTrees(namespace["margins"], len(trees), nodes, depth, [0.0] * _N_CLASSES)


class FilterModel:
    """The loaded model: ``predict(row)`` → (p_down, p_flat, p_up) from a float32 row."""

    def __init__(self, trees: CompiledTrees, card: dict[str, Any], booster: Any) -> None:
        self.trees = trees
        self.card = card
        self.booster = booster

    @property
    def horizon_s(self) -> float:
        return float(self.card["horizon_s"])

    @property
    def sha256(self) -> str:
        """sha256 of ``model.json`` as recorded in the card (checked at load)."""
        return str(self.card.get("sha256", ""))

    def predict(self, row: Sequence[float]) -> tuple[float, float, float]:
        """Class probabilities (down, flat, up) for one feature row (``features.new_row``)."""
        a, b, c = self.trees.fn(row)
        base = self.trees.base
        a += base[0]
        b += base[1]
        c += base[2]
        top = a if a > b else b
        if c > top:
            top = c
        ea, eb, ec = math.exp(a - top), math.exp(b - top), math.exp(c - top)
        total = ea + eb + ec
        return ea / total, eb / total, ec / total

    def predict_xgboost(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """The same probabilities from XGBoost's in-place prediction on a (1, N_FEATURES)
        float32 array (``features.row_array``; reference and bench)."""
        out: npt.NDArray[np.float64] = np.asarray(
            self.booster.inplace_predict(x, validate_features=False), dtype=np.float64
        )[0]
        return out


def _first_line(exc: Exception) -> str:
    """The first line of an error (XGBoost's carry a native backtrace after it, and a
    ``[12:00:00] src/file.cc:12:`` prefix before it, both dropped)."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return _XGB_PREFIX.sub("", line) or type(exc).__name__


# Control bytes other than tab, newline and carriage return: not JSON text.
_BINARY = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_XGB_PREFIX = re.compile(r"^\[\d\d:\d\d:\d\d\] \S+:\d+: ")
_RETRAIN = "retrain with `tradetui train` or recopy the model directory"


def _parse_model(raw: bytes, model_path: Path) -> dict[str, Any]:
    """``model.json`` as JSON, checked in Python before XGBoost's native loader sees it: that
    loader aborts the process on an empty buffer and crashes or spins on cut-short binary
    (UBJSON) models, so only JSON text reaches it."""
    if not raw.strip():
        raise ModelError(f"{model_path}: empty; {_RETRAIN}")
    if _BINARY.search(raw):
        raise ModelError(
            f"{model_path}: binary, not XGBoost's JSON format (a UBJSON or pickled model?); "
            f"save it with booster.save_model('model.json'), or {_RETRAIN}"
        )
    try:
        model = json.loads(raw)
    except ValueError as exc:
        raise ModelError(f"{model_path}: not valid JSON ({_first_line(exc)}); {_RETRAIN}") from None
    if not isinstance(model, dict):
        raise ModelError(f"{model_path}: not an XGBoost model (a JSON object); {_RETRAIN}")
    return model


def _read_pair(directory: Path) -> tuple[dict[str, Any], bytes]:
    """The card and the model bytes it describes (their sha256 checked).

    The retrainer replaces ``model.json`` and then ``card.json``; a read that falls between
    the two renames sees a hash mismatch, so a mismatch is read once more after a short pause
    before it counts as an error."""
    model_path, card_path = directory / MODEL_FILE, directory / CARD_FILE
    for attempt in range(2):
        try:
            card_bytes = card_path.read_bytes()
            raw = model_path.read_bytes()
        except OSError as exc:
            raise ModelError(
                f"{directory}: unreadable model or card ({_first_line(exc)})"
            ) from None
        try:
            card = json.loads(card_bytes)
        except ValueError as exc:
            raise ModelError(
                f"{card_path}: not valid JSON ({_first_line(exc)}); retrain or recopy"
            ) from None
        if not isinstance(card, dict) or "features" not in card or "sha256" not in card:
            raise ModelError(f"{card_path}: not a model card (no features or sha256)")
        if hashlib.sha256(raw).hexdigest() == card["sha256"]:
            return card, raw
        if attempt == 0:
            time.sleep(_SWAP_PAUSE_S)
    raise ModelError(f"{model_path}: content hash differs from the card's; retrain or recopy")


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _check_card(card: dict[str, Any], card_path: Path) -> None:
    """The card fields the engine reads: features, horizon_s, threshold_bps."""
    features = card["features"]
    if not isinstance(features, list) or features != list(FEATURE_NAMES):
        theirs = set(features) if isinstance(features, list) else set()
        if "spread_ticks" in theirs:
            detail = "an older tradetui's, in ticks and lots, not bps of mid and touch sizes"
        else:
            missing = [n for n in FEATURE_NAMES if n not in theirs]
            detail = f"missing {', '.join(missing)}" if missing else "in another order"
        raise ModelError(
            f"{card_path}: model features differ from this build's ({detail}); "
            "retrain with `tradetui train`"
        )
    if "horizon_s" not in card:
        raise ModelError(f"{card_path}: horizon_s: missing; retrain with `tradetui train`")
    horizon = card["horizon_s"]
    if not _is_number(horizon) or horizon <= 0:
        raise ModelError(
            f"{card_path}: horizon_s: expected a number of seconds > 0 (got {horizon!r}); "
            "retrain with `tradetui train`"
        )
    if "threshold_bps" not in card:
        raise ModelError(f"{card_path}: threshold_bps: missing; retrain with `tradetui train`")
    threshold = card["threshold_bps"]
    if not _is_number(threshold) or threshold < 0:
        raise ModelError(
            f"{card_path}: threshold_bps: expected a number >= 0 (got {threshold!r}); "
            "retrain with `tradetui train`"
        )


# What names a model's instrument: another venue, kind, symbol or grid is another market.
_INSTRUMENT_FIELDS = (
    "venue",
    "kind",
    "symbol",
    "tick_size",
    "lot_size",
    "contract_size",
    "inverse",
)


def instrument_problem(card: dict[str, Any], instrument: Instrument) -> str:
    """Why a model with ``card`` must not filter quotes on ``instrument``; '' when it may.

    A model learned one market's behaviour, so it serves only the instrument it was trained
    on (its card's spec, from ``tradetui train``) unless it was trained as instrument-agnostic
    (``tradetui train --agnostic``: ``"instrument_agnostic": true``). That claim holds only
    for a card whose every feature is in units that carry across instruments
    (``feature_units``, each in features.INSTRUMENT_FREE_UNITS): a hand-set flag on a card
    without them, or with a feature in ticks or lots, serves only the instrument trained on."""
    unfit = ""
    if card.get("instrument_agnostic") is True:
        unfit = _agnostic_problem(card)
        if not unfit:
            return ""
    spec = card.get("instrument")
    if not isinstance(spec, dict) or "tick_size" not in spec:
        return unfit or (
            "card.json: instrument: not recorded (a model from an older tradetui); retrain with "
            "`tradetui train` on this instrument's recordings"
        )
    try:
        trained = Instrument.from_spec(spec)
    except ValueError as exc:
        return f"card.json: {exc}; retrain with `tradetui train`"
    differ = [f for f in _INSTRUMENT_FIELDS if getattr(trained, f) != getattr(instrument, f)]
    if not differ:
        return ""
    return unfit or (
        f"trained for {_describe(trained)}, this session trades {_describe(instrument)} "
        f"({', '.join(differ)} {'differs' if len(differ) == 1 else 'differ'}); retrain on "
        "this instrument's recordings (`tradetui train`), or use a model trained with "
        "`tradetui train --agnostic`"
    )


def _agnostic_problem(card: dict[str, Any]) -> str:
    """Why a card flagged instrument-agnostic may not serve other instruments; '' when it may."""
    units = card.get("feature_units")
    if not isinstance(units, dict) or set(units) != set(FEATURE_NAMES):
        return (
            "card.json: instrument_agnostic without the units of its features (a model from an "
            "older tradetui, or a hand-edited card); retrain with `tradetui train --agnostic`"
        )
    tied = sorted(n for n, u in units.items() if u not in INSTRUMENT_FREE_UNITS)
    if not tied:
        return ""
    return (
        f"card.json: instrument_agnostic, but {', '.join(tied)} "
        f"{'is' if len(tied) == 1 else 'are'} in the training instrument's units; retrain "
        "with `tradetui train --agnostic`"
    )


def _describe(inst: Instrument) -> str:
    name = " ".join(filter(None, (inst.venue, inst.kind.value, inst.symbol)))
    return f"{name} (tick {inst.tick_size}, lot {inst.lot_size})"


def load_model(directory: Path) -> FilterModel:
    """Load and check a model directory; raises ModelError with a one-line reason."""
    import xgboost as xgb

    model_path, card_path = directory / MODEL_FILE, directory / CARD_FILE
    for p in (model_path, card_path):
        if not p.is_file():
            raise ModelError(f"{p}: no such file (train one with `tradetui train`)")
    card, raw = _read_pair(directory)
    _check_card(card, card_path)
    model_json = _parse_model(raw, model_path)
    try:
        trees = compile_trees(model_json)
        booster = xgb.Booster()
        booster.load_model(bytearray(raw))  # the bytes that were hashed, not a re-read
        # One thread: OpenMP workers spin after each call and would take the engine's core.
        booster.set_param({"nthread": 1})
    except (
        xgb.core.XGBoostError,
        ModelError,
        AttributeError,
        LookupError,
        TypeError,
        ValueError,
    ) as exc:
        raise ModelError(f"{model_path}: not a usable XGBoost model ({_first_line(exc)})") from None
    if booster.num_features() != N_FEATURES:
        raise ModelError(
            f"{model_path}: model has {booster.num_features()} features, expected {N_FEATURES}"
        )
    _fit_base_and_check(trees, booster, model_path)
    return FilterModel(trees, card, booster)


def _fit_base_and_check(trees: CompiledTrees, booster: Any, model_path: Path) -> None:
    """Take the base margins from XGBoost itself, then check the compiled code matches it."""
    rng = np.random.default_rng(0)
    probe = rng.normal(0.0, 3.0, size=(_PROBE_ROWS, N_FEATURES)).astype(np.float32)
    probe[::4, 2:4] = np.nan
    ref = np.asarray(booster.inplace_predict(probe, predict_type="margin"), dtype=np.float64)
    ours = np.array([trees.fn(r.tolist()) for r in probe])
    trees.base[:] = (ref[0] - ours[0]).tolist()
    if not np.allclose(ours + np.asarray(trees.base), ref, atol=_PROBE_TOLERANCE):
        raise ModelError(f"{model_path}: compiled trees disagree with XGBoost's prediction")
