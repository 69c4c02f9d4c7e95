"""Issue 18's fault matrix, listenKey expiry mid-session: the sandbox's listenKeys live 3 s
(Binance: 60 minutes) while ccxt.pro keeps them alive every 20 minutes, so the key expires
again and again under a running session; each renewal's POST is held 1.5 s, so fills made in
the silence reach the engine only by REST. The four invariants must hold
(tests/sandbox/matrix.py)."""

from __future__ import annotations

from pathlib import Path

from tests.sandbox.matrix import (
    assert_invariants,
    exchange_view,
    headless,
    sandbox_process,
    session_env,
    set_faults,
)
from tests.sandbox.test_fault_matrix import QUOTING

EXPIRED = "user stream down: the exchange expired the listenKey"


async def test_listen_key_expiry_mid_session_with_fills_during_the_silence(
    tmp_path: Path,
) -> None:
    db = tmp_path / "live.db"
    async with sandbox_process("--listen-key-ttl-s", "3") as url:
        await set_faults(url, delay_ms=1500, delay_count=-1, delay_only="POST /fapi/v1/listenKey")
        run = await headless(11, db, session_env(url, tmp_path, **QUOTING))
        view = await exchange_view(url)

    assert run.code == 0, run.err[-3000:]
    assert run.err.count(EXPIRED) >= 2, run.err[-3000:]
    assert "user stream reconnected" in run.err
    assert run.summary["fills"] > 0, run.err[-3000:]
    assert_invariants(run, view, [db])
    assert "listenKey=" not in run.err.replace("listenKey=<redacted>", "")
