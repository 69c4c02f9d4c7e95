"""`backtest --model`: a usable model reports its effect; a bad one is one line, exit 2."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.conftest import scratch_app
from tests.ml.conftest import record_within_one_hour
from tradetui.commands.data import register
from tradetui.ml.model import CARD_FILE, MODEL_FILE


def _app() -> typer.Typer:
    return scratch_app(register)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rec")
    r = record_within_one_hour(_app(), out, 20)
    assert r.exit_code == 0, r.output
    files = sorted(out.glob("*.gz"))
    assert len(files) == 1
    return files[0]


def backtest(recording: Path, model: Path, tmp_path: Path) -> object:
    return CliRunner().invoke(
        _app(),
        ["backtest", str(recording), "--model", str(model), "--json"],
        env={"TRADETUI_CACHE_DIR": str(tmp_path / "cache")},
    )


def test_backtest_with_a_model_reports_the_filter(
    recording: Path, model_dir: Path, tmp_path: Path
) -> None:
    r = backtest(recording, model_dir, tmp_path)
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    ml = json.loads(r.output)["ml"]  # type: ignore[attr-defined]
    assert ml["predictions"] > 0
    assert ml["inference_errors"] == 0
    assert ml["sides_moved"] + ml["sides_pulled"] > 0


def _missing(src: Path, dst: Path) -> None:
    dst.mkdir()


def _corrupt(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst)
    text = (dst / MODEL_FILE).read_text()
    (dst / MODEL_FILE).write_text(text[: len(text) // 3])


def _corrupt_rehashed(src: Path, dst: Path) -> None:
    _corrupt(src, dst)
    card = json.loads((dst / CARD_FILE).read_text())
    card["sha256"] = hashlib.sha256((dst / MODEL_FILE).read_bytes()).hexdigest()
    (dst / CARD_FILE).write_text(json.dumps(card))


def _card_without_horizon(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst)
    card = json.loads((dst / CARD_FILE).read_text())
    del card["horizon_s"]
    (dst / CARD_FILE).write_text(json.dumps(card))


def _other_instrument(src: Path, dst: Path) -> None:
    """Trained for spot ETHUSDT; the recording is the simulated USD-M BTCUSDT."""
    shutil.copytree(src, dst)
    card = json.loads((dst / CARD_FILE).read_text())
    card["instrument"] = {
        "symbol": "ETHUSDT",
        "venue": "binance",
        "kind": "spot",
        "base": "ETH",
        "quote": "USDT",
        "tick_size": "0.01",
        "lot_size": "0.0001",
        "min_qty": "0.0001",
        "min_notional": "5",
    }
    card["instrument_agnostic"] = False
    (dst / CARD_FILE).write_text(json.dumps(card))


def _mismatched(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst)
    card = json.loads((dst / CARD_FILE).read_text())
    card["features"] = [*card["features"][:-1], "inventory_usd"]
    (dst / CARD_FILE).write_text(json.dumps(card))


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (_missing, "no model.json"),
        (_corrupt, "content hash differs"),
        (_corrupt_rehashed, "not valid JSON"),
        (_mismatched, "differ from this build's"),
        (_card_without_horizon, "horizon_s: missing"),
        (_other_instrument, "trained for binance spot ETHUSDT (tick 0.01, lot 0.0001), "),
    ],
)
def test_bad_model_is_one_line_exit_2(
    recording: Path, model_dir: Path, tmp_path: Path, make: object, says: str
) -> None:
    bad = tmp_path / "bad"
    make(model_dir, bad)  # type: ignore[operator]
    r = backtest(recording, bad, tmp_path)
    out: str = r.output  # type: ignore[attr-defined]
    assert r.exit_code == 2, out  # type: ignore[attr-defined]
    assert out.startswith("error: ml.model: ")
    assert says in out
    assert len(out.strip().splitlines()) == 1
