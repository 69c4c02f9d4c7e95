"""``tradetui reconcile``: fills matched one by one, and paper sessions that a backtest of
their own recording repeats (docs/reconcile.md)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.backtest.test_backtest import USDM
from tradetui.backtest.reconcile import FillMatch, FillPoint, Tolerance, compare_fills, verdict
from tradetui.core.types import Side

MS = 1_000_000
TOL = Tolerance(time_ns=50 * MS, price_ticks=0)
BUY, SELL = Side.BUY, Side.SELL


def test_each_fill_matches_the_nearest_of_its_side_and_price_once() -> None:
    session = [FillPoint(100 * MS, BUY, 10, 1), FillPoint(101 * MS, BUY, 10, 1)]
    backtest = [
        FillPoint(90 * MS, SELL, 10, 1),  # other side
        FillPoint(99 * MS, BUY, 10, 2),
        FillPoint(100 * MS, BUY, 10, 1),
        FillPoint(130 * MS, BUY, 11, 1),  # other price
    ]
    m = compare_fills(session, backtest, TOL)
    assert m.pairs == ((session[0], backtest[2]), (session[1], backtest[1]))
    assert m.only_session == ()
    assert m.only_backtest == (backtest[0], backtest[3])
    assert m.share == 2 / 4


def test_fills_outside_the_tolerances_do_not_match() -> None:
    session = [FillPoint(0, BUY, 10, 1), FillPoint(1000 * MS, SELL, 20, 1)]
    backtest = [FillPoint(51 * MS, BUY, 10, 1), FillPoint(1000 * MS, SELL, 22, 1)]
    assert compare_fills(session, backtest, TOL).pairs == ()
    loose = compare_fills(session, backtest, Tolerance(51 * MS, 2))
    assert len(loose.pairs) == 2


def test_the_verdict_follows_the_matched_share() -> None:
    assert FillMatch((), (), ()).share == 1.0
    assert [verdict(s) for s in (1.0, 0.95, 0.94, 0.8, 0.79)] == [
        "agree",
        "agree",
        "close",
        "close",
        "differ",
    ]


TRADETUI = [sys.executable, "-m", "tradetui"]


def _tradetui(tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp),
        "XDG_DATA_HOME": str(tmp / "data"),
        "TRADETUI_CACHE_DIR": str(tmp / "cache"),
        **env,
    }
    return subprocess.run(
        [*TRADETUI, *args], capture_output=True, text=True, timeout=300, cwd=tmp, env=environ
    )


def _paper(tmp: Path, db: Path, *args: str, record: bool = True) -> dict[str, Any]:
    """A headless paper session stored in ``db``, recording its market into tmp/rec."""
    env = {"TRADETUI_STRATEGY__FEE_FLOOR": "false"}  # many fills to compare
    if record:
        env |= {"TRADETUI_RECORD__ENABLED": "true", "TRADETUI_RECORD__DIR": str(tmp / "rec")}
    r = _tradetui(
        tmp, "run", "--headless", "--speed", "max", "--json", "--db", str(db), *args, **env
    )
    assert r.returncode == 0, r.stderr
    return dict(json.loads(r.stdout))


def _reconcile(tmp: Path, db: Path, *flags: str) -> dict[str, Any]:
    r = _tradetui(tmp, "reconcile", "1", "--db", str(db), "--json", *flags)
    assert r.returncode == 0, r.stderr
    return dict(json.loads(r.stdout))


def _assert_repeated(r: dict[str, Any], fills: int) -> None:
    assert r["session_fills"] == fills > 20
    assert r["matched_share"] >= 0.95
    assert r["verdict"] == "agree"
    for key, p in r["pnl"].items():
        # A matched run trades the same: its PnL split is the session's to the cent.
        assert abs(Decimal(p["difference"])) < Decimal("0.01"), key


def test_a_paper_session_on_the_synthetic_market_reconciles(tmp_path: Path) -> None:
    db = tmp_path / "paper.db"
    summary = _paper(tmp_path, db, "--duration", "90", "--seed", "3")
    assert summary["recording"]
    r = _reconcile(tmp_path, db)
    _assert_repeated(r, summary["fills"])
    assert r["recording"] == summary["recording"]
    # The recording keeps exchange times in whole ms (Binance's), the session in ns.
    assert r["fill_time_diff_ms"]["max_abs"] < 1.0
    # The session's own orders replayed at their times fill as they did.
    orders = _reconcile(tmp_path, db, "--orders")
    assert orders["replayed"] == "the session's orders"
    assert orders["matched"] == orders["session_fills"] == orders["backtest_fills"]
    assert orders["orders_placed"]["backtest"] == orders["orders_placed"]["session"]
    assert abs(Decimal(orders["pnl"]["pnl_total"]["difference"])) < Decimal("0.01")


@pytest.mark.skipif(not USDM.exists(), reason=f"shared recordings not found at {USDM}")
@pytest.mark.usefixtures("simulated_catalogs")
def test_a_paper_session_on_a_replayed_file_reconciles(tmp_path: Path) -> None:
    db = tmp_path / "replay.db"
    market = f"replay:{USDM}"
    summary = _paper(tmp_path, db, "--duration", "90", "--market", market)
    r = _reconcile(tmp_path, db)
    _assert_repeated(r, summary["fills"])
    assert r["fill_time_diff_ms"]["max_abs"] == 0.0


def _one_line_failure(r: subprocess.CompletedProcess[str], *words: str) -> None:
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0]


def test_bad_sessions_are_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    db = tmp_path / "plain.db"
    _paper(tmp_path, db, "--duration", "5", record=False)
    _one_line_failure(
        _tradetui(tmp_path, "reconcile", "1", "--db", str(db)), "session 1", "record.enabled"
    )
    _one_line_failure(_tradetui(tmp_path, "reconcile", "9", "--db", str(db)), "no such session")
    _one_line_failure(
        _tradetui(tmp_path, "reconcile", "1", "--db", str(tmp_path / "none.db")), "none.db"
    )
    _one_line_failure(
        _tradetui(tmp_path, "reconcile", "1", "--db", str(db), "--time-ms", "-1"), "time-ms"
    )

    recorded = tmp_path / "recorded.db"
    summary = _paper(tmp_path, recorded, "--duration", "5")
    with sqlite3.connect(recorded) as conn:
        conn.execute("UPDATE sessions SET settings_json = NULL, mode = 'backtest'")
    _one_line_failure(
        _tradetui(tmp_path, "reconcile", "1", "--db", str(recorded)), "is a backtest session"
    )
    with sqlite3.connect(recorded) as conn:
        conn.execute("UPDATE sessions SET mode = 'paper'")
    _one_line_failure(
        _tradetui(tmp_path, "reconcile", "1", "--db", str(recorded)), "before sessions kept"
    )
    Path(summary["recording"][0]).unlink()
    _one_line_failure(
        _tradetui(tmp_path, "reconcile", "1", "--db", str(recorded)), "is missing", "restore"
    )
