"""Backtests: the paper engine on a replayed market, its report and the CLI commands."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from tests.conftest import scratch_app
from tests.instruments import btcusdt_perpetual
from tradetui.backtest.report import build_report
from tradetui.backtest.run import backtest_settings, run_backtest
from tradetui.commands.data import register
from tradetui.config import Settings
from tradetui.core.types import MarketEvent
from tradetui.market.cache import load_events
from tradetui.market.files import ReplayReport
from tradetui.market.synthetic import SyntheticMarket

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
USDM = DATA / "binance-usdm" / "btcusdt_20240808.gz"
T0_NS = 1_700_000_000_000_000_000
INST = btcusdt_perpetual()


def market(seconds: float) -> list[MarketEvent]:
    end = T0_NS + int(seconds * 1e9)
    events = SyntheticMarket(INST, seed=2, start_ns=T0_NS).events()
    return list(itertools.takewhile(lambda e: e.exch_ns < end, events))


@pytest.fixture(scope="module")
def report() -> dict[str, object]:
    result = run_backtest(Settings(), INST, market(120))
    return build_report(result, ReplayReport(), cached=False)


def test_backtest_trades_and_stops_flat_on_orders(report: dict[str, object]) -> None:
    assert isinstance(report["fills"], int)
    assert report["fills"] > 0
    assert report["state"] == "stopped"
    assert report["open_orders"] == 0


def test_report_has_markouts_at_each_horizon(report: dict[str, object]) -> None:
    marks = report["markouts"]
    assert isinstance(marks, dict)
    assert set(marks) == {"1s", "5s", "30s"}
    assert marks["1s"]["fills"] > 0


def test_inventory_path_ends_at_the_final_position(report: dict[str, object]) -> None:
    inv = report["inventory"]
    assert isinstance(inv, dict)
    assert inv["path"][-1][1] == inv["final_base"] == report["position_base"]
    assert inv["min_base"] <= inv["final_base"] <= inv["max_base"]


def test_latency_option_sets_every_leg() -> None:
    sim = backtest_settings(Settings(), 12.0).sim
    assert (sim.entry_latency_ms, sim.cancel_latency_ms, sim.ack_latency_ms) == (12.0, 12.0, 12.0)


def test_same_market_same_result() -> None:
    a = run_backtest(Settings(), INST, market(60))
    b = run_backtest(Settings(), INST, market(60))
    assert (a.engine.fills, a.engine.pnl().total) == (b.engine.fills, b.engine.pnl().total)


def _app() -> typer.Typer:
    return scratch_app(register)


def test_cli_errors_are_one_line_with_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\n")
    runner = CliRunner()
    for args in (["data", "check", str(bad)], ["backtest", str(tmp_path / "missing.gz")]):
        r = runner.invoke(_app(), args)
        assert r.exit_code == 2
        assert len(r.output.strip().splitlines()) == 1
        assert r.output.startswith("error: ")


@pytest.mark.skipif(not USDM.exists(), reason=f"shared recordings not found at {DATA}")
@pytest.mark.usefixtures("simulated_catalogs")
def test_cli_backtest_on_the_shared_file_reports_fills_and_markouts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADETUI_CACHE_DIR", str(tmp_path))
    r = CliRunner().invoke(_app(), ["backtest", str(USDM), "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["fills"] > 0
    assert out["markouts"]["5s"]["fills"] > 0
    assert out["data"]["gaps"] == 0
    _events, _rep, cached = load_events([USDM], INST)
    assert cached
