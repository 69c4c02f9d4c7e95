"""The live Binance feed against the loopback sandbox (prints one JSON object).

Measures, on the synthetic market advancing on the wall clock:

- recovery: every websocket dropped (every 0.5 s, with the backoff reset after 0.4 s
  LIVE), then the time until the feed is LIVE again (its new
  book proven by the diff chain from a fresh REST snapshot), and independently verified: a
  fresh REST snapshot of the sandbox taken when the feed's book is at the same update id has
  the same levels (top ``--levels`` a side). p50/p99/max over ``--drops`` drops.
- per-message cost: receive time (``time.time_ns()`` when the frame was read) → the sink
  called with its first event, p50/p99/max, against `tradetui sandbox exchange` in its own
  process, with and without a FeedRecorder on ``on_raw``; and once with the sandbox on the
  feed's own event loop (its publishing then competes with the feed, which shows in the tail).
- decode + sequence alone (no network): StreamDecoder.message per message of the shared
  USD-M recording, when ../shared/data is present.

    python bench/feed_recovery.py [--drops 20] [--seconds 10] [--levels 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from tradetui.core.types import MarketEvent, Side
from tradetui.market import decode
from tradetui.market.decode import Grid
from tradetui.market.files import ReplayReport, read_lines
from tradetui.market.messages import StreamDecoder
from tradetui.market.recorder import FeedRecorder
from tradetui.market.synthetic import SyntheticMarket
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.sandbox.process import sandbox_url, spawn_sandbox
from tradetui.venues.binance_stream import BinanceStreamFeed, FeedState, ReconnectPolicy
from tradetui.venues.sim_listing import listed_instrument

INST = listed_instrument("BTCUSDT", "usdm")
USDM_FILE = Path(__file__).parents[1] / "../shared/data/binance-usdm/btcusdt_20240808.gz"
_VERIFY_TIMEOUT_S = 10.0
_DROP_EVERY_S = 0.5


def pct(xs: list[float], q: float) -> float:
    """The q-quantile of ``xs`` (nearest rank), in the units of ``xs``."""
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


def summary(xs: list[float], digits: int = 1) -> dict[str, float | int]:
    if not xs:
        return {"n": 0}
    return {
        "n": len(xs),
        "p50": round(pct(xs, 0.5), digits),
        "p99": round(pct(xs, 0.99), digits),
        "max": round(max(xs), digits),
    }


def make_feed(server: SandboxExchange) -> BinanceStreamFeed:
    return BinanceStreamFeed(
        INST,
        ws_url=f"ws://127.0.0.1:{server.port}",
        rest_url=server.rest_url,
        stale_s=0,
        # Drops come every _DROP_EVERY_S here: a connection LIVE that long counts as healthy, so
        # each drop is measured from the first backoff step, as an isolated drop would be.
        reconnect=ReconnectPolicy(initial_s=0.05, healthy_s=_DROP_EVERY_S - 0.1),
        seed=1,
    )


async def verified(
    feed: BinanceStreamFeed, http: aiohttp.ClientSession, server: SandboxExchange, levels: int
) -> bool:
    """True when a fresh REST snapshot equals the feed's book at the same update id."""
    prices, sizes = Grid(INST.tick_size), Grid(INST.lot_size)
    deadline = time.monotonic() + _VERIFY_TIMEOUT_S
    while time.monotonic() < deadline:
        async with http.get(f"{server.rest_url}/fapi/v1/depth?symbol=BTCUSDT&limit=1000") as r:
            snap = decode.SNAPSHOT.decode(await r.read())
        book = feed.book
        if book is not None and book.last_id == snap.last_update_id:
            bids = list(sizes.levels(prices, snap.bids[:levels]))
            asks = list(sizes.levels(prices, snap.asks[:levels]))
            return (book.book.levels(Side.BUY, levels), book.book.levels(Side.SELL, levels)) == (
                bids,
                asks,
            )
        await asyncio.sleep(0.002)
    return False


async def recoveries(
    server: SandboxExchange, drops: int, levels: int
) -> tuple[list[float], list[float], int]:
    """(drop → LIVE ms, drop → verified ms, verified count) over ``drops`` drops."""
    feed = make_feed(server)
    task = asyncio.create_task(feed.run(lambda _ev: None))
    live_ms: list[float] = []
    verify_ms: list[float] = []
    ok = 0
    async with aiohttp.ClientSession() as http:
        await wait_live(feed, 1)
        for k in range(drops):
            await asyncio.sleep(_DROP_EVERY_S)
            t0 = time.perf_counter()
            await server.drop_websockets()
            await wait_live(feed, k + 2)
            live_ms.append((time.perf_counter() - t0) * 1e3)
            good = await verified(feed, http, server, levels)
            verify_ms.append((time.perf_counter() - t0) * 1e3)
            ok += good
    await feed.close()
    await task
    return live_ms, verify_ms, ok


