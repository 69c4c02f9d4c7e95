"""Helpers for the research tests: two recorded windows of the synthetic market, one after
the other, and a real Dask cluster (a scheduler and worker processes) on localhost."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.instruments import btcusdt_perpetual
from tradetui.market.recorder import CaptureEncoder, CaptureWriter, record_events
from tradetui.market.synthetic import SyntheticMarket

INST = btcusdt_perpetual()
_NS_PER_S = 1_000_000_000
T0_NS = 1_700_000_000 * _NS_PER_S
WINDOW_S = 20
_ROOT = Path(__file__).resolve().parents[2]
_START_TIMEOUT_S = 90


def record_windows(out: Path, count: int = 2) -> list[Path]:
    """``count`` recordings of WINDOW_S seconds each, consecutive in time (different seeds)."""
    files = []
    for k in range(count):
        t0 = T0_NS + k * (WINDOW_S + 10) * _NS_PER_S
        events = SyntheticMarket(INST, seed=7 + k, start_ns=t0).events()
        encoder = CaptureEncoder(INST)
        folder = out / f"window{k}"
        folder.mkdir(parents=True, exist_ok=True)
        with CaptureWriter(folder, "btc", encoder.snapshot, instrument=INST) as writer:
            record_events(events, encoder, writer, t0 + WINDOW_S * _NS_PER_S)
        files.append(writer.files[0])
    return files


def worker_env(cache: Path) -> dict[str, str]:
    """This checkout importable first, and a decode cache of the test's own."""
    return {**os.environ, "PYTHONPATH": str(_ROOT), "TRADETUI_CACHE_DIR": str(cache)}


@dataclass
class DaskCluster:
    address: str
    env: dict[str, str]
    scheduler_file: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def add_worker(self, log: Path) -> subprocess.Popen[bytes]:
        """One more worker process (one thread: backtests hold the GIL)."""
        args = ["--scheduler-file", str(self.scheduler_file), "--nthreads", "1"]
        proc = _spawn(
            [sys.executable, "-m", "dask", "worker", *args, "--no-dashboard"], log, self.env
        )
        self.workers.append(proc)
        return proc

    def wait_for_workers(self, n: int) -> None:
        from distributed import Client

        with Client(self.address, timeout=30, set_as_default=False) as client:
            client.wait_for_workers(n, timeout=_START_TIMEOUT_S)


def _spawn(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)


@contextlib.contextmanager
def dask_cluster(tmp: Path, workers: int, env: dict[str, str]) -> Iterator[DaskCluster]:
    """A scheduler on a port it picks and ``workers`` worker processes, all stopped after."""
    scheduler_file = tmp / "scheduler.json"
    scheduler = _spawn(
        [
            sys.executable,
            "-m",
            "dask",
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(scheduler_file),
        ],
        tmp / "scheduler.log",
        env,
    )
    cluster = None
    try:
        deadline = time.monotonic() + _START_TIMEOUT_S
        address = ""
        while not address:
            assert scheduler.poll() is None, (tmp / "scheduler.log").read_text()
            assert time.monotonic() < deadline, "the Dask scheduler did not start"
            time.sleep(0.2)
            with contextlib.suppress(OSError, ValueError, KeyError):
                address = json.loads(scheduler_file.read_text())["address"]
        cluster = DaskCluster(address, env, scheduler_file)
        for i in range(workers):
            cluster.add_worker(tmp / f"worker{i}.log")
        cluster.wait_for_workers(workers)
        yield cluster
    finally:
        # Workers first (they leave the scheduler cleanly), then the scheduler.
        for group in (cluster.workers if cluster else [], [scheduler]):
            for p in group:
                if p.poll() is None:
                    p.terminate()
            for p in group:
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(timeout=15)
