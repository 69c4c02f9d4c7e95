"""The console (`tradetui run --market live`, the command `tradetui --market live` forwards
to) paper-trading the live market of a sandbox process in a real terminal: the tmux script's
start, fills, flatten and quit, with no keys."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.sandbox.matrix import sandbox_process
from tests.tui.test_e2e_tmux import SCRIPT


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
async def test_console_paper_trades_the_live_market_under_tmux(tmp_path: Path) -> None:
    tradetui = Path(sys.executable).with_name("tradetui")
    async with sandbox_process() as url:
        env = dict(
            os.environ,
            PY=sys.executable,
            LAUNCH=f"{tradetui} run --market live --venue usdm --no-start --json",
            EXPECT=" PAPER .*live usdm│BTCUSDT",
            TRADETUI_VENUE__REST_URL=url,
            TRADETUI_VENUE__WS_URL=url.replace("http://", "ws://"),
            TRADETUI_VENUE__RATE_LIMIT="false",
            TRADETUI_ENGINE__CONTROL_SOCKET=str(tmp_path / "ctl.sock"),
            TRADETUI_STORE__DIR=str(tmp_path),
            TRADETUI_CATALOG_DIR=str(tmp_path / "markets"),
            TRADETUI_STRATEGY__MAX_SPREAD_TICKS="4",
            TRADETUI_QUOTING__MIN_AGE_MS="0",
        )
        proc = await asyncio.create_subprocess_exec(
            "bash",
            str(SCRIPT),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 150)
    text = out.decode()
    assert proc.returncode == 0, text
    assert "e2e: console shows" in text
    assert "e2e: quit with a flat position" in text
