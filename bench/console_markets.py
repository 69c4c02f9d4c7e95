"""What one repaint of the console costs with 1, 3 and 6 markets (prints one JSON object).

Each session quotes on the synthetic market for ``--seconds`` of market time (unpaced, on the
virtual clock); then the console is attached without running the engine (Textual's headless
driver at 120×35, so every pane and the markets table render) and ``refresh_view`` — what the
console does ten times a second — is timed ``--repaints`` times. With one market there is no
markets table (a one-market session); with several, every market is snapshotted each time.

    python bench/console_markets.py [--seconds 30] [--repaints 300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import tomllib
from typing import Any

from tradetui.config import Settings, settings_from_mapping
from tradetui.engine.engine import Command, CommandKind
from tradetui.host import BookHost, EngineHost, Host
from tradetui.session import build_book_session, build_paper_session
from tradetui.tui.app import make_app

# Markets the simulated exchanges list, each with what its synthetic market needs.
MARKETS = (
    ("BTCUSDT", "usdm", ""),
    ("ETHUSDT", "usdm", "start_price = 3000.0\n"),
    ("BTCUSD_PERP", "coinm", ""),
    ("ETHUSD_PERP", "coinm", "start_price = 3000.0\n"),
    ("BTCUSDT", "spot", ""),
    ("ETHUSDT", "spot", "start_price = 3000.0\n"),
)


def book_settings(n: int) -> Settings:
    text = "".join(
        f'[[markets]]\nsymbol = "{symbol}"\nvenue = "{venue}"\n'
        + (f"[markets.market]\n{market}" if market else "")
        for symbol, venue, market in MARKETS[:n]
    )
    return settings_from_mapping(tomllib.loads(text), {})


async def traded_host(n: int, seconds: float) -> Host:
    """A session of ``n`` markets that has quoted for ``seconds`` of market time."""
    host: Host
    if n == 1:
        host = EngineHost(build_paper_session(Settings(), seed=1, virtual=True), None)
    else:
        host = BookHost(build_book_session(book_settings(n), seed=1, virtual=True), None)
    host.apply_now(Command(CommandKind.START, reason="bench"))
    end = host.now_ns() + int(seconds * 1e9)
    await host.run(lambda: host.now_ns() >= end)
    return host


async def repaint_ms(host: Host, repaints: int) -> dict[str, Any]:
    app = make_app(host, live=False)
    times: list[float] = []
    async with app.run_test(size=(120, 35)) as pilot:
        await pilot.pause()
        for _ in range(repaints):
            t = time.perf_counter()
            app.refresh_view()
            times.append(time.perf_counter() - t)
            await pilot.pause()  # the screen updates as it would between repaints
    times.sort()
    return {
        "repaint_p50_ms": round(times[len(times) // 2] * 1e3, 3),
        "repaint_p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))] * 1e3, 3),
        "share_of_one_core_at_10_hz": round(sum(times) / len(times) * 10, 4),
    }


async def measure(n: int, args: argparse.Namespace) -> dict[str, Any]:
    return await repaint_ms(await traded_host(n, args.seconds), args.repaints)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="market time traded first")
    ap.add_argument("--repaints", type=int, default=300)
    args = ap.parse_args()
    out: dict[str, Any] = {"load_average_1m": round(os.getloadavg()[0], 2), "markets": {}}
    for n in (1, 3, 6):
        out["markets"][str(n)] = asyncio.run(measure(n, args))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
