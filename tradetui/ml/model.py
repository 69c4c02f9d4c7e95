"""A trained filter model loaded for the engine: the XGBoost JSON model compiled to numpy.

A model directory holds ``model.json`` (XGBoost's JSON format) and ``card.json`` (features in
order, horizon, data, metrics, versions and the sha256 of ``model.json``). Loading checks the
hash and the feature list against this build, then flattens every tree into node arrays laid
out so a node's right child is its left child + 1; ``predict`` walks all trees at once, one
numpy step per tree level, with no per-call allocation beyond the level arrays. The compiled
trees are checked against XGBoost's own prediction on probe rows at load.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from tradetui.ml.features import FEATURE_NAMES, N_FEATURES

MODEL_FILE = "model.json"
CARD_FILE = "card.json"
_N_CLASSES = 3
_PROBE_ROWS = 64
_PROBE_TOLERANCE = 1e-4


class ModelError(Exception):
    """A model that cannot be used; the message is one line saying why."""


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True, slots=True)
class CompiledTrees:
    """All trees as flat node arrays; leaves loop to themselves so every walk has ``depth``
    steps. ``cls`` is the class each tree adds its leaf value to."""

    roots: npt.NDArray[np.intp]
    feat: npt.NDArray[np.intp]
    thr: npt.NDArray[np.float32]
    left: npt.NDArray[np.intp]
    go_right_if_nan: npt.NDArray[np.bool_]
    value: npt.NDArray[np.float64]
    cls: npt.NDArray[np.intp]
    depth: int
    base: npt.NDArray[np.float64]

    def margins(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Raw class margins for one feature vector ``x`` (shape (N_FEATURES,))."""
        # Every node's condition at once, then one gather per tree level.
        fv = x[self.feat]
        if np.isnan(x).any():
            right = np.where(np.isnan(fv), self.go_right_if_nan, fv >= self.thr)
        else:
            right = fv >= self.thr
        step = self.left + right
        cur = self.roots
        for _ in range(self.depth):
            cur = step[cur]
        return self.base + np.bincount(self.cls, weights=self.value[cur], minlength=_N_CLASSES)


def compile_trees(model_json: dict[str, Any]) -> CompiledTrees:
    """Flatten an XGBoost multi:softprob JSON model (base margins are set to 0 here)."""
    gb = model_json["learner"]["gradient_booster"]
    if gb.get("name") != "gbtree":
        raise ModelError(f"booster {gb.get('name')!r} is not a tree model")
    trees = gb["model"]["trees"]
    tree_info = gb["model"]["tree_info"]
    feat: list[int] = []
    thr: list[float] = []
    left: list[int] = []
    nan_right: list[bool] = []
    value: list[float] = []
    roots: list[int] = []
    depth = 0
    for t in trees:
        lc, rc = t["left_children"], t["right_children"]
        si, sc, dl = t["split_indices"], t["split_conditions"], t["default_left"]
        root = len(feat)
        roots.append(root)
        # Breadth-first renumbering puts each right child right after its left child.
        ids = {0: root}
        queue = [(0, 0)]
        feat.append(0)
        thr.append(0.0)
        left.append(root)
        nan_right.append(False)
        value.append(0.0)
        while queue:
            node, d = queue.pop(0)
            me = ids[node]
            if lc[node] == -1:
                # A leaf points to itself and never goes right: nothing is ≥ +inf.
                feat[me], thr[me], left[me], value[me] = 0, float("inf"), me, float(sc[node])
                depth = max(depth, d)
                continue
            base = len(feat)
            for child in (lc[node], rc[node]):
                ids[child] = len(feat)
                feat.append(0)
                thr.append(0.0)
                left.append(len(feat) - 1)
                nan_right.append(False)
                value.append(0.0)
                queue.append((child, d + 1))
            feat[me], thr[me], left[me] = int(si[node]), float(sc[node]), base
            nan_right[me] = not bool(dl[node])
    for f in feat:
        if f >= N_FEATURES:
            raise ModelError(f"a tree splits on feature {f}, beyond the {N_FEATURES} known")
    return CompiledTrees(
        roots=np.asarray(roots, dtype=np.intp),
        feat=np.asarray(feat, dtype=np.intp),
        thr=np.asarray(thr, dtype=np.float32),
        left=np.asarray(left, dtype=np.intp),
        go_right_if_nan=np.asarray(nan_right, dtype=np.bool_),
        value=np.asarray(value, dtype=np.float64),
        cls=np.asarray(tree_info, dtype=np.intp),
        depth=depth,
        base=np.zeros(_N_CLASSES),
    )


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

    def predict(self, row: npt.NDArray[np.float32]) -> tuple[float, float, float]:
        """Class probabilities (down, flat, up) for ``row`` of shape (1, N_FEATURES)."""
        a, b, c = self.trees.margins(row[0]).tolist()
        top = max(a, b, c)
        ea, eb, ec = math.exp(a - top), math.exp(b - top), math.exp(c - top)
        total = ea + eb + ec
        return ea / total, eb / total, ec / total

    def predict_xgboost(self, row: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """The same probabilities from XGBoost's in-place prediction (reference and bench)."""
        out: npt.NDArray[np.float64] = np.asarray(
            self.booster.inplace_predict(row, validate_features=False), dtype=np.float64
        )[0]
        return out


def load_model(directory: Path) -> FilterModel:
    """Load and check a model directory; raises ModelError with a one-line reason."""
    import xgboost as xgb

    model_path, card_path = directory / MODEL_FILE, directory / CARD_FILE
    for p in (model_path, card_path):
        if not p.is_file():
            raise ModelError(f"{p}: no such file (train one with `tradetui train`)")
    try:
        card = json.loads(card_path.read_text())
        model_json = json.loads(model_path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"{directory}: unreadable model or card ({exc})") from None
    if not isinstance(card, dict) or "features" not in card or "sha256" not in card:
        raise ModelError(f"{card_path}: not a model card (no features or sha256)")
    if sha256_file(model_path) != card["sha256"]:
        raise ModelError(f"{model_path}: content hash differs from the card's; retrain or recopy")
    if list(card["features"]) != list(FEATURE_NAMES):
        raise ModelError(
            f"{card_path}: model features {card['features']} differ from this build's "
            f"{list(FEATURE_NAMES)}; retrain with `tradetui train`"
        )
    try:
        booster = xgb.Booster()
        booster.load_model(str(model_path))
        trees = compile_trees(model_json)
    except (xgb.core.XGBoostError, KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{model_path}: not a usable XGBoost model ({exc})") from None
    if booster.num_features() != N_FEATURES:
        raise ModelError(
            f"{model_path}: model has {booster.num_features()} features, expected {N_FEATURES}"
        )
    _fit_base_and_check(trees, booster, model_path)
    return FilterModel(trees, card, booster)


def _fit_base_and_check(trees: CompiledTrees, booster: Any, model_path: Path) -> None:
    """Take the base margins from XGBoost itself, then check the compiled walk matches it."""
    rng = np.random.default_rng(0)
    probe = rng.normal(0.0, 3.0, size=(_PROBE_ROWS, N_FEATURES)).astype(np.float32)
    probe[::4, 2:4] = np.nan
    ref = np.asarray(booster.inplace_predict(probe, predict_type="margin"), dtype=np.float64)
    ours = np.stack([trees.margins(r) for r in probe])
    trees.base[:] = ref[0] - ours[0]
    if not np.allclose(ours + trees.base, ref, atol=_PROBE_TOLERANCE):
        raise ModelError(f"{model_path}: compiled trees disagree with XGBoost's prediction")
