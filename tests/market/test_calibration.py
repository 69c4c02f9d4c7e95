"""Synthetic market parameters for any instrument: scaling and calibration files."""

from __future__ import annotations

import dataclasses
import itertools
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from tradetui.core.instrument import Instrument
from tradetui.core.types import BestBidOffer, BookSnapshot
from tradetui.market.calibration import (
    CalibrationError,
    load_params,
    params_for,
    params_to_json,
)
from tradetui.market.synthetic import SyntheticMarket, SyntheticParams
from tradetui.venues.sim_listing import sim_instrument

DEFAULT = SyntheticParams()


def _listed(symbol: str, venue: str) -> Instrument:
    inst = sim_instrument(symbol, venue)
    assert inst is not None
    return inst


def _median(table: tuple[tuple[float, float], ...]) -> float:
    return dict(table)[0.5]


def test_the_instrument_measured_gets_the_calibration_unchanged() -> None:
    assert params_for(_listed("BTCUSDT", "usdm")) == DEFAULT


def test_scaling_keeps_volatility_relative_to_price_and_sizes_as_notional() -> None:
    eth = params_for(_listed("ETHUSDT", "usdm"), start_price=2600.0)
    inverse = params_for(_listed("BTCUSD_PERP", "coinm"))

    assert eth.mid_std_1s_quote == pytest.approx(7.46 * 2600 / 61_800)
    # 0.016 BTC at 61,800 USD is 988.8 USD: 0.3803 ETH at 2,600, 9.888 contracts of 100 USD.
    assert _median(eth.trade_size_quantiles_units) == pytest.approx(0.016 * 61_800 / 2600)
    assert _median(inverse.trade_size_quantiles_units) == pytest.approx(9.888)
    assert inverse.mid_std_1s_quote == DEFAULT.mid_std_1s_quote
    assert (inverse.symbol, inverse.inverse, inverse.contract_size) == ("BTCUSD_PERP", True, 100)
    assert eth.jump_quantiles_ticks == DEFAULT.jump_quantiles_ticks


def test_another_base_asset_needs_a_price() -> None:
    with pytest.raises(CalibrationError, match=r"^market.start_price: .* not ETHUSD_PERP; set"):
        params_for(_listed("ETHUSD_PERP", "coinm"))


def test_a_coarse_tick_narrows_the_book_so_prices_stay_positive() -> None:
    cheap = dataclasses.replace(_listed("ETHUSDT", "usdm"), symbol="XUSDT", base="X")
    params = params_for(cheap, start_price=5.0)  # 500 ticks of 0.01

    events = list(itertools.islice(SyntheticMarket(cheap, params, seed=1).events(), 20_000))

    assert params.book_half_width_ticks == 125
    snap = events[0]
    assert isinstance(snap, BookSnapshot)
    assert min(p for p, _ in snap.bids) > 0
    bbos = [e for e in events if isinstance(e, BestBidOffer)]
    assert min(b.bid_ticks for b in bbos) > 0
    assert (bbos[0].bid_ticks + bbos[0].ask_ticks) * 0.01 / 2 == pytest.approx(5.0, abs=0.02)


def test_a_calibration_file_reads_back_identical(tmp_path: Path) -> None:
    params = params_for(_listed("ETHUSD_PERP", "coinm"), start_price=2650.0)
    path = tmp_path / "p.json"
    path.write_text(json.dumps(params_to_json(params)))

    assert load_params(path) == params


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("{not json", "not a readable calibration"),
        ('{"version": 1}', "not a synthetic market calibration of version 1"),
        ('{"tradetui_synthetic_params": 1, "mid_std": 1}', "unknown field 'mid_std'"),
        (
            '{"tradetui_synthetic_params": 1, "trade_rate_per_s": "fast"}',
            "trade_rate_per_s must be a number",
        ),
    ],
)
def test_a_bad_calibration_file_is_one_line_naming_it(
    tmp_path: Path, content: str, needle: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)

    with pytest.raises(CalibrationError) as err:
        load_params(path)

    text = str(err.value)
    assert text.startswith(f"{path}: ")
    assert needle in text
    assert text.endswith("`python bench/calibrate_synthetic.py FILE --out PATH`")


