"""CPU of the screener watching 200+ USD-M symbols at Binance's real rates (prints one JSON).

The rates come from the shared recording of BTCUSDT USD-M (../shared/data): its bookTicker
updates and trades per second of exchange time are the busiest symbol's, and the k-th busiest
of the sandbox's ``--symbols`` runs at that / k (``tradetui sandbox exchange --symbols N
--bbo-hz R --trade-hz T``, its own process). ``tradetui screen --json`` then runs in another
process for ``--seconds``; its report gives the messages it read and its own CPU time
(``time.process_time()`` from the first connection to the end, imports and the symbol list
excluded), and the bench adds the whole process's CPU (``RUSAGE_CHILDREN``, start-up
included). Target: ≤ 25% of one core.

    python bench/screener_cpu.py [--symbols 230] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import signal
import sys
import time
from pathlib import Path
from typing import Any

from tradetui.market.files import ReplayReport
from tradetui.market.instruments import infer_instrument
from tradetui.market.replay import replay_events
from tradetui.sandbox.process import sandbox_url, spawn_sandbox
from tradetui.sandbox.universe import BUSIEST_BBO_HZ, BUSIEST_TRADE_HZ

RECORDING = Path(__file__).resolve().parents[2] / "shared/data/binance-usdm/btcusdt_20240808.gz"
TARGET_CPU_PCT = 25.0


def recorded_rates(path: Path) -> dict[str, float]:
    """bookTicker updates/s and trades/s of the recording, per second of exchange time."""
    inst = infer_instrument([path], has_flags=False).instrument
    report = ReplayReport()
    for _ in replay_events([path], inst, report):
        pass
    span_s = (report.last_exch_ns - report.first_exch_ns) / 1e9
    counts = {k.rsplit("@", 1)[-1]: v for k, v in report.messages.items()}
    return {
        "span_s": round(span_s, 1),
        "bbo_hz": round(counts.get("bookTicker", 0) / span_s, 1),
        "trade_hz": round(counts.get("trade", 0) / span_s, 1),
    }


async def measure(symbols: int, seconds: float, bbo_hz: float, trade_hz: float) -> dict[str, Any]:
    sandbox = await spawn_sandbox(
        "--symbols", str(symbols), "--bbo-hz", str(bbo_hz), "--trade-hz", str(trade_hz)
    )
    try:
        url = await sandbox_url(sandbox)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        screen = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tradetui",
            "screen",
            "--json",
            "--duration",
            f"{seconds}s",
            "--rest-url",
            url,
            "--ws-url",
            url.replace("http", "ws"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await screen.communicate()
        wall = time.monotonic() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        sandbox.send_signal(signal.SIGINT)
        await sandbox.communicate()
    if screen.returncode != 0:
        raise SystemExit(f"screen failed: {err.decode().strip()}")
    report = json.loads(out)
    process_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    rows = report["rows"]
    return {
        "symbols": report["symbols"],
        "shards": len(report["shards"]),
        "seconds": report["elapsed_s"],
        "msgs": report["messages"],
        "msgs_per_s": report["msgs_per_s"],
        "cpu_pct": report["cpu_pct"],
        "cpu_us_per_msg": round(1e6 * report["cpu_s"] / max(1, report["messages"]), 1),
        "process_cpu_pct_with_startup": round(100 * process_cpu / wall, 2),
        "process_cpu_s": round(process_cpu, 2),
        "symbols_with_spread": sum(r["spread_bps"] is not None for r in rows),
        "target_cpu_pct": TARGET_CPU_PCT,
        "within_target": report["cpu_pct"] <= TARGET_CPU_PCT,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", type=int, default=230)
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    if RECORDING.exists():
        rates = recorded_rates(RECORDING)
        source = str(RECORDING.relative_to(RECORDING.parents[3]))
    else:
        rates = {"bbo_hz": BUSIEST_BBO_HZ, "trade_hz": BUSIEST_TRADE_HZ}
        source = "built-in figures (../shared/data absent)"
    result = asyncio.run(measure(args.symbols, args.seconds, rates["bbo_hz"], rates["trade_hz"]))
    print(json.dumps({"bench": "screener_cpu", "rates_from": source, "busiest": rates, **result}))


if __name__ == "__main__":
    main()
