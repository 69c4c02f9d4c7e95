"""A COIN-M recording backtested through the Python API with its instrument given
(ETHUSD_PERP, 10 USD a contract): it quotes and fills, money in ETH and USD, and the report
rebuilt from its stored fills agrees exactly."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from tests.coinm import coinm, shared_data
from tests.conftest import scratch_app
from tradetui.backtest.plot import plot_series
from tradetui.backtest.report import build_report, format_report
from tradetui.backtest.run import run_backtest
from tradetui.cli import app as main_app
from tradetui.commands.data import register
from tradetui.config import Settings
from tradetui.core.money import dumps
from tradetui.engine.summary import format_summary
from tradetui.market.cache import load_events
from tradetui.store.queries import session_report

DATA = shared_data()
COINM = DATA / "binance-coinm" / "ethusd_perp_20240808.gz"
USDM = DATA / "binance-usdm" / "btcusdt_20240808.gz"
INST = coinm("ETHUSD_PERP")
# Money figures a backtest JSON and its stored report both carry.
MONEY_KEYS = (
    "fills",
    "volume_quote",
    "volume_settle",
    "pnl_total",
    "pnl_realized",
    "pnl_unrealized",
    "spread_capture",
    "inventory_pnl",
    "fees",
    "rebates",
    "cost_per_10k",
    "in_quote",
    "settle_asset",
    "quote_asset",
    "size_unit",
    "position_size",
)

pytestmark = pytest.mark.skipif(not COINM.exists(), reason=f"shared recordings not found at {DATA}")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    """(backtest report with the plot's title and axis units, report rebuilt from the stored
    session)."""
    events, data, cached = load_events([COINM], INST, use_cache=False)
    db = tmp_path_factory.mktemp("coinm") / "runs.db"
    # The fee floor off: the accounting checks here want many fills (the floor cuts this file's
    # fills from about 100 to under 10; bench/fee_floor.py measures that).
    settings = Settings().replace("strategy", fee_floor=False)
    result = run_backtest(settings, INST, events, store=db)
    r = json.loads(dumps(build_report(result, data, cached)))
    series = plot_series(result)
    plot = {"title": series.title, "size_unit": series.size_unit, "settle": series.settle}
    session = r["session_id"]
    conn = sqlite3.connect(db)
    try:
        stored = session_report(conn, session)
    finally:
        conn.close()
    return r | {"plot": plot}, json.loads(dumps(stored))


def test_coinm_backtest_quotes_and_fills_whole_contracts(
    run: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    r, _ = run
    assert r["fills"] > 20, "default limits clamped the quotes"
    assert r["halt_reason"] == ""
    assert (r["settle_asset"], r["quote_asset"], r["size_unit"]) == ("ETH", "USD", "contracts")
    # Every fill is a whole number of 10 USD contracts.
    assert r["volume_quote"] % 10 == 0
    assert r["volume_quote"] >= 10 * r["fills"]


def test_coinm_money_is_in_eth_and_in_usd_at_the_final_mark(
    run: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    r, _ = run
    usd = r["in_quote"]
    mark = r["mid"]
    assert (usd["asset"], usd["valued_at"]) == ("USD", "final mark")
    assert usd["at_mark"] == mark
    for key in ("pnl_total", "pnl_realized", "fees", "spread_capture"):
        # Each to 1e-12 (money.MONEY_PLACES) of the exact product.
        assert usd[key] == pytest.approx(r[key] * mark, rel=1e-12, abs=1e-12), key
    assert usd["volume"] == r["volume_quote"]
    # ETH volume is the face value over fill prices near the mark (±2% over the capture).
    assert r["volume_settle"] == pytest.approx(r["volume_quote"] / mark, rel=0.02)
    # Maker fees at the sim's 2 bps of the ETH notional, each fill's to 8 decimals as Binance
    # charges them.
    assert r["fees"] == pytest.approx(r["volume_settle"] * 2e-4, abs=r["fills"] * 0.5e-8)
    assert abs(r["pnl_total"]) < 0.01  # ETH, about 0.3 USD; read as linear it was dollars


def test_coinm_stored_report_agrees_exactly_with_the_backtest(
    run: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    r, stored = run
    for key in MONEY_KEYS:
        assert stored[key] == r[key], key
    assert stored["mark"] == r["mid"]
    assert stored["mode"] == "backtest"


def test_coinm_texts_name_eth_and_usd(run: tuple[dict[str, Any], dict[str, Any]]) -> None:
    r, _ = run
    text = format_summary(r) + "\n" + format_report(r)
    assert f"PnL total         {r['pnl_total']:+,.8f} ETH  (" in text
    assert f"volume            {r['volume_quote']:,.2f} USD ({r['volume_settle']:,.8f} ETH)" in text
    assert " ETH = " in text  # markouts in ETH and USD
    assert "contracts" in text


def test_coinm_plot_draws_contracts_and_eth(run: tuple[dict[str, Any], dict[str, Any]]) -> None:
    plot = run[0]["plot"]
    assert (plot["size_unit"], plot["settle"]) == ("contracts", "ETH")
    assert f"PnL {run[0]['pnl_total']:+,.8f} ETH over " in plot["title"]


def _cli() -> typer.Typer:
    return scratch_app(register)


@pytest.mark.usefixtures("simulated_catalogs")  # the file finds its instrument there
@pytest.mark.skipif(not USDM.exists(), reason=f"shared recordings not found at {DATA}")
def test_cli_backtest_db_then_report_json_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADETUI_CACHE_DIR", str(tmp_path))
    db = tmp_path / "bt.db"
    r = CliRunner().invoke(_cli(), ["backtest", str(USDM), "--json", "--db", str(db)])
    assert r.exit_code == 0, r.output
    bt = json.loads(r.output)
    rep = CliRunner().invoke(main_app, ["report", "--db", str(db), "--json"])
    assert rep.exit_code == 0, rep.output
    stored = json.loads(rep.output)
    assert bt["fills"] > 0
    assert stored["session"] == bt["session_id"]
    for key in MONEY_KEYS:
        assert stored[key] == bt[key], key
    assert stored["position_base"] == bt["position_base"]  # linear: sizes are BTC