def test_a_missing_calibration_file_names_the_command_that_writes_one(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match=r"no such calibration file; write it with"):
        load_params(tmp_path / "none.json")


def test_inverse_sizes_follow_the_contract_size() -> None:
    eth = params_for(_listed("ETHUSD_PERP", "coinm"), start_price=2600.0)

    # 988.8 USD of ETH is 98.88 contracts of 10 USD.
    assert _median(eth.trade_size_quantiles_units) == pytest.approx(98.88)
    assert _listed("ETHUSD_PERP", "coinm").contract_size == Decimal(10)


COINM = Path(__file__).resolve().parents[3] / "shared" / "data" / "binance-coinm"


@pytest.mark.skipif(not COINM.is_dir(), reason="needs ../shared/data (recorded Binance data)")
def test_a_coinm_capture_calibrates_a_market_that_measures_like_it(tmp_path: Path) -> None:
    out = tmp_path / "eth.json"
    script = Path(__file__).resolve().parents[2] / "bench" / "calibrate_synthetic.py"
    capture = COINM / "ethusd_perp_20240808.gz"
    args = ["--symbol", "ETHUSD_PERP", "--venue", "coinm", "--out", str(out)]
    run = subprocess.run(
        [sys.executable, str(script), str(capture), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )

    figures = json.loads(run.stdout)
    params = load_params(out)
    assert (params.symbol, params.inverse, params.contract_size) == ("ETHUSD_PERP", True, 10.0)
    assert params.start_price_quote == pytest.approx(2682, abs=20)
    real, synthetic = figures["real"], figures["synthetic"]
    for key in ("trades_per_s", "mid_change_1s_std_quote", "book_ticker_per_s"):
        assert synthetic[key] == pytest.approx(real[key], rel=0.25), key
    both = "touch_size_units_median"
    assert synthetic[both]["both"] == pytest.approx(real[both]["both"], rel=0.25)


SPOT = COINM.parent / "binance-spot"


@pytest.mark.skipif(not SPOT.is_dir(), reason="needs ../shared/data (recorded Binance data)")
@pytest.mark.usefixtures("simulated_catalogs")  # the USD-M file's instrument
def test_a_spot_capture_in_two_files_calibrates_with_bookticker_times_from_its_other_streams(
    tmp_path: Path,
) -> None:
    """Spot bookTickers carry no exchange time: they take their receive time plus the clock
    offset the depth diffs and trades show, so their rate and the mid's σ are measured."""
    out = tmp_path / "spot.json"
    script = Path(__file__).resolve().parents[2] / "bench" / "calibrate_synthetic.py"
    files = [str(SPOT / "btcusdt_20240808.gz"), str(SPOT / "btcusdt_20240809.gz")]
    usdm = SPOT.parent / "binance-usdm" / "btcusdt_20240808.gz"
    args = ["--symbol", "BTCUSDT", "--venue", "spot", "--out", str(out), "--seconds", "60"]
    args += ["--validate", str(usdm)]
    run = subprocess.run(
        [sys.executable, str(script), *files, *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    figures = json.loads(run.stdout)
    real, synthetic = figures["real"], figures["synthetic"]
    # The two files are one capture of 23:54:15 -> 00:05:05 exchange time (data README).
    assert real["span_s"] == pytest.approx(650, abs=5)
    assert real["trades_per_s"] == pytest.approx((9_757 + 10_147) / real["span_s"], rel=0.01)
    # bookTicker times stay within the capture: 73,174 of them over its span.
    assert real["book_ticker_per_s"] == pytest.approx((28_040 + 45_134) / real["span_s"], rel=0.02)
    params = load_params(out)
    assert (params.venue, params.symbol, params.inverse) == ("binance", "BTCUSDT", False)
    for key in ("trades_per_s", "mid_change_1s_std_quote", "book_ticker_per_s"):
        assert synthetic[key] == pytest.approx(real[key], rel=0.25), key
    # Checked on the USD-M file, the spot calibration is another market: half the trades.
    held = figures["held_out"]
    assert held["source"] == str(usdm)
    trades = held["figures"]["trades_per_s"]
    assert trades["real"] == pytest.approx(61.9, abs=0.1)  # the data README's figure
    assert trades["error"] < -0.4
    assert held["mean_abs_error"] > 0.3