async def wait_live(feed: BinanceStreamFeed, connects: int) -> None:
    deadline = time.monotonic() + _VERIFY_TIMEOUT_S
    while not (feed.state is FeedState.LIVE and feed.stats.connects >= connects):
        if time.monotonic() > deadline:
            raise TimeoutError(f"feed not LIVE on connection {connects}")
        await asyncio.sleep(0.001)


async def message_costs(
    ws_url: str, rest_url: str, seconds: float, record: bool
) -> dict[str, dict[str, float | int]]:
    """Receive → sink latency (µs) of each message's first event, by event type."""
    feed = BinanceStreamFeed(INST, ws_url=ws_url, rest_url=rest_url, stale_s=0)
    by_kind: dict[str, list[float]] = {}
    last_local = [0]

    def sink(ev: MarketEvent) -> None:
        now = time.time_ns()
        if ev.local_ns != last_local[0]:  # first event of a message
            last_local[0] = ev.local_ns
            by_kind.setdefault(type(ev).__name__, []).append((now - ev.local_ns) / 1e3)

    with tempfile.TemporaryDirectory() as tmp:
        recorder = FeedRecorder(Path(tmp), "bench", INST, lambda: feed.book) if record else None
        if recorder is not None:
            feed.on_raw = recorder.on_raw
        task = asyncio.create_task(feed.run(sink))
        await wait_live(feed, 1)
        by_kind.clear()
        await asyncio.sleep(seconds)
        await feed.close()
        await task
        if recorder is not None:
            recorder.close()
    every = [x for xs in by_kind.values() for x in xs]
    out = {"all": summary(every)}
    out |= {k: summary(v) for k, v in sorted(by_kind.items())}
    return out


def decode_costs() -> dict[str, Any] | None:
    """StreamDecoder.message per message of the shared recording (µs), no network."""
    if not USDM_FILE.is_file():
        return None
    lines = list(read_lines(USDM_FILE, lambda _n, _m: None))
    decoder = StreamDecoder(INST, ReplayReport(), lambda _m: None, spot=False)
    per: dict[str, list[float]] = {}
    clock = time.perf_counter_ns
    for line in lines:
        sp = line.find(b" ")
        local_ns, body = int(line[:sp]), line[sp + 1 :]
        name = decode.stream_name(body)
        kind = decode.stream_kind(name) if name else "snapshot"
        t = clock()
        try:
            decoder.message(local_ns, body)
        except (ValueError, msgspec.DecodeError):
            continue
        per.setdefault(kind, []).append((clock() - t) / 1e3)
    return {k: summary(v, 2) for k, v in sorted(per.items())}


async def sandbox_process() -> tuple[asyncio.subprocess.Process, str]:
    """`tradetui sandbox exchange` in its own process (so it does not share our loop)."""
    proc = await spawn_sandbox()
    try:
        return proc, await sandbox_url(proc)
    except (RuntimeError, TimeoutError):
        proc.kill()
        raise


async def run(drops: int, seconds: float, levels: int) -> dict[str, Any]:
    market = SyntheticMarket(INST, seed=1, start_ns=time.time_ns()).events()
    async with SandboxExchange(INST, market, api_key="k", api_secret="s") as server:
        live_ms, verify_ms, ok = await recoveries(server, drops, levels)
        ws = f"ws://127.0.0.1:{server.port}"
        shared = await message_costs(ws, server.rest_url, seconds, record=False)
    proc, rest = await sandbox_process()
    try:
        ws = rest.replace("http://", "ws://")
        plain = await message_costs(ws, rest, seconds, record=False)
        recorded = await message_costs(ws, rest, seconds, record=True)
    finally:
        proc.send_signal(signal.SIGINT)
        await proc.wait()
    return {
        "bench": "feed_recovery",
        "recovery_drop_to_live_ms": summary(live_ms),
        "recovery_drop_to_verified_ms": summary(verify_ms),
        "recovery_verified": f"{ok}/{drops}",
        "recovery_target_ms": 2000,
        "verified_levels_per_side": levels,
        "receive_to_sink_us": plain,
        "receive_to_sink_us_recording": recorded,
        "receive_to_sink_us_sandbox_on_our_loop": shared,
        "decode_sequence_us_shared_file": decode_costs(),
        "seconds_per_cost_run": seconds,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--drops", type=int, default=20)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--levels", type=int, default=200)
    args = p.parse_args()
    print(json.dumps(asyncio.run(run(args.drops, args.seconds, args.levels))))


if __name__ == "__main__":
    main()
