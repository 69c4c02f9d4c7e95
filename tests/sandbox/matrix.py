"""The fault matrix's common ground: a headless live session against a sandbox process, and
the four things every case must leave true (issue 18's "Done when").

1. The engine's position (the session summary) equals the exchange's.
2. Every trade the exchange made for us is in SQLite exactly once.
3. No order of ours is left working at the exchange.
4. The session halted only where the case calls for it (``halted=True``).

Each case starts ``tradetui sandbox exchange`` with its fault flags, runs
``tradetui run --headless --json --flatten-on-exit --db`` against it (``headless``), asks the
exchange through a plain ccxt client what it holds (``exchange_view``) and checks the four.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.sandbox.test_command import base_url, start
from tradetui.core.instrument import Instrument
from tradetui.sandbox.client import loopback_client

KEY, SECRET = "cli-key-7f3a", "cli-secret-9c2e"


@dataclass
class Run:
    """One ``tradetui`` process's end: exit code, stdout, stderr, and the JSON summary (when
    stdout held one)."""

    code: int
    out: str
    err: str

    @property
    def summary(self) -> dict[str, Any]:
        return dict(json.loads(self.out))


@dataclass
class ExchangeView:
    """What the exchange holds for us: signed position (base units, or contracts), our trades
    (id → amount) and the client ids of our open orders."""

    position: float
    trades: dict[str, float]
    open_orders: list[str]


def session_env(url: str, tmp_path: Path, **settings: str) -> dict[str, str]:
    """Environment for a live session on the sandbox at ``url`` (``settings``: extra
    ``TRADETUI_*`` variables)."""
    return {
        "TRADETUI_VENUE__EXCHANGE": "binanceusdm",
        "TRADETUI_VENUE__REST_URL": url,
        "TRADETUI_VENUE__WS_URL": url.replace("http://", "ws://"),
        "TRADETUI_VENUE__RATE_LIMIT": "false",
        "TRADETUI_ENGINE__CONTROL_SOCKET": str(tmp_path / "ctl.sock"),
        "TRADETUI_API_KEY": KEY,
        "TRADETUI_API_SECRET": SECRET,
        # The cases need fills within seconds, from quotes near the mid; the fee floor would
        # hold them 2.5 bps out, beyond strategy.max_spread_ticks.
        "TRADETUI_STRATEGY__FEE_FLOOR": "false",
        **settings,
    }


@contextlib.asynccontextmanager
async def sandbox_process(*flags: str) -> AsyncIterator[str]:
    """``tradetui sandbox exchange`` with ``flags``; yields its base URL, stops it on exit."""
    proc = await start(*flags)
    try:
        yield await base_url(proc)
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), 30)


async def set_faults(url: str, **spec: str | int) -> dict[str, Any]:
    """Switch the running sandbox's faults (``POST /sandbox/faults``); returns them all."""
    query = {k: str(v) for k, v in spec.items()}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/sandbox/faults", params=query) as answer,
    ):
        assert answer.status == 200, await answer.text()
        state: dict[str, Any] = await answer.json()
        return state


