from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import pytest

from tests.instruments import btcusdt_perpetual
from tradetui.backtest.run import run_backtest
from tradetui.config import ConfigError, Settings
from tradetui.core.types import MarketEvent
from tradetui.market.synthetic import SyntheticMarket
from tradetui.ml.filter import MlFilter
from tradetui.ml.model import FilterModel

T0_NS = 1_700_000_000_000_000_000
INST = btcusdt_perpetual()


def market(seconds: float) -> list[MarketEvent]:
    end = T0_NS + int(seconds * 1e9)
    events = SyntheticMarket(INST, seed=2, start_ns=T0_NS).events()
    return list(itertools.takewhile(lambda e: e.exch_ns < end, events))


def test_backtest_with_a_model_explains_each_adjustment(model_dir: Path) -> None:
    r = run_backtest(Settings(), INST, market(30), ml_model=model_dir)
    ml = r.engine.ml
    assert ml is not None
    assert ml.predictions > 0
    assert ml.errors == 0
    assert r.engine.last_decision is not None
    assert any(a.startswith("ml p_up") for a in r.engine.last_decision.adjustments)


def test_filter_off_by_default_leaves_the_engine_without_a_model() -> None:
    r = run_backtest(Settings(), INST, market(5))
    assert r.engine.ml is None


@pytest.mark.parametrize("model", ["", "/nonexistent/model"])
def test_enabled_without_a_model_file_is_a_config_error(model: str) -> None:
    with pytest.raises(ConfigError, match=r"^ml\.model: "):
        Settings().replace("ml", enabled=True, model=model)


def test_corrupt_model_fails_engine_start_with_a_config_error(
    model_dir: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.json").write_text((model_dir / "model.json").read_text())
    (bad / "card.json").write_text("[]")
    s = Settings().replace("ml", enabled=True, model=str(bad))
    with pytest.raises(ConfigError, match=r"^ml\.model: .*not a model card"):
        MlFilter.from_settings(s.ml)


def _broken(self: FilterModel, row: object) -> tuple[float, float, float]:
    raise RuntimeError("boom")


@pytest.mark.parametrize(("on_error", "quotes"), [("quote", True), ("pull", False)])
def test_inference_failure_follows_on_error(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, on_error: str, quotes: bool
) -> None:
    monkeypatch.setattr(FilterModel, "predict", _broken)
    s = Settings().replace("ml", on_error=on_error)
    r = run_backtest(s, INST, market(10), ml_model=model_dir)
    assert r.engine.ml is not None
    assert r.engine.ml.errors > 0
    assert (r.engine.orders_placed > 0) is quotes
    assert r.engine.last_decision is not None
    assert "ml inference failed" in r.engine.last_decision.adjustments[-1]


def test_drift_needs_no_more_predictions_than_the_window_holds() -> None:
    with pytest.raises(ConfigError, match=r"^ml\.drift_min_predictions: must be <= "):
        Settings().replace("ml", drift_min_predictions=700, monitor_window=600)


def test_config_check_loads_the_model_it_names(model_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tradetui.cli import app

    bad = tmp_path / "bad"
    shutil.copytree(model_dir, bad)
    card = json.loads((bad / "card.json").read_text())
    del card["horizon_s"]
    (bad / "card.json").write_text(json.dumps(card))
    for model, code in ((model_dir, 0), (bad, 2)):
        cfg = tmp_path / "config.toml"
        cfg.write_text(f'[ml]\nenabled = true\nmodel = "{model}"\n')
        r = CliRunner().invoke(app, ["config", "check", "-c", str(cfg)])
        assert r.exit_code == code, r.output
    assert (
        r.output.strip()
        == f"error: ml.model: {bad}/card.json: horizon_s: missing; retrain with `tradetui train`"
    )
