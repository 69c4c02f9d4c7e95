"""Issue 18's fault matrix: a headless live session per fault, then the four invariants
(tests/sandbox/matrix.py): positions agree, every exchange trade stored once, nothing left
working, no halt unless the case calls for it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sandbox.matrix import (
    assert_invariants,
    exchange_view,
    headless,
    sandbox_process,
    session_env,
    set_faults,
)

# Quotes close to mid so the synthetic prints fill within a few seconds.
QUOTING = {"TRADETUI_STRATEGY__MAX_SPREAD_TICKS": "4", "TRADETUI_QUOTING__MIN_AGE_MS": "0"}


PLACE = "POST /fapi/v1/order"


@pytest.mark.parametrize(
    ("faults", "logged", "seconds"),
    [
        pytest.param({}, "", 3, id="no-fault"),
        # Placed at the exchange, answered 503 with Binance's -1001 body.
        pytest.param(
            {"lost": 503, "lost_count": 3, "lost_only": PLACE, "code": -1001},
            "outcome unknown",
            3,
            id="5xx-with-code-order-placed",
        ),
        # Answered 503 with Binance's -1000 body before reaching the matching engine.
        pytest.param(
            {"status": 503, "count": 3, "only": PLACE, "code": -1000},
            "rejected (other): not at the venue after",
            # Unknown orders count as working until recvWindow (5 s) has passed.
            8,
            id="5xx-order-not-placed",
        ),
        # Placed, then the connection closed before the answer.
        pytest.param(
            {"lost": 0, "lost_count": 3, "lost_only": PLACE},
            "outcome unknown",
            3,
            id="lost-response",
        ),
    ],
)
async def test_fault_leaves_the_engine_agreeing_with_the_exchange(
    tmp_path: Path, faults: dict[str, int | str], logged: str, seconds: int
) -> None:
    db = tmp_path / "live.db"
    async with sandbox_process() as url:
        if faults:
            await set_faults(url, **faults)
        run = await headless(seconds, db, session_env(url, tmp_path, **QUOTING))
        view = await exchange_view(url)

    assert run.code == 0, run.err[-3000:]
    assert logged in run.err
    assert run.summary["fills"] > 0, run.err[-3000:]
    assert_invariants(run, view, [db])
