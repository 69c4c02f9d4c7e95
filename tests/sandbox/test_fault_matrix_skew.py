"""Fault matrix: the exchange clock runs 1.5 s off ours (``--skew-ms``, in every time the
sandbox stamps: orders, trades, streams). The session syncs its clock offset at connect, so
its signed requests pass, its trade reads by time window miss nothing, and the four
invariants hold (tests/sandbox/matrix.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sandbox.matrix import (
    assert_invariants,
    exchange_view,
    headless,
    sandbox_process,
    session_env,
)

# Quotes close to mid so the synthetic prints fill within a few seconds.
QUOTING = {"TRADETUI_STRATEGY__MAX_SPREAD_TICKS": "4", "TRADETUI_QUOTING__MIN_AGE_MS": "0"}


@pytest.mark.parametrize("skew_ms", [1500, -1500])
async def test_a_skewed_exchange_clock_leaves_the_engine_agreeing_with_the_exchange(
    tmp_path: Path, skew_ms: int
) -> None:
    db = tmp_path / "live.db"
    async with sandbox_process("--skew-ms", str(skew_ms)) as url:
        run = await headless(4, db, session_env(url, tmp_path, **QUOTING))
        view = await exchange_view(url, synced=True)

    assert run.code == 0, run.err[-3000:]
    assert "-1021" not in run.err, run.err[-3000:]
    assert run.summary["fills"] > 0, run.err[-3000:]
    assert_invariants(run, view, [db])
