"""Model files that XGBoost's native loader cannot take safely, through the real command line:
each is one `error: ml.model: ...` line and exit 2, never a crash, hang or traceback (issue 23).

A subprocess each, since the failures being guarded against abort or kill the process: an empty
model.json whose card hash matches it aborted in XGBoost (SIGABRT); binary (UBJSON) bytes,
whole or cut short, were handed to XGBoost's binary parser, which segfaults or spins on some
truncations; a card without threshold_bps was accepted although the docs require it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import xgboost as xgb

from tradetui.ml.model import CARD_FILE, MODEL_FILE


def _with_model_bytes(raw: bytes) -> Callable[[Path, Path], None]:
    """A copy of the model whose model.json is ``raw`` and whose card hash matches it."""

    def make(src: Path, dst: Path) -> None:
        shutil.copytree(src, dst)
        (dst / MODEL_FILE).write_bytes(raw)
        card = json.loads((dst / CARD_FILE).read_text())
        card["sha256"] = hashlib.sha256(raw).hexdigest()
        (dst / CARD_FILE).write_text(json.dumps(card))

    return make


def _ubj(src: Path) -> bytes:
    booster = xgb.Booster()
    booster.load_model(str(src / MODEL_FILE))
    return bytes(booster.save_raw("ubj"))


def _binary(cut: float) -> Callable[[Path, Path], None]:
    def make(src: Path, dst: Path) -> None:
        raw = _ubj(src)
        _with_model_bytes(raw[: max(1, int(len(raw) * cut))])(src, dst)

    return make


def _edit_json(edit: Callable[[dict[str, object]], None]) -> Callable[[Path, Path], None]:
    def make(src: Path, dst: Path) -> None:
        model = json.loads((src / MODEL_FILE).read_text())
        edit(model)
        _with_model_bytes(json.dumps(model).encode())(src, dst)

    return make


def _first_tree(model: dict[str, object]) -> dict[str, list[int]]:
    return model["learner"]["gradient_booster"]["model"]["trees"][0]  # type: ignore[index,no-any-return]


def _child_beyond_the_tree(model: dict[str, object]) -> None:
    tree = _first_tree(model)
    tree["left_children"][0] = len(tree["left_children"]) + 5


def _arrays_of_unequal_length(model: dict[str, object]) -> None:
    _first_tree(model)["split_conditions"].pop()


def _card_without_threshold(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst)
    card = json.loads((dst / CARD_FILE).read_text())
    del card["threshold_bps"]
    (dst / CARD_FILE).write_text(json.dumps(card))


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (_with_model_bytes(b""), "model.json: empty"),
        (_with_model_bytes(b" \n"), "model.json: empty"),
        (_binary(1.0), "binary"),
        (_binary(0.5), "binary"),
        (_binary(0.004), "binary"),
        (_edit_json(_child_beyond_the_tree), "not a usable XGBoost model"),
        (_edit_json(_arrays_of_unequal_length), "not a usable XGBoost model"),
        (_card_without_threshold, "threshold_bps: missing"),
    ],
    ids=[
        "empty",
        "blank",
        "ubjson",
        "ubjson-cut-in-half",
        "ubjson-cut-short",
        "child-beyond-tree",
        "unequal-arrays",
        "no-threshold",
    ],
)
def test_unusable_model_is_one_line_exit_2(
    model_dir: Path, tmp_path: Path, make: Callable[[Path, Path], None], says: str
) -> None:
    bad = tmp_path / "bad"
    make(model_dir, bad)
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(root), env.get("PYTHONPATH"))))
    # The model is checked before any file is read: an empty file does for the recording.
    recording = tmp_path / "x.gz"
    recording.touch()
    done = subprocess.run(
        [sys.executable, "-m", "tradetui", "backtest", str(recording), "--model", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    out = (done.stdout + done.stderr).strip()
    assert done.returncode == 2, out
    assert out.startswith("error: ml.model: "), out
    assert says in out, out
    assert len(out.splitlines()) == 1, out
