"""`tradetui calibrate`: σ, A and k measured on recorded data, checked on held-out data."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import scratch_app
from tradetui.commands.data import register
from tradetui.config import Settings, load_settings
from tradetui.core.types import BestBidOffer, MarketEvent, Side, Trade
from tradetui.strategy.calibrate import (
    CalibrationDataError,
    MarketSample,
    log_rate_rmse,
    measure,
)
from tradetui.strategy.estimators import DEFAULT_GRID_TICKS

S = 1_000_000_000
DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
SPOT = DATA / "binance-spot"


def bbo(t_ns: int, bid: int) -> BestBidOffer:
    return BestBidOffer(
        exch_ns=t_ns, local_ns=t_ns, update_id=t_ns, bid_ticks=bid, bid_lots=1,
        ask_ticks=bid + 2, ask_lots=1,
    )  # fmt: skip


def trade(t_ns: int, price: int) -> Trade:
    return Trade(
        exch_ns=t_ns, local_ns=t_ns, trade_id=t_ns, price_ticks=price, qty_lots=1,
        aggressor=Side.BUY,
    )  # fmt: skip


def synthetic_tape(seconds: int) -> list[MarketEvent]:
    """The mid alternates 1001 and 1011 each second (1 s changes of ±10 ticks, so σ = 10),
    and each second prints 8 trades 1.5 ticks from the mid and 2 trades 10.5 ticks away."""
    events: list[MarketEvent] = []
    for s in range(seconds):
        bid = 1000 if s % 2 == 0 else 1010
        t = s * S + 1
        events.append(bbo(t, bid))
        mid = bid + 1
        for i in range(8):
            events.append(trade(t + 1 + i, mid + 1 if i % 2 else mid - 2))  # |δ| = 1 or 2
        events.append(trade(t + 20, mid + 10))
        events.append(trade(t + 21, mid - 11))
    return events


def test_measure_counts_trades_by_depth_and_sigma_from_one_second_mid_changes() -> None:
    sample = measure(synthetic_tape(60))
    assert sample.sigma_ticks == pytest.approx(10.0)
    assert sample.trades == 600
    # Depth grid 1, 2, 3, 5, 8, 13, ...: all 10 trades a second reach δ = 1; the 4 at 2
    # ticks and the 2 far ones reach 2; only the far ones reach 3 to 8; none 13 or more.
    rate = dict(zip(sample.depths_ticks, sample.rates_per_s, strict=True))
    span = sample.seconds
    assert rate[1.0] == pytest.approx(600 / span)
    assert rate[2.0] == pytest.approx(360 / span)
    assert rate[3.0] == rate[8.0] == pytest.approx(120 / span)
    assert rate[13.0] == 0.0
    assert sample.fitted
    assert sample.depths_ticks == DEFAULT_GRID_TICKS


def test_a_tick_ratio_counts_on_the_engine_grid_in_coarser_ticks() -> None:
    # The tape in ticks 5 times finer: the mid steps 50 fine ticks (10 coarse), trades print
    # 5-10 and 50-55 fine ticks from the mid (1-2 and 10-11 coarse).
    fine = [
        BestBidOffer(
            exch_ns=ev.exch_ns,
            local_ns=ev.local_ns,
            update_id=ev.update_id,
            bid_ticks=ev.bid_ticks * 5,
            bid_lots=1,
            ask_ticks=ev.ask_ticks * 5,
            ask_lots=1,
        )
        if isinstance(ev, BestBidOffer)
        else trade(ev.exch_ns, ev.price_ticks * 5)
        for ev in synthetic_tape(60)
        if isinstance(ev, BestBidOffer | Trade)
    ]
    coarse, scaled = measure(synthetic_tape(60)), measure(fine, 5)
    assert measure(fine).sigma_ticks == pytest.approx(50.0)
    assert scaled.sigma_ticks == pytest.approx(coarse.sigma_ticks)
    assert scaled.depths_ticks == DEFAULT_GRID_TICKS
    assert scaled.rates_per_s == pytest.approx(coarse.rates_per_s)
    assert scaled.k == pytest.approx(coarse.k)
    assert scaled.a == pytest.approx(coarse.a)


def test_the_rmse_is_zero_on_the_line_and_counts_only_depths_with_enough_trades() -> None:
    depths = (1.0, 2.0, 3.0, 5.0)
    rates = [20.0 * math.exp(-0.1 * d) for d in depths]
    sample = MarketSample(
        seconds=100.0, sigma_ticks=1.0, trades=5_000, depths_ticks=depths,
        rates_per_s=tuple(rates), counts=(2_000, 1_800, 1_600, 5), a=20.0, k=0.1, fitted=True,
    )  # fmt: skip
    rmse, n = log_rate_rmse(sample, 20.0, 0.1)
    assert n == 3
    assert rmse == pytest.approx(0.0, abs=1e-12)
    # One depth e times too busy: ln error 1 at one of the 3 depths counted.
    off = dataclasses.replace(sample, rates_per_s=(rates[0] * math.e, *rates[1:]))
    rmse, n = log_rate_rmse(off, 20.0, 0.1)
    assert n == 3
    assert rmse == pytest.approx(math.sqrt(1 / 3))


def test_thin_data_is_refused_with_the_reason() -> None:
    with pytest.raises(CalibrationDataError, match="trades after the first best bid/offer"):
        measure([bbo(0, 1000), trade(1, 1000)])
    with pytest.raises(CalibrationDataError, match="s of best bid/offers"):
        measure([bbo(0, 1000), *(trade(i + 1, 1000) for i in range(20))])


@pytest.mark.skipif(not SPOT.exists(), reason=f"shared recordings not found at {DATA}")
@pytest.mark.usefixtures("simulated_catalogs")
def test_calibrate_on_one_file_validated_on_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADETUI_CACHE_DIR", str(tmp_path))
    out = tmp_path / "params.toml"
    fit_file, held_file = SPOT / "btcusdt_20240808.gz", SPOT / "btcusdt_20240809.gz"
    app = scratch_app(register)
    args = ["calibrate", str(fit_file), "--validate", str(held_file), "--out", str(out), "--json"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    fit, held = rep["fit"], rep["held_out_check"]
    assert fit["trades"] == 9_757  # every trade of the file (data README), after the first BBO
    assert held["trades"] > 9_000
    # Spot BTCUSDT ticks are 0.01 USD: σ of several USD/√s is hundreds of ticks.
    assert 100 < fit["sigma_ticks"] < 2_000
    assert abs(held["sigma_error"]) < 0.5
    assert fit["a_per_s"] > 0
    assert fit["k_per_tick"] > 0
    assert held["depths_used"] >= 3
    assert 0 <= fit["log_rate_rmse"] < held["log_rate_rmse"] < 1.0
    # The file is a config: its priors load and are the fit.
    s = load_settings(out).strategy
    assert s.sigma_prior_ticks == pytest.approx(fit["sigma_ticks"])
    assert s.a_prior == pytest.approx(fit["a_per_s"])
    assert s.k_prior == pytest.approx(fit["k_per_tick"])
    text = CliRunner().invoke(app, ["calibrate", str(fit_file)])
    assert text.exit_code == 0, text.output
    assert "held out  the last 30% of the files" in text.output
    assert "ln λ RMSE" in text.output


@pytest.mark.skipif(not SPOT.exists(), reason=f"shared recordings not found at {DATA}")
@pytest.mark.usefixtures("simulated_catalogs")
def test_the_default_priors_are_the_spot_fit_in_usdm_ticks(tmp_path: Path) -> None:
    """bench/calibrate_defaults.py's fit: spot BTCUSDT, held out on the USD-M demo file."""
    usdm = DATA / "binance-usdm" / "btcusdt_20240808.gz"
    app = scratch_app(register)
    fit_files = [str(SPOT / "btcusdt_20240808.gz"), str(SPOT / "btcusdt_20240809.gz")]
    args = ["calibrate", *fit_files, "--validate", str(usdm), "--for-tick", "0.1", "--json"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    fit = rep["fit"]
    assert rep["tick_size"] == pytest.approx(0.1)
    s = Settings().strategy
    assert s.sigma_prior_ticks == fit["sigma_ticks"]
    assert s.a_prior == fit["a_per_s"]
    assert s.k_prior == fit["k_per_tick"]
    # σ transfers from spot to the perpetual; held out, it is off by less than 15 %.
    assert abs(rep["held_out_check"]["sigma_error"]) < 0.15
    bad = CliRunner().invoke(app, ["calibrate", fit_files[0], "--for-tick", "0.015"])
    assert bad.exit_code == 2
    assert "--for-tick 0.015: not a whole multiple of the files' tick 0.01" in bad.output


@pytest.mark.skipif(not SPOT.exists(), reason=f"shared recordings not found at {DATA}")
@pytest.mark.usefixtures("simulated_catalogs")
def test_calibrate_refuses_an_out_path_in_a_missing_folder(tmp_path: Path) -> None:
    r = CliRunner().invoke(
        scratch_app(register),
        ["calibrate", str(SPOT / "btcusdt_20240808.gz"), "--out", str(tmp_path / "no" / "p.toml")],
    )
    assert r.exit_code == 2
    assert r.output.startswith("error: --out")
    assert len(r.output.strip().splitlines()) == 1
