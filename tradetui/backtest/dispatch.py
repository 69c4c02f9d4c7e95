"""Where a search's backtests run: a local process pool, or a Dask distributed cluster.

Both take the same tasks and stream back rows as they finish. A task names its point, its
data window and the objective; the data (the recorded files of every window, instrument,
settings, seed) travel separately, once per worker: by path when the workers see the same
files (one machine, or shared storage), else as the files' bytes, scattered to every worker
once (``dataset(..., shipped=True)``). A worker decodes each window once (through its own
decode cache) and keeps the events for the tasks that follow.

The rows depend only on the task and the data, never on which worker ran it or when: every
backtest runs with the search's seed, and the caller orders rows by task, not by arrival.
A Dask worker that dies takes its tasks with it; the scheduler gives them to another worker
(Dask's own retry of lost tasks), and a task that raised is tried again once.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import signal
import socket
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tradetui.config import ConfigError, Settings
from tradetui.core.instrument import Instrument
from tradetui.core.types import MarketEvent

if TYPE_CHECKING:
    from tradetui.backtest.sweep import Point
_CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True, slots=True)
class DataSet:
    """The data every task of a search reads: ``windows`` are the recorded files of each
    time window, earliest first; ``key`` names the data (see ``dataset``); ``blobs`` the
    files' bytes by path when shipped (None: workers open the paths)."""

    windows: tuple[tuple[str, ...], ...]
    instrument: Instrument
    settings: Settings
    seed: int
    key: str
    blobs: tuple[tuple[str, bytes], ...] | None = None


