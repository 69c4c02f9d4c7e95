"""Decision latency per market with 1, 3 and 10 markets quoting in one process (prints JSON).

Each market is a paper session of its own (synthetic market, sim venue, engine) and all run on
one event loop and one clock through the several-market runner (``run_book_paced``, as
`tradetui run` with [[markets]] does). Two figures per market:

- ``decision_us``: the engine's own decision latency (event in → first intent out), run
  unpaced on one virtual clock for --market-seconds (many decisions, interleaved);
- ``late_us``: at speed 1 on the wall clock for --seconds, from the moment an event was due
  (its delivery time) until its market's engine has handled it: its decision plus any wait
  behind other markets' events.

The target (issue 20): p99 with 10 markets ≤ 2× the 1-market figure of the same run. The
machine's load average is printed with the figures (CPU is shared).

``--console`` measures instead what the console does to decision latency: the same seeded
book (1 and 3 markets by default) paced at --speed on the virtual clock for --seconds of wall
time, headless and with the console attached (Textual's headless driver at 80×24, the markets
table and every pane repainting), each market's decision p50/p99, and how many of Python's
garbage collections began while an engine was handling an event or timer (each one's pause
lands in that decision's latency) with their total and longest pause.

    python bench/multi_market.py [--seconds 20] [--counts 1,3,10]
    python bench/multi_market.py --console [--seconds 30] [--speed 10] [--counts 1,3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import time
from typing import Any

from console_markets import book_settings  # the console bench's book of markets

from tradetui.config import Settings
from tradetui.core.clock import Clock, VirtualClock, WallClock
from tradetui.engine.engine import Command, CommandKind, Engine
from tradetui.engine.runner import KickQueue, PacedMarket, run_book_paced
from tradetui.host import BookHost, EngineHost, Host
from tradetui.session import PaperSession, build_book_session, build_paper_session
from tradetui.tui.app import make_app

# The simulated exchange's markets, cycled with new seeds past six.
_MARKETS = [
    ("synthetic:usdm:BTCUSDT", 0.0),
    ("synthetic:usdm:ETHUSDT", 3000.0),
    ("synthetic:coinm:BTCUSD_PERP", 0.0),
    ("synthetic:coinm:ETHUSD_PERP", 3000.0),
    ("synthetic:spot:BTCUSDT", 0.0),
    ("synthetic:spot:ETHUSDT", 3000.0),
]


def _pct(values: list[int], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000


def _sessions(count: int, clock: Clock, start_ns: int) -> list[PaperSession]:
    out = []
    for i in range(count):
        source, price = _MARKETS[i % len(_MARKETS)]
        settings = Settings().replace("market", source=source, start_price=price)
        out.append(
            build_paper_session(settings, seed=1 + i, virtual=False, start_ns=start_ns, clock=clock)
        )
    return out


async def run(count: int, seconds: float, market_seconds: float) -> dict[str, Any]:
    """Decision latency unpaced on one virtual clock (``market_seconds`` of market), then
    lateness at speed 1 on the wall clock (``seconds``)."""
    # 1. Unpaced: every market's decisions, interleaved on one virtual clock.
    t0 = WallClock().now_ns()
    virtual = VirtualClock(t0)
    fast = _sessions(count, virtual, t0)
    kick = asyncio.Event()
    paced = [PacedMarket(s.engine, s.venue, KickQueue(kick)) for s in fast]
    for s in fast:
        s.engine.control(Command(CommandKind.START, reason="bench"))
    end_ns = t0 + int(market_seconds * 1e9)
    gc.collect()
    await run_book_paced(paced, virtual, kick, None, lambda: virtual.now_ns() >= end_ns)
    # 2. Speed 1: how late each market's events are handled, behind the others'.
    clock = WallClock()
    start_ns = clock.now_ns() + 1_000_000_000  # the markets begin once all are built
    slow = _sessions(count, clock, start_ns)
    late: dict[int, list[int]] = {i: [] for i in range(count)}
    paced = [PacedMarket(s.engine, s.venue, KickQueue(kick)) for s in slow]
    index = {id(p): i for i, p in enumerate(paced)}

    def after(market: PacedMarket, t: int) -> None:
        late[index[id(market)]].append(time.time_ns() - t)

    for s in slow:
        s.engine.control(Command(CommandKind.START, reason="bench"))
    end = time.monotonic() + 1.0 + seconds
    gc.collect()
    await run_book_paced(paced, clock, kick, 1.0, lambda: time.monotonic() >= end, None, after)
    markets: list[dict[str, Any]] = []
    for i, f in enumerate(fast):
        lat = f.engine.latency_percentiles_us()
        markets.append(
            {
                "market": f"{f.engine.instrument.venue}:{f.engine.instrument.symbol}",
                "decisions": lat["count"],
                "decision_us_p50": round(lat["p50"], 1),
                "decision_us_p99": round(lat["p99"], 1),
                "late_events": len(late[i]),
                "late_us_p50": round(_pct(late[i], 0.5), 1),
                "late_us_p99": round(_pct(late[i], 0.99), 1),
            }
        )
    return {
        "markets": count,
        "decision_us_p99_worst": max(m["decision_us_p99"] for m in markets),
        "decision_us_p99_median": statistics.median(m["decision_us_p99"] for m in markets),
        "late_us_p99_worst": max(m["late_us_p99"] for m in markets),
        "per_market": markets,
    }


class HandlerCollections:
    """Garbage collections that begin while an engine handles an event or a timer."""

    def __init__(self) -> None:
        self.inside = 0  # engines handling something now (0 or 1: one loop)
        self.pauses_ms: list[float] = []
        self._started_ns: int | None = None

    def watch(self, engine: Engine) -> None:
        """Mark ``engine``'s handlers (instance attributes shadow the methods)."""
        for name in ("on_event", "on_timer"):
            handler = getattr(engine, name)

            def marked(*args: Any, _handler: Any = handler) -> None:
                self.inside += 1
                try:
                    _handler(*args)
                finally:
                    self.inside -= 1

            setattr(engine, name, marked)

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started_ns = time.perf_counter_ns() if self.inside else None
        elif self._started_ns is not None:
            self.pauses_ms.append((time.perf_counter_ns() - self._started_ns) / 1e6)
            self._started_ns = None


