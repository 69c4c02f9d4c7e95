"""Run the benchmarks and write their figures to docs/performance.md (the only place figures
in the docs come from).

Each bench prints JSON; this runs the ones named (default: all that need nothing outside the
repo and ``../shared/data``), takes the numbers each row lists, and rewrites the table with
the machine, the Python and the date of the run. Benches that need ``../shared/data`` are
skipped (and say so) when it is absent. Recorded files take their instrument from the catalog
cache; without ``TRADETUI_CATALOG_DIR`` set, the benches get a private cache holding the
simulated listing (Binance's own exchangeInfo for the symbols the data folder has), so no
``markets sync`` (network) is needed.

    python bench/figures.py [--only NAME]... [--out docs/performance.md] [--quick]

``--quick`` runs each bench on its smallest sensible input (for checking the script, not for
figures to quote).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tradetui.venues.catalog import VENUE_EXCHANGES, save_catalog
from tradetui.venues.sim_listing import sim_catalog

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


@dataclass(frozen=True)
class Bench:
    name: str
    what: str
    args: tuple[str, ...]
    quick: tuple[str, ...]
    keys: tuple[str, ...]
    needs_data: bool = False
    script: str = ""  # bench/SCRIPT.py when it is not bench/NAME.py (a second mode of one)


BENCHES = (
    Bench(
        "engine_throughput",
        "paper engine on a synthetic market (virtual clock)",
        (),
        ("--seconds", "60"),
        ("engine_events_per_s", "decision_latency_us_p50", "decision_latency_us_p99"),
    ),
    Bench(
        "replay_throughput",
        "decode and backtest a recorded file",
        (),
        ("--runs", "2"),
        (
            "backtest_events_per_s",
            "backtest_cpu_s_first",
            "backtest_cpu_s_prepared",
            "decision_us",
            "first_run_decode_messages_per_s",
        ),
        needs_data=True,
    ),
    Bench(
        "store_writer",
        "SQLite writer throughput, loop lag, kill -9 trials",
        (),
        ("--fills", "20000", "--single", "500", "--engine-seconds", "30", "--trials", "2"),
        (
            "batched.fills_per_s",
            "per_fill_transaction.fills_per_s",
            "engine_with_store.loop.lag_p99_ms",
            "crash_trials.passed",
        ),
    ),
    Bench(
        "sandbox_loopback",
        "ccxt round trips and websocket recovery on loopback",
        (),
        ("--orders", "40", "--drops", "4"),
        ("create_order_ms_p50", "cancel_order_ms_p50", "ws_recovery_ms_p50"),
    ),
    Bench(
        "feed_recovery",
        "live feed: drop to verified book; frame to sink",
        (),
        ("--drops", "4", "--seconds", "3"),
        (
            "recovery_drop_to_verified_ms.p50",
            "recovery_drop_to_verified_ms.p99",
            "receive_to_sink_us.all.p50",
            "receive_to_sink_us.all.p99",
        ),
    ),
    Bench(
        "live_latency",
        "live: depth frame to order request sent",
        (),
        ("--seconds", "5"),
        (
            "runs.0.depth.to_http_first_order.p50_us",
            "runs.0.depth.to_http.p99_us",
            "runs.0.engine_decision_us.p50",
        ),
    ),
    Bench(
        "ml_latency",
        "ML filter per decision: features and inference",
        (),
        (),
        (
            "features.p50_us",
            "features_min_of_passes.p99_us",
            "inference_compiled.p50_us",
            "inference_xgboost_inplace_1_thread_warm.p50_us",
        ),
        needs_data=True,
    ),
    Bench(
        "sweep_scaling",
        "sweep backtests/s with 1 and 2 workers (local pool, Dask)",
        (),
        ("--points", "4", "--seconds", "30", "--runs", "1"),
        (
            "local_pool.backtests_per_s_2_workers",
            "local_pool.ratio",
            "dask.backtests_per_s_2_workers",
            "dask.ratio",
        ),
    ),
    Bench(
        "tui_cost",
        "the console next to the engine",
        (),
        ("--seconds", "3"),
        (
            "ui_cpu_core_share_over_headless",
            "with_ui.loop_lag_p99_ms",
            "decision_latency_p99_ratio",
            "first_paint_s",
        ),
    ),
    Bench(
        "multi_market",
        "decision latency per market with 1, 3 and 10 markets in one run (10 s paced, 120 s "
        "unpaced per count)",
        ("--seconds", "10", "--market-seconds", "120"),
        ("--seconds", "2", "--market-seconds", "10"),
        (
            "runs.0.decision_us_p99_worst",
            "runs.2.decision_us_p99_worst",
            "decision_p99_median_ratio",
            "late_p99_ratio",
        ),
    ),
    Bench(
        "multi_market_console",
        "decision latency p99 (worst market) with 1 and 3 markets, headless vs the console "
        "attached at 80×24 (20 s at speed 10 each)",
        ("--console", "--seconds", "20"),
        ("--seconds", "2"),
        (
            "markets.1.headless.decision_us_p99_worst",
            "markets.1.console.decision_us_p99_worst",
            "markets.3.headless.decision_us_p99_worst",
            "markets.3.console.decision_us_p99_worst",
            "markets.3.console.collections_in_handlers",
        ),
        script="multi_market",
    ),
    Bench(
        "screener_cpu",
        "screener: 230 USD-M symbols at recorded rates",
        (),
        ("--seconds", "15"),
        ("msgs_per_s", "cpu_pct", "cpu_us_per_msg", "process_cpu_pct_with_startup"),
    ),
)


def catalog_env(folder: Path) -> dict[str, str]:
    """The benches' environment: the caller's, with a catalog cache of the simulated listing
    in ``folder`` unless TRADETUI_CATALOG_DIR is already set."""
    env = dict(os.environ)
    if env.get("TRADETUI_CATALOG_DIR"):
        return env
    env["TRADETUI_CATALOG_DIR"] = str(folder)
    os.environ["TRADETUI_CATALOG_DIR"] = str(folder)
    try:
        for exchange in VENUE_EXCHANGES.values():
            save_catalog(sim_catalog(exchange))
    finally:
        del os.environ["TRADETUI_CATALOG_DIR"]
    return env


def flatten(obj: object, prefix: str = "") -> dict[str, object]:
    """Nested JSON as ``a.b.c`` keys (lists by index)."""
    if isinstance(obj, dict):
        out: dict[str, object] = {}
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    if isinstance(obj, list):
        out = {}
        for i, v in enumerate(obj):
            out.update(flatten(v, f"{prefix}{i}."))
        return out
    return {prefix[:-1]: obj}


def last_json(text: str) -> dict[str, object]:
    """The last line of ``text`` that is a JSON object (benches may print progress first)."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def pick(figures: dict[str, object], key: str) -> str:
    """The figure named ``key`` (a flattened ``a.b`` key), as text; – when absent."""
    if key not in figures:
        return "–"
    value = figures[key]
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def run(bench: Bench, quick: bool, env: dict[str, str]) -> tuple[str, dict[str, object], float]:
    if bench.needs_data and not DATA.is_dir():
        return f"skipped: {DATA} not found", {}, 0.0
    cmd = [sys.executable, str(ROOT / "bench" / f"{bench.script or bench.name}.py"), *bench.args]
    if quick:
        cmd += bench.quick
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, check=False)
    took = time.monotonic() - started
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"failed (exit {done.returncode}): {tail}", {}, took
    return "", flatten(last_json(done.stdout)), took


