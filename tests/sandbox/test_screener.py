"""The screener against the sandbox serving many symbols: every symbol gets its figures from
public streams spread over several connections, and a dropped connection comes back alone."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from typing import Any

from tests.sandbox.conftest import KEY, SECRET
from tradetui.market.calibration import params_for
from tradetui.market.synthetic import SyntheticMarket
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.sandbox.process import sandbox_url, spawn_sandbox
from tradetui.sandbox.universe import UniverseSpec
from tradetui.screener.service import Screener, load_instruments
from tradetui.venues.binance_stream import ReconnectPolicy
from tradetui.venues.sim_listing import listed_instrument

BTC = listed_instrument("BTCUSDT")
SYMBOLS = 220
# A flat rate profile (the 220th symbol still ~14 updates/s) so every symbol shows figures
# within seconds; the bench uses Binance's rates.
SPEC = UniverseSpec(SYMBOLS, bbo_hz=60.0, trade_hz=20.0, decay=0.3)


def _sandbox() -> SandboxExchange:
    market = SyntheticMarket(BTC, params_for(BTC), seed=1, start_ns=time.time_ns()).events()
    return SandboxExchange(BTC, market, api_key=KEY, api_secret=SECRET, universe=SPEC)


async def _until(check, timeout_s: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_every_symbol_gets_figures_and_a_dropped_shard_resumes_alone() -> None:
    async with _sandbox() as server:
        instruments = await load_instruments("binanceusdm", server.rest_url)
        # One REST request for the symbol list, nothing else.
        assert [p for _, p in server.requests] == ["/fapi/v1/exchangeInfo"]
        assert len(instruments) == SYMBOLS
        screener = Screener(
            "binanceusdm",
            instruments,
            f"ws://127.0.0.1:{server.port}",
            routed=True,
            max_streams=100,
            reconnect=ReconnectPolicy(initial_s=0.2, jitter=0.0),
        )
        status = screener.feed.status
        # 220 book streams on /public, 220 aggTrade + !ticker@arr on /market: 3 + 3 shards.
        assert [(s.shard.path, len(s.shard.names)) for s in status] == [
            ("/market/stream", 100),
            ("/market/stream", 100),
            ("/market/stream", 21),
            ("/public/stream", 100),
            ("/public/stream", 100),
            ("/public/stream", 20),
        ]
        run = asyncio.create_task(screener.run())
        try:
            await _until(lambda: all(s.state == "live" and s.messages > 0 for s in status))
            victim = status[4]  # the second /public shard
            target = victim.shard.names[0]
            before = [s.messages for s in status]
            answer = await server.apply_faults({"drop_stream": target})
            assert answer["dropped"] == 1
            await _until(lambda: victim.connects == 2 and victim.state == "live")
            # The others kept streaming while it was down, on their first connection.
            for i, s in enumerate(status):
                if s is not victim:
                    assert s.connects == 1
                    assert s.messages > before[i]
            resumed = victim.messages
            await _until(lambda: victim.messages > resumed + 50)
            await asyncio.sleep(3.0)  # a few one-second samples for every symbol
        finally:
            screener.close()
            await run
        rows = screener.rows("volume")
        assert screener.decoder.skipped == 0
        assert {r.symbol for r in rows} == {i.symbol for i in instruments}
        for r in rows:
            assert r.spread_ticks >= 1, r
            assert r.spread_bps > 0, r
            assert 0 <= r.vol_1m_bps <= r.vol_1h_bps, r
            assert r.quote_volume > 0, r
            assert r.trades_per_min >= 0, r
            assert r.mm_net_bps == r.spread_bps - 2 * screener.book.maker_fee_bps


async def screen_json(sandbox_flags: list[str], screen_flags: list[str]) -> dict[str, Any]:
    """``tradetui screen --json --duration 6s SCREEN_FLAGS`` against ``tradetui sandbox
    exchange SANDBOX_FLAGS`` serving many symbols at a flat rate profile; its report."""
    rates = ["--bbo-hz", "60", "--trade-hz", "20", "--rate-decay", "0.3"]
    proc = await spawn_sandbox(*sandbox_flags, *rates)
    try:
        url = await sandbox_url(proc)
        screen = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tradetui",
            "screen",
            "--json",
            "--duration",
            "6s",
            "--rest-url",
            url,
            "--ws-url",
            url.replace("http", "ws"),
            *screen_flags,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(screen.communicate(), 120)
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), 30)
    assert screen.returncode == 0, err.decode()
    report: dict[str, Any] = json.loads(out)
    return report


async def test_screen_json_lists_every_symbol_the_sandbox_serves() -> None:
    report = await screen_json(["--symbols", str(SYMBOLS)], ["--max-streams", "150"])
    assert report["symbols"] == SYMBOLS
    assert len(report["rows"]) == SYMBOLS
    assert len(report["shards"]) == 4  # 221 /market and 220 /public streams, 150 a shard
    for row in report["rows"]:
        for key in ("spread_ticks", "spread_bps", "vol_1m_bps", "vol_1h_bps", "quote_volume"):
            assert row[key] is not None, row
        assert row["trades_per_min"] is not None
        assert row["mm_net_bps"] is not None
    volumes = [r["quote_volume"] for r in report["rows"]]
    assert volumes == sorted(volumes, reverse=True)  # --sort volume is the default
