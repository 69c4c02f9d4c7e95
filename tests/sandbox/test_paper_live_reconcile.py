"""`tradetui reconcile` on a paper session recorded against a `tradetui sandbox exchange`
process's live market: paper and backtest share the sim venue, so the backtest of the
recording makes the session's fills (issue 21; docs/reconcile.md)."""

from __future__ import annotations

from pathlib import Path

from tests.sandbox.matrix import finish, sandbox_process, spawn_tradetui
from tests.sandbox.test_paper_live_cli import paper_env
from tradetui.backtest.reconcile import AGREE_SHARE


async def test_a_recorded_paper_session_on_the_live_market_reconciles(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    async with sandbox_process() as url:
        env = paper_env(url, tmp_path) | {
            "TRADETUI_RECORD__ENABLED": "true",
            "TRADETUI_RECORD__DIR": str(tmp_path / "rec"),
        }
        args = ["run", "--headless", "--market", "live", "--venue", "binanceusdm"]
        proc = await spawn_tradetui(*args, "--duration", "12", "--json", "--db", str(db), env=env)
        run = await finish(proc)
    assert run.code == 0, run.err[-3000:]
    assert run.summary["recording"], run.err[-3000:]

    for extra in ([], ["--orders"]):
        done = await finish(
            await spawn_tradetui("reconcile", "1", "--db", str(db), "--json", *extra, env=env)
        )
        assert done.code == 0, done.err[-3000:]
        r = done.summary
        # Enough fills that one decision taken differently would show.
        assert r["session_fills"] >= 20, r
        assert r["matched_share"] >= AGREE_SHARE, (extra, r)
        assert r["verdict"] == "agree"
