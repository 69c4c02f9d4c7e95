"""What rate-limit pacing adds to each live request (prints one JSON object).

The live venue's request path (``LiveVenue._call``) now asks the pacer when the request may
go, counts it as sent and feeds it the answer's headers (``X-MBX-USED-WEIGHT-1M``, the order
counts). Measured here without the network, so only that work shows:

- ``pacer_us``: ``Pacer.schedule`` + ``sent`` + ``observe`` of a ccxt header dict as Binance
  answers carry them (ten headers), below the soft threshold (the usual case) and above it;
- ``call_us``: ``LiveVenue._call`` around an awaitable that returns at once, with pacing on
  (Binance USD-M's limits) and off (no limits advertised); ``added_us`` is the difference.

Medians and p99 over ``--n`` calls, µs.

    python bench/pacing_overhead.py [--n 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from tradetui.venues.live import LiveVenue
from tradetui.venues.pacing import Kind, Pacer, limits_from

USDM = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
]


def headers(weight: int) -> dict[str, str]:
    return {
        "Date": "Sun, 06 Dec 2026 23:00:00 GMT",
        "Content-Type": "application/json",
        "Content-Length": "312",
        "Connection": "keep-alive",
        "Server": "Tengine",
        "x-mbx-used-weight-1m": str(weight),
        "x-mbx-order-count-10s": "12",
        "x-mbx-order-count-1m": "40",
        "x-response-time": "2ms",
        "Access-Control-Allow-Origin": "*",
    }


def stats(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)
    return {
        "p50": round(statistics.median(ordered) / 1000, 3),
        "p99": round(ordered[int(len(ordered) * 0.99)] / 1000, 3),
    }


def pacer_cost(n: int, weight: int) -> dict[str, float]:
    pacer = Pacer(limits_from(USDM))
    h = headers(weight)
    out = []
    for i in range(n):
        now = time.time()
        t0 = time.perf_counter_ns()
        kind = Kind.PLACE if i % 2 else Kind.CANCEL
        pacer.schedule(kind, now)
        pacer.sent(kind, now)
        pacer.observe(h, now)
        out.append(time.perf_counter_ns() - t0)
    return stats(out)


class _Client:
    """Just what ``_call`` touches."""

    id = "binanceusdm"

    def __init__(self) -> None:
        self.options: dict[str, Any] = {"timeDifference": 1}
        self.last_response_headers: dict[str, str] | None = headers(100)


async def call_cost(n: int, paced: bool) -> dict[str, float]:
    client = _Client()
    venue = LiveVenue(client, "BTC/USDT:USDT")
    venue._pacer = Pacer(limits_from(USDM) if paced else [])
    answer = headers(100)

    async def request() -> int:
        client.last_response_headers = answer
        return 1

    out = []
    for i in range(n):
        kind = Kind.PLACE if i % 2 else Kind.CANCEL
        t0 = time.perf_counter_ns()
        await venue._call(request, kind)
        out.append(time.perf_counter_ns() - t0)
        if venue._pacer.limits:  # kept below the soft threshold: the work, not a wait
            for lim in venue._pacer.limits:
                lim.used = min(lim.used, 100)
    await venue.close()
    return stats(out)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    args = parser.parse_args()
    n = args.n
    on = await call_cost(n, paced=True)
    off = await call_cost(n, paced=False)
    result = {
        "n": n,
        "pacer_us": {"below_soft": pacer_cost(n, 100), "above_soft": pacer_cost(n, 2000)},
        "call_us": {"paced": on, "unpaced": off},
        "added_us": {k: round(on[k] - off[k], 3) for k in on},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
