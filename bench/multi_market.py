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

    python bench/multi_market.py [--seconds 20] [--counts 1,3,10]
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

from tradetui.config import Settings
from tradetui.core.clock import Clock, VirtualClock, WallClock
from tradetui.engine.engine import Command, CommandKind
from tradetui.engine.runner import KickQueue, PacedMarket, run_book_paced
from tradetui.session import PaperSession, build_paper_session

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0, help="wall time per run")
    ap.add_argument("--market-seconds", type=float, default=300.0, help="unpaced market time")
    ap.add_argument("--counts", default="1,3,10", help="numbers of markets to run")
    args = ap.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
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
                "cpus": os.cpu_count(),
                "load_avg_before": [round(x, 2) for x in load_before],
                "load_avg_after": [round(x, 2) for x in os.getloadavg()],
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
