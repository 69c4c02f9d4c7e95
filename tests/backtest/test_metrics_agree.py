"""One markout, spread capture and inventory PnL on every surface (docs/metrics.md): the same
fills give the same figures in ``backtest --json``, ``report --json``, the console's pane data
and the Telegram /pnl message."""

from __future__ import annotations

import json
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.backtest.test_backtest import INST, USDM, market
from tradetui.alerts.views import pnl_text
from tradetui.backtest.report import build_report
from tradetui.backtest.run import run_backtest
from tradetui.cli import app
from tradetui.config import Settings
from tradetui.core.units import markout_text, money
from tradetui.engine.snapshot import take_snapshot
from tradetui.market.files import ReplayReport
from tradetui.store.queries import session_report

# The fee floor off: these checks want many fills.
SETTINGS = Settings().replace("strategy", fee_floor=False)
METRICS = ("spread_capture", "inventory_pnl", "pnl_total", "fees")


def _markouts(r: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Markouts as JSON prints them (Decimal and float compared by their text)."""
    return {h: {k: str(v) for k, v in m.items()} for h, m in r["markouts"].items()}


def test_backtest_report_console_and_telegram_agree_on_the_same_fills(tmp_path: Path) -> None:
    db = tmp_path / "bt.db"
    result = run_backtest(SETTINGS, INST, market(180), store=db)
    backtest = build_report(result, ReplayReport(), cached=False)
    with sqlite3.connect(db) as conn:
        stored = session_report(conn, backtest["session_id"])

    assert backtest["fills"] == stored["fills"] > 20
    five = backtest["markouts"]["5s"]
    assert five["fills"] > 20
    assert five["total_settle"] != 0
    assert _markouts(backtest) == _markouts(stored)
    for key in METRICS:
        assert backtest[key] == stored[key], key
    # Markout 0 s would be the spread capture; inventory PnL is the rest of the gross.
    gross = backtest["pnl_realized"] + backtest["pnl_unrealized"]
    assert backtest["inventory_pnl"] == gross - backtest["spread_capture"]

    snap = take_snapshot(result.engine, depth_levels=5)
    assert {h: {k: str(v) for k, v in m.items()} for h, m in snap.markouts.items()} == (
        _markouts(backtest)
    )
    assert snap.pnl.spread_capture == backtest["spread_capture"]
    assert snap.pnl.inventory_pnl == backtest["inventory_pnl"]
    telegram = pnl_text(snap)
    assert f"markout {markout_text(backtest['markouts'])}" in telegram
    assert money(backtest["spread_capture"], "USDT", "USDT") in telegram
    assert money(backtest["inventory_pnl"], "USDT", "USDT") in telegram


@pytest.mark.skipif(not USDM.exists(), reason=f"shared recordings not found at {USDM}")
@pytest.mark.usefixtures("simulated_catalogs")
def test_backtest_json_and_report_json_print_the_same_markouts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADETUI_CACHE_DIR", str(tmp_path))
    db = tmp_path / "bt.db"
    runner = CliRunner()
    bt = runner.invoke(app, ["backtest", str(USDM), "--json", "--db", str(db)])
    assert bt.exit_code == 0, bt.output
    rep = runner.invoke(app, ["report", "--db", str(db), "--json"])
    assert rep.exit_code == 0, rep.output
    backtest, stored = json.loads(bt.stdout), json.loads(rep.stdout)
    assert backtest["markouts"]["1s"]["fills"] > 0
    assert backtest["markouts"] == stored["markouts"]
    for key in METRICS:
        assert Decimal(str(backtest[key])) == Decimal(str(stored[key])), key