def dataset(
    windows: list[list[Path]],
    instrument: Instrument,
    settings: Settings,
    seed: int = 0,
    *,
    shipped: bool = False,
) -> DataSet:
    """The DataSet of ``windows``; ``shipped`` carries the files' bytes (for workers that
    cannot open the paths). Its key covers paths, sizes, times of change, instrument,
    settings and seed, so a worker never reuses another search's events."""
    names = tuple(tuple(str(p) for p in w) for w in windows)
    h = hashlib.sha256(repr((instrument, settings, seed)).encode())
    for p in (p for w in windows for p in w):
        st = p.stat()
        h.update(f"|{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    blobs = tuple((str(p), p.read_bytes()) for w in windows for p in w) if shipped else None
    return DataSet(names, instrument, settings, seed, h.hexdigest()[:24], blobs)


@dataclass(frozen=True, slots=True)
class Task:
    """One backtest: ``point`` on window ``window`` scored by ``objective``. ``prune_below``
    (step → value) stops the run at a step where its objective so far falls below it."""

    point: Point
    window: int
    objective: str = "pnl"
    prune_below: tuple[tuple[int, float], ...] = ()


# Per worker process: the decoded events of each window of the current data set.
_EVENTS: dict[tuple[str, int], list[MarketEvent]] = {}
_EVENTS_LOCK = threading.Lock()


def window_events(data: DataSet, window: int) -> list[MarketEvent]:
    """The events of ``window``, decoded once per worker process."""
    from tradetui.market.cache import load_events

    key = (data.key, window)
    with _EVENTS_LOCK:
        if key not in _EVENTS:
            if any(k[0] != data.key for k in _EVENTS):
                _EVENTS.clear()  # another search's data: free it
            paths = [Path(p) for p in data.windows[window]]
            if data.blobs is not None:
                paths = _unpacked(data, paths)
            _EVENTS[key] = load_events(paths, data.instrument)[0]
        return _EVENTS[key]


def _unpacked(data: DataSet, paths: list[Path]) -> list[Path]:
    """The shipped files written once to this worker's temporary folder (same file names:
    the format is read from them)."""
    assert data.blobs is not None
    folder = Path(tempfile.gettempdir()) / f"tradetui-shipped-{data.key}"
    blobs = dict(data.blobs)
    out = []
    for i, p in enumerate(paths):
        target = folder / str(i) / p.name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(".part")
            tmp.write_bytes(blobs[str(p)])
            tmp.replace(target)
        out.append(target)
    return out


def run_task(data: DataSet, task: Task) -> dict[str, Any]:
    """Run one task where it is called (a worker): the row of ``sweep.run_point`` and its
    window."""
    from tradetui.backtest.sweep import run_point

    row = run_point(
        data.settings,
        data.instrument,
        window_events(data, task.window),
        task.point,
        data.seed,
        objective=task.objective,
        prune_below=dict(task.prune_below),
    )
    row["window"] = task.window
    return row


class Runner(Protocol):
    """Runs tasks somewhere; ``stream`` yields (task index, row) as each finishes."""

    workers: int

    def stream(self, tasks: list[Task]) -> Iterator[tuple[int, dict[str, Any]]]: ...

    def close(self) -> None: ...


def _ignore_sigint() -> None:
    # Ctrl-C is the parent's to handle (it stops the pool); workers must not die mid-row.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class LocalRunner:
    """A pool of ``jobs`` processes on this machine (default: all cores)."""

    def __init__(self, data: DataSet, jobs: int | None = None) -> None:
        self.data = data
        self.workers = max(1, jobs or os.cpu_count() or 1)
        # Children that exist already are not the pool's (see close).
        self._others = {p.pid for p in multiprocessing.active_children()}
        self._pool = ProcessPoolExecutor(max_workers=self.workers, initializer=_ignore_sigint)

    def stream(self, tasks: list[Task]) -> Iterator[tuple[int, dict[str, Any]]]:
        index: dict[Future[dict[str, Any]], int] = {
            self._pool.submit(run_task, self.data, t): i for i, t in enumerate(tasks)
        }
        pending = set(index)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    yield index[f], f.result()
        finally:
            for f in pending:
                f.cancel()

    def close(self) -> None:
        # Stopped now rather than after the backtests under way (after Ctrl-C): the pool's
        # processes are the children started since it was made.
        procs = [p for p in multiprocessing.active_children() if p.pid not in self._others]
        self._pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(timeout=5)


class DaskRunner:
    """Tasks on a Dask distributed cluster at ``address`` (``tcp://host:port``)."""

    def __init__(self, data: DataSet, address: str) -> None:
        _reachable(address)  # a plain connect fails fast, before distributed is imported
        try:
            from distributed import Client
        except ImportError:
            raise ConfigError(
                f"--cluster {address}: Dask is not installed; pip install 'tradetui[research]'"
            ) from None

        try:
            self._client = Client(address, timeout=_CONNECT_TIMEOUT_S, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(_unreachable(address, exc)) from None
        self.workers = max(1, len(self._client.scheduler_info().get("workers", {})))
        # Shipped data go to every worker once; tasks then name them by key.
        self._data: Any = (
            data if data.blobs is None else self._client.scatter(data, broadcast=True, hash=False)
        )

    def stream(self, tasks: list[Task]) -> Iterator[tuple[int, dict[str, Any]]]:
        from distributed import as_completed

        futures = [
            self._client.submit(run_task, self._data, t, pure=False, retries=1) for t in tasks
        ]
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for f in as_completed(futures, loop=self._client.loop):
                yield index[f.key], f.result()
        finally:
            self._client.cancel(futures)

    def close(self) -> None:
        self._client.close()


def _unreachable(address: str, exc: BaseException) -> str:
    return (
        f"--cluster {address}: no Dask scheduler answered ({exc}); start one with "
        "`dask scheduler` and workers with `dask worker ADDRESS` (docs/research.md)"
    )


def _reachable(address: str) -> None:
    """Raise ConfigError unless something accepts TCP connections at ``address``."""
    host, _, port = address.partition("://")[2].rpartition(":")
    if not (host and port.isdigit()):
        raise ConfigError(
            f"--cluster {address!r}: expected tcp://host:port (e.g. tcp://10.0.0.5:8786)"
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=_CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ConfigError(_unreachable(address, exc)) from None


def open_runner(data: DataSet, cluster: str | None, jobs: int | None) -> Runner:
    """The runner ``--cluster`` names: None or ``local`` a local pool of ``jobs`` processes,
    ``tcp://host:port`` a Dask scheduler. Raises ConfigError naming a bad value."""
    if cluster is None or cluster == "local":
        return LocalRunner(data, jobs)
    if not cluster.startswith(("tcp://", "tls://")):
        raise ConfigError(
            f"--cluster {cluster!r}: expected `local` or a Dask scheduler address (tcp://host:8786)"
        )
    return DaskRunner(data, cluster)