def table(rows: list[tuple[Bench, str, dict[str, object], float]], quick: bool) -> str:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [
        "# Performance",
        "",
        "Written by `python bench/figures.py" + (" --quick" if quick else "") + "`; not edited",
        "by hand. Each bench prints its full JSON when run alone (`bench/README.md`); this page",
        "keeps the figures people ask about. Machines are noisy: compare figures from one run,",
        "not across pages of history.",
        "",
        f"Run {now} on {platform.machine()}, {os.cpu_count()} CPUs, load average {load} at "
        f"the end, Python {platform.python_version()}" + (" (quick inputs)" if quick else "") + ".",
        "",
        "| bench | what | figures | run time |",
        "|---|---|---|---|",
    ]
    for bench, problem, figures, took in rows:
        shown = problem or "; ".join(f"`{k}` {pick(figures, k)}" for k in bench.keys)
        lines.append(f"| `{bench.name}` | {bench.what} | {shown} | {took:.0f} s |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", action="append", default=[], help="bench name (repeatable)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "performance.md")
    ap.add_argument("--quick", action="store_true", help="smallest inputs (checks the script)")
    args = ap.parse_args()
    names = {b.name for b in BENCHES}
    unknown = sorted(set(args.only) - names)
    if unknown:
        sys.exit(f"error: no bench {unknown[0]!r}; known: {', '.join(sorted(names))}")
    chosen = [b for b in BENCHES if not args.only or b.name in args.only]
    rows = []
    with tempfile.TemporaryDirectory() as catalogs:
        env = catalog_env(Path(catalogs))
        for bench in chosen:
            print(f"running {bench.name} ...", file=sys.stderr, flush=True)
            problem, figures, took = run(bench, args.quick, env)
            rows.append((bench, problem, figures, took))
    args.out.write_text(table(rows, args.quick))
    print(json.dumps({b.name: (p or f) for b, p, f, _ in rows}, default=str))


if __name__ == "__main__":
    main()
