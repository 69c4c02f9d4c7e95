from __future__ import annotations

import dataclasses
import json
import shutil
import threading
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from tests.instruments import spot_btcusdt, usdm_ethusdt
from tests.ml.conftest import tiny_model, tiny_rows
from tradetui.ml.model import CARD_FILE, MODEL_FILE, ModelError, instrument_problem, load_model
from tradetui.ml.train import feature_card


def test_compiled_trees_match_xgboost_with_and_without_missing_values(model_dir: Path) -> None:
    m = load_model(model_dir)
    x, _ = tiny_rows(200, seed=3)
    for r in x:
        assert np.allclose(m.predict(r.tolist()), m.predict_xgboost(r.reshape(1, -1)), atol=1e-5)


def test_missing_model_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no such file"):
        load_model(tmp_path)


def test_edited_model_fails_the_content_hash(model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "m"
    shutil.copytree(model_dir, copy)
    (copy / MODEL_FILE).write_text((copy / MODEL_FILE).read_text() + " ")
    with pytest.raises(ModelError, match="content hash"):
        load_model(copy)


def test_feature_list_mismatch_is_refused(model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "m"
    shutil.copytree(model_dir, copy)
    card = json.loads((copy / CARD_FILE).read_text())
    card["features"] = card["features"][:-1]
    (copy / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelError, match="differ from this build"):
        load_model(copy)


def test_corrupt_model_file_is_refused(model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "m"
    shutil.copytree(model_dir, copy)
    (copy / MODEL_FILE).write_text("{not json")
    card = json.loads((copy / CARD_FILE).read_text())
    card["sha256"] = __import__("hashlib").sha256(b"{not json").hexdigest()
    (copy / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelError, match=r"model\.json: not valid JSON"):
        load_model(copy)


def test_load_during_a_swap_waits_for_the_card(model_dir: Path, tmp_path: Path) -> None:
    """Between the retrainer's two renames the card does not match the model yet."""
    live = shutil.copytree(model_dir, tmp_path / "live")
    other = tiny_model(tmp_path / "other", rounds=3)
    shutil.copy(other / MODEL_FILE, live / MODEL_FILE)  # first rename done, card still old
    later = threading.Timer(0.01, shutil.copy, (other / CARD_FILE, live / CARD_FILE))
    later.start()
    try:
        assert load_model(live).sha256 == load_model(other).sha256
    finally:
        later.join()


@pytest.mark.parametrize(
    ("edit", "says"),
    [
        (lambda c: c.pop("horizon_s"), "horizon_s: missing"),
        (lambda c: c.update(horizon_s="5s"), "horizon_s: expected a number of seconds > 0"),
        (lambda c: c.update(horizon_s=-5.0), "horizon_s: expected a number of seconds > 0"),
        (lambda c: c.update(threshold_bps=None), "threshold_bps: expected a number >= 0"),
        (lambda c: c.pop("threshold_bps"), "threshold_bps: missing"),
        (lambda c: c.update(features="spread_ticks"), "differ from this build"),
    ],
)
def test_edited_card_is_refused_with_the_field_named(
    model_dir: Path, tmp_path: Path, edit: object, says: str
) -> None:
    copy = tmp_path / "m"
    shutil.copytree(model_dir, copy)
    card = json.loads((copy / CARD_FILE).read_text())
    edit(card)  # type: ignore[operator]
    (copy / CARD_FILE).write_text(json.dumps(card))
    with pytest.raises(ModelError, match=says) as err:
        load_model(copy)
    assert len(str(err.value).splitlines()) == 1


def test_card_that_is_not_json_says_so(model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "m"
    shutil.copytree(model_dir, copy)
    (copy / CARD_FILE).write_text("{")
    with pytest.raises(ModelError, match=r"card.json: not valid JSON"):
        load_model(copy)


def test_a_model_serves_only_the_instrument_it_was_trained_for() -> None:
    card = {"instrument": spot_btcusdt().to_spec(), "instrument_agnostic": False}
    assert instrument_problem(card, spot_btcusdt()) == ""
    problem = instrument_problem(card, usdm_ethusdt())
    assert problem.startswith("trained for binance spot BTCUSDT (tick 0.01, lot 0.00001), ")
    assert "this session trades binance perpetual ETHUSDT" in problem
    assert "(kind, symbol, lot_size differ)" in problem
    assert "retrain" in problem
    # Same symbol, another grid: the features' ticks mean other prices.
    finer = dataclasses.replace(spot_btcusdt(), tick_size=Decimal("0.001"))
    assert "(tick_size differs)" in instrument_problem(card, finer)


def test_an_instrument_agnostic_card_serves_any_instrument() -> None:
    card = {"instrument": spot_btcusdt().to_spec(), "instrument_agnostic": True, **feature_card()}
    assert instrument_problem(card, usdm_ethusdt()) == ""


def test_agnostic_needs_every_feature_in_instrument_free_units() -> None:
    """The flag alone (an older or hand-edited card) or a feature in ticks serves no other
    instrument than the one trained on: only normalised features carry across."""
    card: dict[str, object] = {"instrument": spot_btcusdt().to_spec(), "instrument_agnostic": True}
    assert "without the units of its features" in instrument_problem(card, usdm_ethusdt())
    units = {**feature_card()["feature_units"], "spread_bps": "ticks"}
    problem = instrument_problem({**card, "feature_units": units}, usdm_ethusdt())
    assert problem.startswith("card.json: instrument_agnostic, but spread_bps is in the training")
    assert "tradetui train --agnostic" in problem
    # Its own instrument it still serves.
    assert instrument_problem({**card, "feature_units": units}, spot_btcusdt()) == ""


@pytest.mark.parametrize(
    "card",
    [{}, {"instrument": {"symbol": "BTCUSDT", "kind": "spot"}}],
    ids=["none", "symbol-only"],
)
def test_a_card_without_its_instrument_serves_none(card: dict[str, object]) -> None:
    assert "instrument: not recorded" in instrument_problem(card, spot_btcusdt())
