"""What the console costs next to the engine (prints one JSON object).

Runs the same seeded paper session twice on the wall clock for ``--seconds``: headless, and
with the console attached (Textual's headless driver, 120×35, so every pane renders). The
market speed is set so the engine receives about ``--book-rate`` book updates per second.
Reports process CPU (share of one core), event-loop lag p99 (a 1 ms ticker's overshoot),
engine decision latency p99, and the console's first paint measured from the command line
in a pseudo-terminal.

    python bench/tui_cost.py [--seconds 10] [--book-rate 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

from tradetui.config import Settings
from tradetui.core.types import BookDelta, MarketEvent
from tradetui.engine.engine import Command, CommandKind
from tradetui.host import EngineHost
from tradetui.market.synthetic import SyntheticMarket
from tradetui.session import build_paper_session, sim_instrument
from tradetui.tui.app import make_app

SEED = 1
T0_NS = 1_700_000_000_000_000_000
_TICK_S = 0.001


def book_updates_per_market_s(seconds: float = 60.0) -> float:
    """Natural BookDelta rate of the synthetic market (per second of market time)."""
    market = SyntheticMarket(sim_instrument(Settings()), seed=SEED, start_ns=T0_NS).events()
    end = T0_NS + int(seconds * 1e9)
    n = 0
    for ev in market:
        if ev.local_ns > end:
            break
        n += type(ev) is BookDelta
    return n / seconds


def counted(events: Iterator[MarketEvent], counter: list[int]) -> Iterator[MarketEvent]:
    for ev in events:
        counter[0] += type(ev) is BookDelta
        yield ev


async def loop_lag(stop: asyncio.Event, lags_s: list[float]) -> None:
    """Overshoot of a 1 ms sleep, sampled continuously: how late the loop runs callbacks."""
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(_TICK_S)
        lags_s.append(time.perf_counter() - t - _TICK_S)


def p99(xs: list[float]) -> float:
    ys = sorted(xs)
    return ys[min(len(ys) - 1, int(len(ys) * 0.99))] if ys else 0.0


async def run_once(seconds: float, speed: float, with_ui: bool) -> dict[str, Any]:
    books = [0]
    settings = Settings()
    inst = sim_instrument(settings)
    session = build_paper_session(
        settings,
        seed=SEED,
        virtual=True,
        start_ns=T0_NS,
        events=counted(SyntheticMarket(inst, seed=SEED, start_ns=T0_NS).events(), books),
        exchange_ordered=True,  # the synthetic market's order is the exchange's
    )
    host = EngineHost(session, speed)
    host.engine.control(Command(CommandKind.START, reason="bench"))
    stop = asyncio.Event()
    lags: list[float] = []
    lag_task = asyncio.create_task(loop_lag(stop, lags))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    wall_end = wall0 + seconds
    if with_ui:
        app = make_app(host)

        async def stop_later() -> None:
            await asyncio.sleep(seconds)
            app.exit()

        exit_task = asyncio.create_task(stop_later())
        await app.run_async(headless=True, size=(120, 35))
        await exit_task
        await app.engine_stopped()
    else:
        await host.run(lambda: time.perf_counter() >= wall_end)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    stop.set()
    await lag_task
    lat = host.engine.latency_percentiles_us()
    return {
        "cpu_core_share": round(cpu / wall, 4),
        "book_updates_per_s": round(books[0] / wall, 1),
        "market_events": host.engine.market_events,
        "loop_lag_p99_ms": round(p99(lags) * 1e3, 3),
        "decision_latency_p99_us": round(lat["p99"], 1),
        "decisions": lat["count"],
    }


FIRST_PAINT_CMD = [
    sys.executable,
    "-c",
    "import asyncio; from tradetui.config import Settings; "
    "from tradetui.lifecycle import Lifecycle, RunPlan; from tradetui.tui.app import ConsoleFace; "
    "asyncio.run(Lifecycle(Settings(), RunPlan(seed=1)).run(ConsoleFace()))",
]


def first_paint_s(
    cmd: list[str], marker: bytes = b"Why this quote", limit_s: float = 20.0
) -> float:
    """Seconds from spawning ``cmd`` in a 120×35 pseudo-terminal until ``marker`` is drawn."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 35, 120, 0, 0))
    env = dict(os.environ, TERM="xterm-256color", COLUMNS="120", LINES="35")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    seen = b""
    elapsed = float("nan")
    try:
        while time.perf_counter() - t0 < limit_s:
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                try:
                    seen += os.read(master, 65536)
                except OSError:
                    break
                if marker in seen:
                    elapsed = time.perf_counter() - t0
                    break
        os.write(master, b"q")
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    finally:
        os.close(master)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--book-rate", type=float, default=100.0, help="book updates per second")
    args = parser.parse_args()
    speed = args.book_rate / book_updates_per_market_s()
    headless = asyncio.run(run_once(args.seconds, speed, with_ui=False))
    with_ui = asyncio.run(run_once(args.seconds, speed, with_ui=True))
    ui_cost = with_ui["cpu_core_share"] - headless["cpu_core_share"]
    base_lat = headless["decision_latency_p99_us"] or float("nan")
    out = {
        "seconds": args.seconds,
        "market_speed": round(speed, 3),
        "headless": headless,
        "with_ui": with_ui,
        "ui_cpu_core_share_over_headless": round(ui_cost, 4),
        "decision_latency_p99_ratio": round(with_ui["decision_latency_p99_us"] / base_lat, 3),
        "first_paint_s": round(first_paint_s(FIRST_PAINT_CMD), 3),
        "targets": {
            "ui_cpu_core_share_over_headless": 0.10,
            "loop_lag_p99_ms": 5.0,
            "decision_latency_p99_ratio": 1.2,
            "first_paint_s": 2.0,
        },
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
