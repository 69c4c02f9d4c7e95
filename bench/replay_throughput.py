"""Replay decode rate and backtest throughput on a recorded file (prints one JSON object).

Decoding is measured three ways: typed decoding alone (msgspec Structs, prices still
strings), depth messages decoded and converted to exact ticks/lots (fresh grids: the first
pass pays for converting every new decimal string), and the full first run (lines → exact
ticks/lots → sequenced book → MarketEvents). "Cold" is the first pass over the messages in a
fresh process, "warm" the best of three passes. The backtest runs the AS strategy (decision
every 100 ms) with queue-aware fills from the cached decoded form, ``--runs`` times (best and
all reported: the machine is shared, so single runs are noisy). The first run prepares the
replay (retimed, in the exchange's order: ``backtest.run.replay_data``) and the later ones
reuse it, as a sweep's backtests do; CPU seconds (``time.process_time``) are reported for the
first run, the best later one, and one more run that reorders and retimes as it goes
(``prepared=False``: every run's cost before preparations were kept). "Events" counts each level
change of a snapshot or diff, each trade and each best bid/offer. One more run times every
decision (``Engine._decide``: strategy, risk guard, quote planning and the intents it sends)
and reports its mean cost in µs and its share of that run; the timer adds well under 1 µs to
each decision and is left out of the best-of runs.

    python bench/replay_throughput.py [FILE] [--runs N]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

from tradetui.backtest.run import count_events, run_backtest
from tradetui.config import Settings
from tradetui.engine.engine import Engine
from tradetui.market import decode
from tradetui.market.cache import load_events
from tradetui.market.files import ReplayError, ReplayReport, read_lines
from tradetui.market.instruments import (
    add_flag_arguments,
    flags_from_arguments,
    infer_instrument,
)
from tradetui.market.replay import replay_events

DEFAULT = (
    Path(__file__).resolve().parents[1]
    / ".."
    / "shared"
    / "data"
    / "binance-usdm"
    / ("btcusdt_20240808.gz")
)


def decision_cost(settings: Settings, inst: Any, events: list[Any]) -> dict[str, float]:
    """One backtest with every decision timed: count, mean µs, share of the run."""
    spent = [0, 0]
    plain = Engine._decide

    def timed(self: Engine, now: int) -> None:
        t = time.perf_counter_ns()
        plain(self, now)
        spent[0] += time.perf_counter_ns() - t
        spent[1] += 1

    Engine._decide = timed  # type: ignore[method-assign]
    try:
        gc.collect()
        result = run_backtest(settings, inst, events)
    finally:
        Engine._decide = plain  # type: ignore[method-assign]
    return {
        "decisions": spent[1],
        "decision_us": round(spent[0] / max(1, spent[1]) / 1e3, 1),
        "decision_share_of_run": round(spent[0] / 1e9 / result.run_s, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--runs", type=int, default=3, help="backtest runs (best is reported)")
    add_flag_arguments(ap)
    args = ap.parse_args()
    paths = [args.file]
    try:
        inst = infer_instrument(paths, flags_from_arguments(args)).instrument
    except ReplayError as exc:
        sys.exit(f"error: {exc}")

    lines = list(read_lines(args.file, lambda _n, _m: None))
    decoders: dict[str, msgspec.json.Decoder[Any]] = {
        "depth": decode.DEPTH,
        "bookTicker": decode.BOOK_TICKER,
        "trade": decode.TRADE,
    }
    t = time.perf_counter()
    n_depth = 0
    for line in lines:
        body = line[line.find(b" ") + 1 :]
        name = decode.stream_name(body)
        if name is not None:
            kind = decode.stream_kind(name)
            decoders[kind].decode(body)
            n_depth += kind == "depth"
    typed_s = time.perf_counter() - t
    depth = [line[line.find(b" ") + 1 :] for line in lines if b"@depth" in line[:80]]
    # The first pass pays for growing the heap; later passes show the steady decode rate.
    depth_passes: list[float] = []
    for _ in range(3):
        t = time.perf_counter()
        for body in depth:
            decode.DEPTH.decode(body)
        depth_passes.append(time.perf_counter() - t)
    depth_s = depth_passes[0]
    # Counted from the messages, not the replayed book: a file that starts without a
    # snapshot (a continuation) replays no diffs until one arrives.
    levels = 0
    for body in depth:
        d = decode.DEPTH.decode(body).data
        levels += len(d.b) + len(d.a)
    # Depth messages all the way to (ticks, lots) pairs, with grids that start empty.
    convert_passes: list[float] = []
    for _ in range(3):
        prices, sizes = decode.Grid(inst.tick_size), decode.Grid(inst.lot_size)
        t = time.perf_counter()
        for body in depth:
            d = decode.DEPTH.decode(body).data
            sizes.levels(prices, d.b)
            sizes.levels(prices, d.a)
        convert_passes.append(time.perf_counter() - t)

    t = time.perf_counter()
    events = list(replay_events(paths, inst, ReplayReport()))
    full_s = time.perf_counter() - t
    n_events = sum(count_events(ev) for ev in events)

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TRADETUI_CACHE_DIR"] = tmp
        load_events(paths, inst)
        t = time.perf_counter()
        cached, _report, hit = load_events(paths, inst)
        cache_s = time.perf_counter() - t
    assert hit

    runs, cpu = [], []
    for _ in range(args.runs):
        gc.collect()
        t = time.process_time()
        runs.append(run_backtest(Settings(), inst, cached))
        cpu.append(time.process_time() - t)
    gc.collect()
    t = time.process_time()
    run_backtest(Settings(), inst, cached, prepared=False)
    on_the_fly_cpu = time.process_time() - t
    result = min(runs, key=lambda r: r.run_s)
    decisions = decision_cost(Settings(), inst, cached)
    print(
        json.dumps(
            {
                "bench": "replay_throughput",
                "file": str(args.file.name),
                "lines": len(lines),
                "messages": len(events),
                "events": n_events,
                "typed_decode_messages_per_s": round(len(lines) / typed_s),
                "typed_decode_depth_messages_per_s": round(len(depth) / depth_s),
                "typed_decode_depth_messages_per_s_warm": round(len(depth) / min(depth_passes)),
                "depth_to_ticks_messages_per_s": round(len(depth) / convert_passes[0]),
                "depth_to_ticks_messages_per_s_warm": round(len(depth) / min(convert_passes)),
                "depth_levels_per_message": round(levels / max(1, len(depth)), 1),
                "first_run_decode_messages_per_s": round(len(lines) / full_s),
                "first_run_decode_events_per_s": round(n_events / full_s),
                "cache_load_s": round(cache_s, 3),
                "backtest_events_per_s": round(result.events / result.run_s),
                "backtest_messages_per_s": round(result.messages / result.run_s),
                "backtest_run_s": round(result.run_s, 3),
                "backtest_run_s_all": [round(r.run_s, 3) for r in runs],
                "backtest_cpu_s_first": round(cpu[0], 3),
                "backtest_cpu_s_prepared": round(min(cpu[1:]), 3) if len(cpu) > 1 else None,
                "backtest_cpu_s_on_the_fly": round(on_the_fly_cpu, 3),
                **decisions,
                "fills": result.engine.fills,
                "orders_placed": result.engine.orders_placed,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
