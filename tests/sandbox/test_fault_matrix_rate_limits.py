"""Issue 18's fault matrix, rate-limit headers near the limit: a headless live session against
a sandbox process whose limits sit just under the session's natural request rate (about 45 new
orders in 10 s and 90 request weight in its first minute with the default limits) must pace
itself from Binance's headers, never meet a 429 or 418, and pass the four invariants."""

from __future__ import annotations

import re
from pathlib import Path

from tests.sandbox.matrix import (
    assert_invariants,
    exchange_view,
    headless,
    sandbox_process,
    session_env,
    set_faults,
)

QUOTING = {"TRADETUI_STRATEGY__MAX_SPREAD_TICKS": "4", "TRADETUI_QUOTING__MIN_AGE_MS": "0"}
ORDERS_10S = 36
_STATUS = re.compile(r"(?<![\d,:.])(?:429|418)(?!\d)")
WEIGHT_1M = 120  # connecting alone weighs about 60 (position mode 30, commission rates 20, ...)


async def test_rate_limit_headers_near_the_limit(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    flags = ("--order-limit-10s", str(ORDERS_10S), "--weight-limit", str(WEIGHT_1M))
    async with sandbox_process(*flags) as url:
        run = await headless(10, db, session_env(url, tmp_path, **QUOTING))
        # The checks below come from the same IP: Binance's limit again, not the session's.
        limits = await set_faults(url, weight_limit=2400)
        view = await exchange_view(url)

    assert run.code == 0, run.err[-3000:]
    assert run.summary["fills"] > 0, run.err[-3000:]
    assert_invariants(run, view, [db])
    # The exchange never had to refuse us ...
    assert limits["limited"] == 0, run.err[-3000:]
    assert limits["banned"] == 0
    # ... although the session came near its limits and paced itself (logged once on).
    peak = limits["peak"]
    assert (
        peak["X-MBX-ORDER-COUNT-10S"] >= 0.8 * ORDERS_10S
        or peak["X-MBX-USED-WEIGHT-1M"] >= 0.8 * WEIGHT_1M
    ), peak
    assert run.err.count("rate pacing on from 80% of a limit") >= 1, run.err[-3000:]
    # A status, not digits of a port (127.0.0.1:44187) or of a log line's milliseconds (,418).
    assert not _STATUS.search(run.err), _STATUS.search(run.err)
