"""Issue 18's fault matrix, "new-URL-only sandbox": the whole headless live session against a
sandbox whose legacy websocket bases (/ws, /stream) answer HTTP 404, so the market feed and
the user stream must use Binance's routed USD-M bases (/public, /private); and, for an
endpoint that still serves the legacy bases, ``feed.ws_routing = "legacy"`` against a
``--legacy-ws`` sandbox. Both must leave the four invariants true (tests/sandbox/matrix.py)."""

from __future__ import annotations

import re
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


@pytest.mark.parametrize(
    ("flags", "faults", "routing"),
    [
        pytest.param((), {"legacy_ws_404": 1}, "split", id="new-urls-only"),
        pytest.param(("--legacy-ws",), {}, "legacy", id="legacy-urls"),
    ],
)
async def test_session_on_the_websocket_bases_keeps_the_invariants(
    tmp_path: Path, flags: tuple[str, ...], faults: dict[str, int], routing: str
) -> None:
    db = tmp_path / "live.db"
    async with sandbox_process(*flags) as url:
        if faults:
            state = await set_faults(url, **faults)
            assert state["legacy_ws_404"] == 1
        env = session_env(url, tmp_path, TRADETUI_FEED__WS_ROUTING=routing, **QUOTING)
        run = await headless(4, db, env)
        view = await exchange_view(url)

    assert run.code == 0, run.err[-3000:]
    assert "market feed stopped" not in run.err
    assert "HTTP 404" not in run.err
    assert run.summary["fills"] > 0, run.err[-3000:]
    assert_invariants(run, view, [db])


async def test_legacy_routing_where_only_the_new_bases_are_served_fails_with_one_line(
    tmp_path: Path,
) -> None:
    async with sandbox_process() as url:
        await set_faults(url, legacy_ws_404=1)
        env = session_env(url, tmp_path, TRADETUI_FEED__WS_ROUTING="legacy")
        run = await headless(3, tmp_path / "live.db", env)
        view = await exchange_view(url)

    assert run.code != 0
    last = run.err.strip().splitlines()[-1]
    assert last.startswith("error: "), last
    assert "user stream did not connect" in last, last
    # Any line quoting the refused URL shows no listenKey.
    assert re.search(r"/ws/[0-9A-Za-z]{32}", run.err) is None, run.err[-2000:]
    assert (view.position, view.trades, view.open_orders) == (0.0, {}, [])
