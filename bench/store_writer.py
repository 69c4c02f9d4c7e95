"""Store writer throughput, event-loop stalls, and kill -9 crash trials (prints one JSON object).

1. Throughput: fills pushed into the batched writer as fast as the loop allows, measured
   until the last one is committed (synchronous=FULL), against one transaction per fill on a
   second file in the same run.
2. Event-loop lag: a 1 ms ticker measures how late the loop wakes it (a) while the writer
   absorbs the throughput load and (b) while a paper engine runs paced with and without the
   store attached.
3. Crash trials: ``tradetui run --headless --speed 10 --db X`` killed with SIGKILL at a random
   moment; checks PRAGMA integrity_check, that every fill the run reported as stored is
   present, and that the next start reports the unclean session.

    python bench/store_writer.py [--fills 200000] [--single 3000] [--trials 10] [--dir D]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tradetui.config import Settings
from tradetui.engine.engine import Command, CommandKind
from tradetui.host import EngineHost, StoreOptions
from tradetui.session import build_paper_session
from tradetui.store.lifecycle import SessionMeta, begin_session, session_meta, unlock
from tradetui.store.rows import Kind, Row
from tradetui.store.writer import StoreWriter, WriterConfig
from tradetui.venues.sim_listing import listed_instrument

T0_NS = 1_700_000_000_000_000_000


def _meta() -> SessionMeta:
    return session_meta("paper", "bench", listed_instrument("BTCUSDT"), Settings(), 0, T0_NS)


def _fill(session_id: int, n: int) -> Row:
    side = 1 if n % 2 else -1
    t = T0_NS + n * 1000
    params = (session_id, n, "bench", str(n), f"c{n}", side, 600_000 + n % 13, 10, 0, 0.12)
    # No fee charged in another asset (charged_asset, charged_fee, charged_rate), then wall_ns.
    return (Kind.FILL, (*params, "USDT", 1, t, t, 1_200_001, side * 10, None, None, None, t))


class WriterSteps:
    """Times every step the writer task runs on the loop thread (its share of any stall)."""

    def __init__(self) -> None:
        self.max_s = 0.0
        self.steps = 0
        self._orig = asyncio.events.Handle._run

    def __enter__(self) -> WriterSteps:
        orig = self._orig
        me = self

        def timed(handle: asyncio.events.Handle) -> None:
            t = time.perf_counter()
            orig(handle)
            task = getattr(handle._callback, "__self__", None)  # type: ignore[attr-defined]
            if isinstance(task, asyncio.Task) and task.get_name() == "store-writer":
                me.steps += 1
                me.max_s = max(me.max_s, time.perf_counter() - t)

        asyncio.events.Handle._run = timed  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.events.Handle._run = self._orig  # type: ignore[method-assign]


class LagMonitor:
    """Wakes every ``period_s`` and records how late it woke (seconds)."""

    def __init__(self, period_s: float = 0.001) -> None:
        self.period_s = period_s
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(self.period_s)
            self.lags.append(time.perf_counter() - t - self.period_s)

    def __enter__(self) -> LagMonitor:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()

    def figures(self) -> dict[str, float]:
        xs = sorted(self.lags) or [0.0]
        return {
            "samples": len(self.lags),
            "lag_p50_ms": round(xs[len(xs) // 2] * 1e3, 3),
            "lag_p99_ms": round(xs[min(len(xs) - 1, int(len(xs) * 0.99))] * 1e3, 3),
            "lag_max_ms": round(xs[-1] * 1e3, 3),
            "over_5ms": sum(1 for x in xs if x > 0.005),
        }


async def throughput(path: Path, fills: int, config: WriterConfig) -> dict[str, Any]:
    opened = begin_session(path, _meta(), config.busy_timeout_ms)
    writer = StoreWriter(path, config)
    await writer.start()
    with LagMonitor() as lag, WriterSteps() as steps:
        t = time.perf_counter()
        for n in range(fills):
            writer.put(_fill(opened.session_id, n))
            if n % 1000 == 999:
                # A producer that yields like the engine's runner does.
                await asyncio.sleep(0)
        await writer.close()
        elapsed = time.perf_counter() - t
    unlock(opened.lock_fd)
    conn = sqlite3.connect(path)
    present = conn.execute("SELECT count(*) FROM fills").fetchone()[0]
    conn.close()
    assert present == fills == writer.fills_stored, (present, fills, writer.fills_stored)
    return {
        "fills": fills,
        "seconds": round(elapsed, 3),
        "fills_per_s": round(fills / elapsed),
        "transactions": writer.batches,
        "loop": lag.figures(),
        "writer_step_max_ms": round(steps.max_s * 1e3, 3),
    }


async def engine_lag(path: Path | None, seconds: float, speed: float) -> dict[str, Any]:
    session = build_paper_session(Settings(), seed=1, virtual=True)
    host = EngineHost(session, speed)
    if path is not None:
        host.open_store(StoreOptions(path))
        await host.start_store()
    end = session.start_ns + int(seconds * 1e9)
    host.engine.control(Command(CommandKind.START, reason="bench"))
    with LagMonitor() as lag, WriterSteps() as steps:
        await host.run(lambda: host.now_ns() >= end)
        await host.wind_down(flatten=False)
        summary = host.summary()
        figures = await host.close_store(summary)
    return {
        "fills": summary["fills"],
        "fills_stored": figures.get("fills_stored"),
        "loop": lag.figures(),
        "writer_steps": steps.steps,
        "writer_step_max_ms": round(steps.max_s * 1e3, 3),
    }


def crash_trial(tmp: Path, index: int, rng: random.Random) -> dict[str, Any]:
    db = tmp / f"crash{index}.db"
    log = tmp / f"crash{index}.stderr"
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp), "XDG_DATA_HOME": str(tmp)}
    cmd = [sys.executable, "-m", "tradetui", "run", "--headless", "--db", str(db)]
    # Earlier trials leave a session in the file, so later ones also test a busy file.
    if index % 2:
        subprocess.run([*cmd, "--duration", "5", "--speed", "max"], capture_output=True, env=env)
    kill_after = rng.uniform(0.2, 4.0)
    with log.open("w") as err:
        p = subprocess.Popen(
            [*cmd, "--speed", "10"], stdout=subprocess.DEVNULL, stderr=err, env=env
        )
    deadline = time.monotonic() + 60
    while "→ running" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(kill_after)
    p.send_signal(signal.SIGKILL)
    p.wait()
    reported = max(
        (int(m) for m in re.findall(r'store \{"fills_stored": (\d+)\}', log.read_text())),
        default=0,
    )
    conn = sqlite3.connect(db)
    integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    sid = conn.execute("SELECT max(id) FROM sessions").fetchone()[0]
    present = conn.execute("SELECT count(*) FROM fills WHERE session_id = ?", (sid,)).fetchone()[0]
    conn.close()
    nxt = subprocess.run(
        [*cmd, "--duration", "1", "--speed", "max", "--json"],
        capture_output=True,
        text=True,
        env=env,
    )
    unclean = json.loads(nxt.stdout)["unclean_sessions"] if nxt.returncode == 0 else None
    return {
        "kill_after_s": round(kill_after, 2),
        "integrity": integrity,
        "reported_stored": reported,
        "present": present,
        "detected_unclean": unclean == [sid],
        "ok": integrity == "ok" and present >= reported and unclean == [sid],
    }


async def _timed(label: str, out: dict[str, Any], coro: Awaitable[dict[str, Any]]) -> None:
    out[label] = await coro


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fills", type=int, default=200_000, help="fills for the batched writer")
    ap.add_argument("--single", type=int, default=3000, help="fills, one transaction each")
    ap.add_argument("--engine-seconds", type=float, default=300.0, help="market time per run")
    ap.add_argument("--speed", type=float, default=20.0, help="pace of the engine lag runs")
    ap.add_argument("--trials", type=int, default=10, help="kill -9 crash trials")
    ap.add_argument("--dir", type=Path, default=None, help="where the databases go")
    args = ap.parse_args()
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        tmp = Path(d)
        runs: list[tuple[str, Callable[[], Awaitable[dict[str, Any]]]]] = [
            ("batched", lambda: throughput(tmp / "batched.db", args.fills, WriterConfig())),
            (
                "per_fill_transaction",
                lambda: throughput(
                    tmp / "single.db", args.single, WriterConfig(batch_rows=1, batch_ms=1)
                ),
            ),
            ("engine_without_store", lambda: engine_lag(None, args.engine_seconds, args.speed)),
            (
                "engine_with_store",
                lambda: engine_lag(tmp / "engine.db", args.engine_seconds, args.speed),
            ),
        ]
        for label, make in runs:
            asyncio.run(_timed(label, out, make()))
        out["batched_vs_per_fill_ratio"] = round(
            out["batched"]["fills_per_s"] / out["per_fill_transaction"]["fills_per_s"], 1
        )
        rng = random.Random(7)
        trials = [crash_trial(tmp, i, rng) for i in range(args.trials)]
        out["crash_trials"] = {
            "trials": len(trials),
            "passed": sum(1 for t in trials if t["ok"]),
            "results": trials,
        }
    out["db_dir"] = str(args.dir or tempfile.gettempdir())
    print(json.dumps(out))


if __name__ == "__main__":
    main()