def _book_host(count: int, speed: float) -> Host:
    if count == 1:
        return EngineHost(build_paper_session(Settings(), seed=1, virtual=True), speed)
    return BookHost(build_book_session(book_settings(count), seed=1, virtual=True), speed)


async def console_run(count: int, seconds: float, speed: float, console: bool) -> dict[str, Any]:
    """One seeded book of ``count`` markets paced at ``speed`` for ``seconds`` of wall time,
    headless or with the console attached."""
    host = _book_host(count, speed)
    engines = [h.engine for h in host.hosts] if isinstance(host, BookHost) else [host.engine]
    watch = HandlerCollections()
    for e in engines:
        watch.watch(e)
    host.apply_now(Command(CommandKind.START, reason="bench"))
    gc.collect()
    gc.callbacks.append(watch)
    try:
        if console:
            app = make_app(host)
            async with app.run_test(size=(80, 24)):
                await asyncio.sleep(seconds)
        else:
            end = time.monotonic() + seconds
            await host.run(lambda: time.monotonic() >= end)
    finally:
        gc.callbacks.remove(watch)
    markets: list[dict[str, Any]] = []
    for e in engines:
        lat = e.latency_percentiles_us()
        markets.append(
            {
                "market": f"{e.instrument.venue}:{e.instrument.symbol}",
                "decisions": lat["count"],
                "decision_us_p50": round(lat["p50"], 1),
                "decision_us_p99": round(lat["p99"], 1),
            }
        )
    pauses = watch.pauses_ms
    return {
        "decision_us_p99_worst": max(m["decision_us_p99"] for m in markets),
        "collections_in_handlers": len(pauses),
        "collections_in_handlers_ms_total": round(sum(pauses), 2),
        "collections_in_handlers_ms_max": round(max(pauses, default=0.0), 2),
        "per_market": markets,
    }


def _machine(load_before: tuple[float, float, float]) -> dict[str, Any]:
    """The CPUs and the load average before and after the runs (the CPUs are shared)."""
    return {
        "cpus": os.cpu_count(),
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
    }


def console_main(args: argparse.Namespace, counts: list[int]) -> None:
    load_before = os.getloadavg()
    runs = {
        str(n): {
            "headless": asyncio.run(console_run(n, args.seconds, args.speed, False)),
            "console": asyncio.run(console_run(n, args.seconds, args.speed, True)),
        }
        for n in counts
    }
    out = {
        "bench": "multi_market_console",
        "seconds_per_run": args.seconds,
        "speed": args.speed,
        **_machine(load_before),
        "markets": runs,
    }
    print(json.dumps(out, indent=1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="wall time per run")
    ap.add_argument("--market-seconds", type=float, default=300.0, help="unpaced market time")
    ap.add_argument("--counts", default=None, help="numbers of markets (1,3,10; --console 1,3)")
    ap.add_argument("--console", action="store_true", help="headless vs with the console")
    ap.add_argument("--speed", type=float, default=10.0, help="market speed with --console")
    args = ap.parse_args()
    counts = [int(c) for c in (args.counts or ("1,3" if args.console else "1,3,10")).split(",")]
    if args.console:
        console_main(args, counts)
        return
    load_before = os.getloadavg()
    runs = [asyncio.run(run(n, args.seconds, args.market_seconds)) for n in counts]
    base = runs[0]
    last = runs[-1]
    print(
        json.dumps(
            {
                "bench": "multi_market",
                "seconds_per_run": args.seconds,
                "market_seconds_unpaced": args.market_seconds,
                **_machine(load_before),
                "runs": runs,
                "decision_p99_ratio": round(
                    last["decision_us_p99_worst"] / base["decision_us_p99_worst"], 2
                )
                if base["decision_us_p99_worst"]
                else None,
                "decision_p99_median_ratio": round(
                    last["decision_us_p99_median"] / base["decision_us_p99_median"], 2
                ),
                "late_p99_ratio": round(last["late_us_p99_worst"] / base["late_us_p99_worst"], 2)
                if base["late_us_p99_worst"]
                else None,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
