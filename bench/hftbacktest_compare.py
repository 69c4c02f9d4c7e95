"""Our backtest next to hftbacktest's on the same recording, in one run (prints one JSON object).

Ours: ``run_backtest`` with the default settings (the project's Engine, AS strategy deciding
every 100 ms, risk guard, SimVenue with 5 ms entry/cancel/ack latency and the proportional
queue model) from the cached decoded form. Theirs: the file converted by hftbacktest's own
Binance futures converter, then an Avellaneda–Stoikov loop compiled with numba that decides
every 100 ms (``elapse``) on hftbacktest's HashMapMarketDepthBacktest with constant 5 ms entry
and response latency, the power queue model with n = 1 (proportional) and partial fills,
0.01 BTC quotes (post-only, GTX) with the same γ, τ, k, spread clamps, inventory skew,
requote tolerance, order ages and position limits as our defaults. Their σ is an EWMA of 1 s
mid changes like ours; their A and k stay at our priors (ours are fitted from trades).

Events are counted the same way on both sides: every price level of the snapshot and of every
depth diff, plus every market trade. bookTicker messages are left out of the count, since
hftbacktest's converter drops them by default; our engine and venue still process them (66k
of them on the USD-M file), so the ratio understates our speed slightly. Wall times are best
of ``--runs``; hftbacktest's numba compile time is measured on a short warm-up run and
reported on its own.

    python bench/hftbacktest_compare.py [FILE] [--runs N]

hftbacktest is a bench-only tool, not a project dependency; it pins its own numpy, so give it a
venv of its own: ``python -m venv /tmp/hbt && /tmp/hbt/bin/pip install -e . hftbacktest`` and
run this file with ``/tmp/hbt/bin/python``. Without it (or without the data file) the bench
prints a ``skipped`` reason.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tradetui.backtest.run import count_events, run_backtest
from tradetui.config import Settings
from tradetui.core.instrument import Instrument
from tradetui.core.types import BestBidOffer
from tradetui.market.cache import load_events
from tradetui.market.files import ReplayError
from tradetui.market.instruments import (
    add_flag_arguments,
    flags_from_arguments,
    infer_instrument,
)

DEFAULT = (
    Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "binance-usdm"
) / "btcusdt_20240808.gz"
_NS_PER_S = 1_000_000_000


def _skip(file: Path, why: str) -> None:
    print(json.dumps({"bench": "hftbacktest_compare", "file": file.name, "skipped": why}))


def _ours(path: Path, runs: int, inst: Instrument) -> dict[str, Any]:
    paths = [path]
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["TRADETUI_CACHE_DIR"] = tmp
        t = time.perf_counter()
        load_events(paths, inst)
        decode_s = time.perf_counter() - t
        t = time.perf_counter()
        events, _report, hit = load_events(paths, inst)
        cache_s = time.perf_counter() - t
    assert hit
    counted = sum(count_events(ev) for ev in events if type(ev) is not BestBidOffer)
    results = [run_backtest(Settings(), inst, events) for _ in range(runs)]
    best = min(results, key=lambda r: r.run_s)
    return {
        "events": counted,
        "events_all": best.events,
        "bbo_messages": sum(1 for ev in events if type(ev) is BestBidOffer),
        "first_run_decode_s": round(decode_s, 3),
        "cache_load_s": round(cache_s, 3),
        "run_s": round(best.run_s, 3),
        "run_s_all": [round(r.run_s, 3) for r in results],
        "events_per_s": round(counted / best.run_s),
        "fills": best.engine.fills,
        "orders_placed": best.engine.orders_placed,
    }


def _theirs(path: Path, runs: int) -> dict[str, Any]:
    from hftbacktest import (
        DEPTH_CLEAR_EVENT,
        DEPTH_EVENT,
        DEPTH_SNAPSHOT_EVENT,
        EXCH_EVENT,
        GTX,
        LIMIT,
        NEW,
        TRADE_EVENT,
        BacktestAsset,
        HashMapMarketDepthBacktest,
    )
    from hftbacktest.data.utils import binancefutures
    from numba import njit

    s = Settings()
    st, qt, risk = s.strategy, s.quoting, s.risk
    # Plain numbers: numba freezes them into the compiled loop.
    tick, lot = 0.1, 0.001
    order_lots = round(st.order_size / lot)
    max_lots = round(risk.max_position_base / lot)
    one_sided_lots = risk.one_sided_enter * max_lots
    gamma, tau, k, eta = st.gamma, st.horizon_s, st.k_prior, st.eta
    min_spread, max_spread = float(st.min_spread_ticks), float(st.max_spread_ticks)
    prior_var = st.sigma_prior_ticks**2
    alpha = 1.0 - math.exp(-math.log(2.0) / st.vol_halflife_s)  # per 1 s sample
    tolerance = qt.price_tolerance_ticks
    min_age_ns, max_age_ns = int(qt.min_age_ms * 1e6), int(qt.max_age_s * 1e9)

    @njit  # type: ignore[untyped-decorator]
    def as_loop(hbt: Any, until_ns: int) -> tuple[int, int, int]:
        """Quote both sides every 100 ms until ``until_ns``; (decisions, orders placed, fills)."""
        var, samples, sample_mid, next_sample_ns = prior_var, 0, 0.0, 0
        order_id, placed, decisions = 0, 0, 0
        ids = [0, 0]  # current order per side (0 = bid, 1 = ask)
        placed_ns = [0, 0]
        prices = [0, 0]
        while hbt.elapse(100_000_000) == 0:
            now = hbt.current_timestamp
            if now > until_ns:
                break
            hbt.clear_inactive_orders(0)
            depth = hbt.depth(0)
            best_bid, best_ask = depth.best_bid_tick, depth.best_ask_tick
            if not 0 < best_bid < best_ask:
                continue
            decisions += 1
            mid = (best_bid + best_ask) * 0.5
            if now >= next_sample_ns:
                if next_sample_ns:
                    ret = mid - sample_mid
                    var += alpha * (ret * ret - var)
                    samples += 1
                sample_mid, next_sample_ns = mid, now + _NS_PER_S
            sigma2 = var if samples >= 30 else prior_var
            pos_lots = round(hbt.position(0) / lot)
            q = pos_lots / order_lots
            r = mid - q * gamma * sigma2 * tau
            spread = gamma * sigma2 * tau + (2.0 / gamma) * math.log1p(gamma / k)
            spread = min(max(spread, min_spread), max_spread)
            skew = math.exp(-eta * abs(q))
            one_sided = abs(pos_lots) >= one_sided_lots
            orders = hbt.orders(0)
            for i in range(2):
                if i == 0:
                    want = min(math.floor(r - spread / 2.0), best_ask - 1)
                    lots = max(1, int(order_lots * skew)) if q > 0 else order_lots
                    if (one_sided and pos_lots > 0) or pos_lots + lots > max_lots:
                        lots = 0
                else:
                    want = max(math.ceil(r + spread / 2.0), best_bid + 1)
                    lots = max(1, int(order_lots * skew)) if q < 0 else order_lots
                    if (one_sided and pos_lots < 0) or pos_lots - lots < -max_lots:
                        lots = 0
                cur = ids[i]
                live = False
                if cur:
                    o = orders.get(cur)
                    if o is not None:
                        if o.status != NEW or o.req != 0:
                            continue  # travelling: its report decides
                        live = True
                        age = now - placed_ns[i]
                        stale = abs(prices[i] - want) > tolerance or age >= max_age_ns
                        if lots and (not stale or age < min_age_ns):
                            continue
                if lots:
                    order_id += 1
                    placed += 1
                    if i == 0:
                        hbt.submit_buy_order(
                            0, order_id, want * tick, lots * lot, GTX, LIMIT, False
                        )
                    else:
                        hbt.submit_sell_order(
                            0, order_id, want * tick, lots * lot, GTX, LIMIT, False
                        )
                    ids[i], placed_ns[i], prices[i] = order_id, now, want
                elif not live:
                    ids[i] = 0
                if live:
                    hbt.cancel(0, cur, False)
        return decisions, placed, hbt.state_values(0).num_trades

    def backtest(data: Any) -> Any:
        asset = (
            BacktestAsset()
            .data([data])
            .linear_asset(1.0)
            .constant_order_latency(5_000_000, 5_000_000)
            .power_prob_queue_model(1.0)
            .partial_fill_exchange()
            .trading_value_fee_model(s.sim.maker_fee_bps / 1e4, s.sim.taker_fee_bps / 1e4)
            .tick_size(tick)
            .lot_size(lot)
            .last_trades_capacity(0)
        )
        return HashMapMarketDepthBacktest([asset])

    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints its progress
        data = binancefutures.convert(str(path))
    convert_s = time.perf_counter() - t
    ev = data["ev"]
    kind = ev & 0xFF
    # Rows carrying both flags or only EXCH_EVENT: each converted message counted once (rows
    # whose exchange and local orders differ are emitted twice, once per timeline).
    once = (ev & EXCH_EVENT) != 0
    counted = int(
        (
            once & ((kind == DEPTH_EVENT) | (kind == DEPTH_SNAPSHOT_EVENT) | (kind == TRADE_EVENT))
        ).sum()
    )
    end_ns = int(data["exch_ts"].max())
    # Compile on the first rows (the snapshot and a few diffs), so the timed runs are warm.
    warm = backtest(data[:5000])
    t = time.perf_counter()
    as_loop(warm, end_ns)
    jit_s = time.perf_counter() - t
    warm.close()
    times, decisions, placed, fills = [], 0, 0, 0
    for _ in range(runs):
        hbt = backtest(data)
        t = time.perf_counter()
        decisions, placed, fills = as_loop(hbt, end_ns)
        times.append(time.perf_counter() - t)
        hbt.close()
    run_s = min(times)
    import hftbacktest

    return {
        "version": hftbacktest.__version__,
        "rows": len(data),
        "events": counted,
        "depth_clear_rows": int((kind == DEPTH_CLEAR_EVENT).sum()),
        "rows_emitted_twice": int(len(data) - once.sum()),
        "convert_s": round(convert_s, 3),
        "jit_s": round(jit_s, 3),
        "run_s": round(run_s, 3),
        "run_s_all": [round(x, 3) for x in times],
        "events_per_s": round(counted / run_s),
        "rows_per_s": round(len(data) / run_s),
        "decisions": int(decisions),
        "fills": int(fills),
        "orders_placed": int(placed),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("file", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--runs", type=int, default=3, help="timed runs per side (best is kept)")
    add_flag_arguments(ap)
    args = ap.parse_args()
    if not args.file.exists():
        _skip(args.file, f"data file not found: {args.file}")
        return
    try:
        inst = infer_instrument([args.file], flags_from_arguments(args)).instrument
    except ReplayError as exc:
        sys.exit(f"error: {exc}")
    try:
        import hftbacktest  # noqa: F401
        import numba  # noqa: F401
    except ImportError as exc:
        _skip(args.file, f"hftbacktest is not installed ({exc}); see this file's docstring")
        return
    ours = _ours(args.file, args.runs, inst)
    theirs = _theirs(args.file, args.runs)
    print(
        json.dumps(
            {
                "bench": "hftbacktest_compare",
                "file": args.file.name,
                "count": "snapshot and diff price levels + market trades (no bookTicker)",
                "ours": ours,
                "hftbacktest": theirs,
                "ratio_events_per_s": round(ours["events_per_s"] / theirs["events_per_s"], 3),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
