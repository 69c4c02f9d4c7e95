"""A model trained on one instrument serves another only when trained as instrument-agnostic
(issue 23): trained for real on the shared spot BTCUSDT recording, refused at session start
for the simulated exchange's USD-M ETHUSDT (its listing, from the catalog) and by the command
line (one line, exit 2), accepted when trained with `--agnostic`; a card from before the
features were normalised says to retrain."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.conftest import scratch_app
from tests.ml.conftest import record_within_one_hour
from tradetui.config import ConfigError, Settings
from tradetui.ml.model import CARD_FILE
from tradetui.session import build_paper_session

SPOT_0808 = (
    Path(__file__).resolve().parents[2] / ".." / "shared/data/binance-spot/btcusdt_20240808.gz"
)
pytestmark = pytest.mark.skipif(
    not SPOT_0808.exists(), reason=f"shared recording not found: {SPOT_0808}"
)

# The feature names and label field of cards written before issue 23 (ticks and lots).
_OLD_FEATURES = [
    "spread_ticks",
    "imbalance_1",
    "imbalance_5",
    "imbalance_10",
    "micro_minus_mid_ticks",
    "flow_1s_lots",
    "flow_5s_lots",
    "ret_1s_ticks",
    "ret_5s_ticks",
    "ret_30s_ticks",
    "rvol_30s_ticks",
    "bid_queue_lots",
    "ask_queue_lots",
    "since_trade_s",
    "inventory_lots",
]


def _app() -> typer.Typer:
    from tradetui.commands.data import register as register_data
    from tradetui.commands.ml import register as register_ml

    def register(app: typer.Typer) -> None:
        register_data(app)
        register_ml(app)

    return scratch_app(register)


@pytest.fixture(scope="module")
def catalogs() -> Iterator[None]:
    """The simulated listing (spot BTCUSDT, USD-M ETHUSDT...) for the whole module."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRADETUI_CATALOG_DIR", os.environ["TRADETUI_TEST_SIMULATED_CATALOGS"])
        yield


@pytest.fixture(scope="module")
def spot_models(catalogs: None, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(default, --agnostic) models trained by `tradetui train` on the spot 0808 file."""
    root = tmp_path_factory.mktemp("spot_models")
    dirs = root / "default", root / "agnostic"
    for out, extra in zip(dirs, ([], ["--agnostic"]), strict=True):
        r = CliRunner().invoke(
            _app(),
            ["train", str(SPOT_0808), "--out", str(out), "--json", *extra],
            env={"TRADETUI_CACHE_DIR": str(root / "cache")},
        )
        assert r.exit_code == 0, r.output
        card = json.loads(r.output)
        assert card["instrument"]["kind"] == "spot"
        assert card["instrument_agnostic"] is bool(extra)
        assert set(card["feature_units"]) == set(card["features"])
        assert card["threshold_bps"] > 0
    return dirs


def _eth_session_settings(model: Path) -> Settings:
    return (
        Settings()
        .replace("venue", symbol="ETHUSDT")
        .replace("market", start_price=2600.0)
        .replace("ml", enabled=True, model=str(model))
    )


def test_a_spot_btc_model_is_refused_at_session_start_for_usdm_ethusdt(
    spot_models: tuple[Path, Path],
) -> None:
    default, _ = spot_models
    with pytest.raises(ConfigError) as err:
        build_paper_session(_eth_session_settings(default), seed=1, virtual=True)
    text = str(err.value)
    assert len(text.splitlines()) == 1
    assert text.startswith(f"ml.model: {default}: trained for binance spot BTCUSDT (tick 0.01, ")
    assert "this session trades binanceusdm perpetual ETHUSDT (tick 0.01, lot 0.001) " in text
    assert "(venue, kind, symbol, lot_size differ)" in text
    assert "tradetui train --agnostic" in text


def test_an_agnostic_spot_btc_model_serves_usdm_ethusdt(spot_models: tuple[Path, Path]) -> None:
    _, agnostic = spot_models
    s = build_paper_session(_eth_session_settings(agnostic), seed=1, virtual=True)
    assert s.engine.instrument.symbol == "ETHUSDT"
    assert s.engine.ml is not None
    assert s.engine.ml.model.card["instrument"]["symbol"] == "BTCUSDT"


@pytest.fixture(scope="module")
def usdm_recording(catalogs: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 s of the simulated USD-M BTCUSDT market: another kind than the spot model's."""
    out = tmp_path_factory.mktemp("usdm_rec")
    r = record_within_one_hour(_app(), out, 20)
    assert r.exit_code == 0, r.output
    return next(out.glob("*.gz"))


def _backtest(recording: Path, model: Path, tmp_path: Path) -> tuple[int, str]:
    r = CliRunner().invoke(
        _app(),
        ["backtest", str(recording), "--model", str(model), "--json"],
        env={"TRADETUI_CACHE_DIR": str(tmp_path / "cache")},
    )
    return r.exit_code, r.output


def test_the_command_line_refuses_the_spot_model_for_a_usdm_recording_in_one_line(
    spot_models: tuple[Path, Path], usdm_recording: Path, tmp_path: Path
) -> None:
    default, agnostic = spot_models
    code, out = _backtest(usdm_recording, default, tmp_path)
    assert code == 2, out
    assert out.startswith(f"error: ml.model: {default}: trained for binance spot BTCUSDT")
    assert "this session trades binanceusdm perpetual BTCUSDT" in out
    assert len(out.strip().splitlines()) == 1
    code, out = _backtest(usdm_recording, agnostic, tmp_path)
    assert code == 0, out
    assert json.loads(out)["ml"]["predictions"] > 0


def _old_card(card: dict[str, object]) -> None:
    """What a card from before the normalised features held."""
    card["features"] = _OLD_FEATURES
    card["threshold_ticks"] = card.pop("threshold_bps")
    del card["feature_units"]


@pytest.mark.parametrize("agnostic", [False, True])
def test_a_card_from_before_the_normalised_features_says_to_retrain(
    spot_models: tuple[Path, Path], usdm_recording: Path, tmp_path: Path, agnostic: bool
) -> None:
    old = tmp_path / "old"
    shutil.copytree(spot_models[agnostic], old)
    card = json.loads((old / CARD_FILE).read_text())
    _old_card(card)
    (old / CARD_FILE).write_text(json.dumps(card))
    code, out = _backtest(usdm_recording, old, tmp_path)
    assert code == 2, out
    assert out.startswith(f"error: ml.model: {old / CARD_FILE}: model features differ")
    assert "an older tradetui's, in ticks and lots" in out
    assert "retrain with `tradetui train`" in out
    assert len(out.strip().splitlines()) == 1