async def spawn_tradetui(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tradetui",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )


async def finish(proc: asyncio.subprocess.Process, timeout_s: float = 60.0) -> Run:
    out, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


def headless_args(duration_s: float, db: Path, *extra: str) -> list[str]:
    return [
        "run",
        "--headless",
        "--duration",
        f"{duration_s:g}",
        "--json",
        "--flatten-on-exit",
        "--db",
        str(db),
        *extra,
    ]


async def headless(duration_s: float, db: Path, env: dict[str, str], *extra: str) -> Run:
    """``tradetui run --headless --json --flatten-on-exit`` for ``duration_s`` into ``db``."""
    return await finish(await spawn_tradetui(*headless_args(duration_s, db, *extra), env=env))


async def exchange_view(
    url: str, symbol: str = "BTC/USDT:USDT", exchange: str = "binanceusdm", *, synced: bool = False
) -> ExchangeView:
    """The exchange's position, trades and open orders; ``synced``: first load the exchange
    clock's offset (a sandbox with a skewed clock refuses unsynced signed requests, -1021)."""
    client = loopback_client(url, KEY, SECRET, exchange=exchange)
    try:
        if synced:
            await client.load_time_difference()
        positions = await client.fetch_positions([symbol])
        trades = await client.fetch_my_trades(symbol)
        still_open = await client.fetch_open_orders(symbol)
    finally:
        await client.close()
    position = 0.0
    for p in positions:
        amount = float((p.get("info") or {}).get("positionAmt") or 0.0)
        position += amount
    return ExchangeView(
        position=position,
        trades={str(t["id"]): float(t["amount"]) for t in trades},
        open_orders=[str(o.get("clientOrderId") or o["id"]) for o in still_open],
    )


def stored_trade_ids(db: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return [str(t) for (t,) in conn.execute("SELECT trade_id FROM fills")]


def assert_invariants(
    run: Run,
    view: ExchangeView,
    dbs: Sequence[Path],
    *,
    halted: bool = False,
    position: float | None = None,
) -> None:
    """The four invariants; ``dbs``: every database the case's sessions wrote (a restart may
    use the same one); ``position``: the engine's final position when not ``run``'s summary."""
    detail = run.err[-4000:]
    engine_position = run.summary["position_size"] if position is None else position
    assert abs(engine_position - view.position) < 1e-9, (engine_position, view.position, detail)
    stored = [t for db in dict.fromkeys(dbs) for t in stored_trade_ids(db)]
    assert len(stored) == len(set(stored)), f"a fill stored twice: {sorted(stored)}"
    assert set(stored) == set(view.trades), (sorted(stored), sorted(view.trades), detail)
    assert view.open_orders == [], (view.open_orders, detail)
    if not halted:
        assert run.summary["state"] != "halted", detail


def assert_refused_untouched(run: Run, view: ExchangeView, dbs: Sequence[Path]) -> None:
    """The invariants of a start the venue refused, which prints no summary: the exchange holds
    no position, trade or open order of ours, no database holds a fill, and the refusal is one
    ``error:`` line on stderr with exit code 5 and nothing on stdout."""
    detail = run.err[-4000:]
    assert run.code == 5, (run.code, detail)
    assert run.out == "", run.out
    errors = [line for line in run.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, detail
    assert run.err.rstrip().endswith(errors[0]), detail
    assert view.position == 0, (view.position, detail)
    assert view.trades == {}, (view.trades, detail)
    assert view.open_orders == [], (view.open_orders, detail)
    for db in dbs:
        if db.exists():
            assert stored_trade_ids(db) == [], detail


async def read_until(proc: asyncio.subprocess.Process, text: str, timeout_s: float = 60.0) -> str:
    """Read ``proc``'s stderr until a line holds ``text``; returns what was read (``finish``
    returns only the rest, so a case adds this in front of its ``Run.err``)."""
    assert proc.stderr is not None
    seen: list[str] = []

    async def scan() -> None:
        while True:
            line = (await proc.stderr.readline()).decode()  # type: ignore[union-attr]
            if not line:
                raise AssertionError(f"exited before logging {text!r}:\n{''.join(seen)[-3000:]}")
            seen.append(line)
            if text in line:
                return

    await asyncio.wait_for(scan(), timeout_s)
    return "".join(seen)


@dataclass
class StoredMarket:
    """One market's session in a book's database: the position its stored fills rebuild
    (base units, or contracts) and its trade ids, in order."""

    session_id: int
    position: float
    trades: list[str]


def stored_book(db: Path) -> dict[str, StoredMarket]:
    """Every market of the database's newest book (several markets, one session row each),
    by symbol. Each fill's stored running position must match the fills before it."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        (book,) = conn.execute("SELECT book FROM sessions ORDER BY id DESC LIMIT 1").fetchone()
        rows = conn.execute(
            "SELECT id, symbol, instrument_json FROM sessions WHERE book = ? ORDER BY id", (book,)
        ).fetchall()
        out: dict[str, StoredMarket] = {}
        for sid, symbol, spec in rows:
            inst = Instrument.from_spec(json.loads(spec))
            fills = conn.execute(
                "SELECT trade_id, side, qty_lots, position_lots FROM fills "
                "WHERE session_id = ? ORDER BY seq",
                (sid,),
            ).fetchall()
            lots = 0
            for _, side, qty, position in fills:
                lots += qty if side > 0 else -qty
                assert position == lots, (symbol, position, lots)
            out[symbol] = StoredMarket(sid, float(inst.qty(lots)), [str(f[0]) for f in fills])
    return out


def assert_book_invariants(
    run: Run,
    db: Path,
    views: dict[str, ExchangeView] | None = None,
    *,
    halted: bool = False,
) -> None:
    """The four invariants for EVERY market of a book run (``run --json`` with several
    markets). ``views``: the exchange's view per symbol for a live book; without it (paper)
    the exchange is the simulated one, whose fills are the stored ones: the engine's position
    must equal the one they rebuild, each once, and no order may be left open."""
    detail = run.err[-4000:]
    summary = run.summary
    stored = stored_book(db)
    markets = {m["symbol"]: m for m in summary["markets"]}
    assert set(stored) == set(markets), (sorted(stored), sorted(markets))
    for symbol, m in markets.items():
        one = stored[symbol]
        assert len(one.trades) == len(set(one.trades)), f"{symbol}: a fill stored twice"
        assert len(one.trades) == m["fills"], (symbol, len(one.trades), m["fills"], detail)
        assert abs(m["position_size"] - one.position) < 1e-9, (symbol, m, one, detail)
        assert m["open_orders"] == 0, (symbol, m["open_orders"], detail)
        if views is not None:
            view = views[symbol]
            assert abs(m["position_size"] - view.position) < 1e-9, (symbol, view, detail)
            assert set(one.trades) == set(view.trades), (symbol, detail)
            assert view.open_orders == [], (symbol, view.open_orders, detail)
        if not halted:
            assert m["state"] != "halted", (symbol, detail)
    if not halted:
        assert summary["state"] != "halted", detail
