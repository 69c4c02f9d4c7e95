"""Issue 18's fault matrix, hedge-mode account: the start is refused before any order with one
line saying how to switch the account, and once it is switched (as that line says) the same
exchange trades with the four invariants (tests/sandbox/matrix.py)."""

from __future__ import annotations

from pathlib import Path

from tests.sandbox.matrix import (
    KEY,
    SECRET,
    assert_invariants,
    assert_refused_untouched,
    exchange_view,
    headless,
    sandbox_process,
    session_env,
)
from tests.sandbox.test_fault_matrix import QUOTING
from tradetui.sandbox.client import loopback_client


async def test_hedge_mode_account_is_refused_untouched_then_trades_once_switched(
    tmp_path: Path,
) -> None:
    refused_db, db = tmp_path / "refused.db", tmp_path / "live.db"
    async with sandbox_process("--hedge-mode") as url:
        env = session_env(url, tmp_path, **QUOTING)
        refused = await headless(3, refused_db, env)
        refused_view = await exchange_view(url)

        client = loopback_client(url, KEY, SECRET)
        try:
            await client.load_markets()
            assert (await client.fetch_position_mode("BTC/USDT:USDT"))["hedged"] is True
            await client.set_position_mode(False, "BTC/USDT:USDT")
        finally:
            await client.close()
        run = await headless(3, db, env)
        view = await exchange_view(url)

    assert_refused_untouched(refused, refused_view, [refused_db])
    error = refused.err.rstrip().splitlines()[-1]
    assert "hedge mode" in error
    assert "POST /fapi/v1/positionSide/dual dualSidePosition=false" in error

    assert run.code == 0, run.err[-3000:]
    assert run.summary["fills"] > 0, run.err[-3000:]
    assert_invariants(run, view, [db])
