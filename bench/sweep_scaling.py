"""Sweep throughput with 1 worker and with 2, in the same run: backtests/s and the ratio.

The sweep is a grid of strategy.gamma values on one recording (default: a synthetic
BTCUSDT market recorded to a temporary file for ``--seconds``), run on the local process
pool (``--jobs 1`` then ``--jobs 2``) and on a Dask cluster on this machine (a
``distributed.LocalCluster`` of one worker process, scaled to two; one thread each, as
backtests hold the GIL). Each count runs the whole grid once to warm the workers (decode, the
prepared replay, imports), then ``--runs`` times; the best run is reported (the machine is
shared). The rows of every run are checked equal, so the figures compare the same work.

    python bench/sweep_scaling.py [--points 8] [--seconds 120] [--runs 2] [--file FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from tradetui.backtest.sweep import Axis, grid_points, run_sweep
from tradetui.config import Settings
from tradetui.core.instrument import Instrument
from tradetui.market.cache import load_events
from tradetui.market.instruments import infer_instrument
from tradetui.market.recorder import CaptureEncoder, CaptureWriter, record_events
from tradetui.market.synthetic import SyntheticMarket
from tradetui.session import sim_instrument

_NS_PER_S = 1_000_000_000
_T0_NS = 1_700_000_000 * _NS_PER_S


def synthetic_file(folder: Path, seconds: int) -> tuple[Path, Instrument]:
    """A recording of ``seconds`` of the synthetic market and its instrument."""
    inst = sim_instrument(Settings())
    encoder = CaptureEncoder(inst)
    events = SyntheticMarket(inst, seed=1, start_ns=_T0_NS).events()
    with CaptureWriter(folder, "bench", encoder.snapshot, instrument=inst) as writer:
        record_events(events, encoder, writer, _T0_NS + seconds * _NS_PER_S)
    return writer.files[0], inst


def timed(
    file: Path, inst: Instrument, points: list[Any], runs: int, **where: Any
) -> tuple[float, list[dict[str, Any]]]:
    """Best wall time (s) of ``runs`` sweeps of ``points`` after one warm-up, and the rows."""
    run_sweep([file], inst, Settings(), points, **where)
    best, rows = float("inf"), []
    for _ in range(runs):
        t = time.perf_counter()
        rows = run_sweep([file], inst, Settings(), points, **where)
        best = min(best, time.perf_counter() - t)
    return best, [{k: v for k, v in r.items() if k != "run_s"} for r in rows]


def scaling(one_s: float, two_s: float, n: int) -> dict[str, float]:
    return {
        "backtests_per_s_1_worker": round(n / one_s, 3),
        "backtests_per_s_2_workers": round(n / two_s, 3),
        "ratio": round(one_s / two_s, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=8, help="backtests per sweep")
    ap.add_argument("--seconds", type=int, default=120, help="synthetic market length")
    ap.add_argument("--runs", type=int, default=2, help="timed sweeps per worker count")
    ap.add_argument("--file", type=Path, help="a recording instead of the synthetic market")
    args = ap.parse_args()
    from distributed import Client, LocalCluster

    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("TRADETUI_CACHE_DIR", str(Path(tmp) / "cache"))
        if args.file is None:
            file, inst = synthetic_file(Path(tmp), args.seconds)
        else:
            file, inst = args.file, infer_instrument([args.file]).instrument
        events, _, _ = load_events([file], inst)  # the cache every worker reads
        gammas = [round(0.005 * 1.6**i, 5) for i in range(args.points)]
        points = grid_points([Axis("strategy.gamma", tuple(gammas))])
        local1, rows = timed(file, inst, points, args.runs, jobs=1)
        local2, rows2 = timed(file, inst, points, args.runs, jobs=2)
        with LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster:
            address = cluster.scheduler_address
            dask1, rows3 = timed(file, inst, points, args.runs, cluster=address)
            cluster.scale(2)
            with Client(address, set_as_default=False) as client:
                client.wait_for_workers(2, timeout=120)
            dask2, rows4 = timed(file, inst, points, args.runs, cluster=address)
    assert rows == rows2 == rows3 == rows4, "rows differ between worker counts"
    print(
        json.dumps(
            {
                "file": str(args.file) if args.file else f"synthetic {args.seconds} s",
                "events": len(events),
                "backtests_per_sweep": len(points),
                "cpus": os.cpu_count(),
                "local_pool": scaling(local1, local2, len(points)),
                "dask": scaling(dask1, dask2, len(points)),
                "rows_equal": True,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
