"""Engine decision latency with the Telegram notifier attached while Telegram misbehaves.

One process, one pre-generated synthetic market, the same paper session run through
``EngineHost`` paced at ``--speed`` × real time (so the engine and the notifier share the
event loop and the wall clock as in a real run) in three cases, round robin ``--rounds``
times so load from other processes hits each case alike: without Telegram, with Telegram
unreachable (connection refused), and with every sendMessage answered 429 (retry_after 1 s).
The decision latency is measured inside the engine's synchronous handling of one event, so
Telegram can only move it through the garbage collector or the CPU it takes from the same
process. While Telegram is attached an extra alert is queued every 5 ms of wall time on top
of the engine's own (fill digests every 0.2 s, state changes), so the queue overflows and
drops. Then, with a healthy loopback Bot API and the engine at 10×, /status round trips are
timed.

    python bench/telegram_overhead.py [--seconds 400] [--speed 40] [--rounds 3] [--seed 1]

Prints one JSON object: pooled decision latency p50/p99 (µs) per case and their ratios to
the no-Telegram case, plus /status reply latency (ms).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import json
import socket
import statistics
import time
from typing import Any

from tradetui.alerts.message import AlertKind, Level
from tradetui.alerts.telegram import TelegramService
from tradetui.config import Settings, TelegramSettings
from tradetui.core.types import MarketEvent
from tradetui.engine.engine import Command, CommandKind
from tradetui.host import EngineHost
from tradetui.market.synthetic import SyntheticMarket
from tradetui.sandbox.telegram import SandboxBotApi
from tradetui.session import build_paper_session, sim_instrument

T0_NS = 1_700_000_000_000_000_000
TOKEN = "777:bench-token"
CHAT = 5


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _settings(base_url: str | None) -> Settings:
    s = Settings()
    if base_url is None:
        return s
    t = TelegramSettings(
        enabled=True, api_base_url=base_url, chats=f"{CHAT}:trader", digest_interval_s=0.2
    )
    return dataclasses.replace(s, telegram=t)


async def _one_run(
    events: list[MarketEvent], seed: int, end_ns: int, speed: float, base_url: str | None
) -> tuple[list[int], dict[str, int]]:
    """Decision latencies (ns) of one paced run, and the notifier's counters."""
    settings = _settings(base_url)
    session = build_paper_session(
        settings,
        seed=seed,
        virtual=True,
        start_ns=T0_NS,
        events=iter(events),
        exchange_ordered=True,  # the synthetic market's order is the exchange's
    )
    host = EngineHost(session, speed)
    service = TelegramService(host, settings, TOKEN) if base_url is not None else None
    noise: asyncio.Task[None] | None = None
    if service is not None:
        await service.start()
        # Connected before trading when the Bot API answers at all (it never does when down).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(service.ready.wait(), 2.0)
        notifier = service.notifier

        async def spam() -> None:
            i = 0
            while True:
                await asyncio.sleep(0.005)
                i += 1
                notifier.alert(Level.INFO, AlertKind.ERROR, "NOISE", f"extra alert {i}")

        noise = asyncio.create_task(spam())
    host.engine.control(Command(CommandKind.START, reason="bench"))
    gc.collect()
    wall = time.perf_counter()
    await host.run(lambda: host.now_ns() >= end_ns)
    wall = time.perf_counter() - wall
    engine = host.engine
    latencies = list(engine.latencies_ns[: min(engine.latency_count, len(engine.latencies_ns))])
    counts: dict[str, int] = {"fills": engine.fills}
    if service is not None:
        assert noise is not None
        noise.cancel()
        st = service.notifier.stats
        counts |= {"alerts_dropped": st.dropped, "send_retries": st.retries, "sent": st.sent}
        await service.stop(drain_s=0.0)
    return latencies, counts


async def _reply_latency(rounds: int) -> dict[str, float]:
    async with SandboxBotApi(TOKEN) as api:
        settings = _settings(api.base_url)
        session = build_paper_session(settings, virtual=True)
        host = EngineHost(session, 10.0)
        service = TelegramService(host, settings, TOKEN, poll_timeout_s=5.0)
        await service.start()
        done = False
        task = asyncio.create_task(host.run(lambda: done))
        host.send(Command(CommandKind.START, reason="bench"))
        await asyncio.wait_for(service.ready.wait(), 10)
        times_ms = []
        for _ in range(rounds):
            before = len(api.sent_to(CHAT))
            t = time.perf_counter()
            api.inject_message(CHAT, "/status")
            m = await api.wait_for_message(CHAT, "BTCUSDT on sim", timeout_s=10, after=before)
            assert m is not None, "no /status reply"
            times_ms.append((time.perf_counter() - t) * 1e3)
        done = True
        await task
        await service.stop(drain_s=0.0)
    times_ms.sort()
    return {
        "rounds": rounds,
        "p50_ms": round(statistics.median(times_ms), 2),
        "max_ms": round(times_ms[-1], 2),
    }


def _pct(samples_ns: list[int]) -> dict[str, float]:
    xs = sorted(samples_ns)
    n = len(xs)
    return {
        "samples": n,
        "p50_us": round(xs[n // 2] / 1e3, 2),
        "p99_us": round(xs[min(n - 1, int(n * 0.99))] / 1e3, 2),
        "max_us": round(xs[-1] / 1e3, 2),
    }


async def _main(seconds: float, speed: float, seed: int, rounds: int) -> dict[str, Any]:
    instrument = sim_instrument(Settings())
    end_ns = T0_NS + int(seconds * 1e9)
    events: list[MarketEvent] = []
    for ev in SyntheticMarket(instrument, seed=seed, start_ns=T0_NS).events():
        if ev.exch_ns > end_ns:
            break
        events.append(ev)
    names = ("no_telegram", "telegram_down", "telegram_429")
    samples: dict[str, list[int]] = {n: [] for n in names}
    extra: dict[str, dict[str, int]] = {n: {} for n in names}
    down_url = f"http://127.0.0.1:{_free_port()}"
    async with SandboxBotApi(TOKEN) as api:
        # getMe and polling work; every alert is refused with a flood limit.
        api.faults.fail_next(429, count=-1, retry_after_s=1, methods=("sendMessage",))
        urls = {"no_telegram": None, "telegram_down": down_url, "telegram_429": api.base_url}
        # Round robin, so load from other processes on the machine hits every case alike.
        for _ in range(rounds):
            for name in names:
                lat, counts = await _one_run(events, seed, end_ns, speed, urls[name])
                samples[name] += lat
                for k, v in counts.items():
                    extra[name][k] = extra[name].get(k, 0) + v
        extra["telegram_429"]["sendMessage_calls"] = api.count("sendMessage")
    runs = {n: _pct(samples[n]) | extra[n] for n in names}
    base = runs["no_telegram"]
    return {
        "market_seconds_per_run": seconds,
        "speed": speed,
        "rounds": rounds,
        "seed": seed,
        "decision_latency": runs,
        "p50_ratio_down": round(runs["telegram_down"]["p50_us"] / base["p50_us"], 3),
        "p99_ratio_down": round(runs["telegram_down"]["p99_us"] / base["p99_us"], 3),
        "p50_ratio_429": round(runs["telegram_429"]["p50_us"] / base["p50_us"], 3),
        "p99_ratio_429": round(runs["telegram_429"]["p99_us"] / base["p99_us"], 3),
        "status_reply": await _reply_latency(20),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    ap.add_argument("--seconds", type=float, default=400.0, help="market time per run (s)")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each case, round robin")
    ap.add_argument("--speed", type=float, default=40.0, help="× real time")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    print(json.dumps(asyncio.run(_main(args.seconds, args.speed, args.seed, args.rounds))))


if __name__ == "__main__":
    main()
