"""`tradetui run --headless --market live` paper-trading the live market of a
`tradetui sandbox exchange` process, with no keys (two processes)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from tests.sandbox.matrix import (
    exchange_view,
    finish,
    sandbox_process,
    set_faults,
    spawn_tradetui,
)
from tradetui.cli import app

SYNCED = "feed live: book in sync"


def paper_env(url: str, tmp_path: Path) -> dict[str, str]:
    """Paper (venue.exchange sim) with the sandbox's URLs for the market, and no keys."""
    return {
        "TRADETUI_VENUE__REST_URL": url,
        "TRADETUI_VENUE__WS_URL": url.replace("http://", "ws://"),
        "TRADETUI_VENUE__RATE_LIMIT": "false",
        "TRADETUI_API_KEY": "",
        "TRADETUI_API_SECRET": "",
        "TRADETUI_ENGINE__CONTROL_SOCKET": str(tmp_path / "ctl.sock"),
        "TRADETUI_CATALOG_DIR": str(tmp_path / "markets"),
        "TRADETUI_FEED__RECONNECT_INITIAL_S": "0.05",
        # Quotes within 2 ticks of mid, so the sandbox's synthetic prints fill them.
        "TRADETUI_STRATEGY__MAX_SPREAD_TICKS": "4",
        "TRADETUI_STRATEGY__FEE_FLOOR": "false",
        "TRADETUI_QUOTING__MIN_AGE_MS": "0",
    }


async def test_paper_on_the_live_market_fills_by_the_queue_and_resyncs_after_a_drop(
    tmp_path: Path,
) -> None:
    # The instance's default name and database: paper on the live market of USD-M.
    db = tmp_path / "paper-live-usdm-btcusdt.db"
    async with sandbox_process() as url:
        args = ["run", "--headless", "--market", "live", "--venue", "binanceusdm"]
        args += ["--duration", "8", "--json"]
        env = paper_env(url, tmp_path) | {"TRADETUI_STORE__DIR": str(tmp_path)}
        proc = await spawn_tradetui(*args, env=env)
        assert proc.stderr is not None
        seen: list[str] = []
        # Once the book is in sync, drop every websocket of the exchange: the market too.
        while not any(SYNCED in line for line in seen):
            line = (await proc.stderr.readline()).decode()
            assert line, "".join(seen)
            seen.append(line)
        await set_faults(url, drop="all")
        run = await finish(proc)
        view = await exchange_view(url)

    err = "".join(seen) + run.err
    assert run.code == 0, err[-3000:]
    summary = run.summary
    assert (summary["mode"], summary["market_source"]) == ("paper", "live")
    assert summary["market_venue"] == "binanceusdm"
    assert summary["fills"] > 0, err[-3000:]
    assert summary["orders_placed"] > 0
    assert summary["db"] == str(db)
    # The book was lost with the socket and came back from a fresh snapshot.
    dropped = err.index("feed disconnected: websocket closed 1001")
    assert SYNCED in err[dropped:], err[-3000:]
    # Paper: the exchange's account never saw an order, a trade or a position.
    assert (view.position, view.trades, view.open_orders) == (0, {}, [])
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT mode, venue FROM sessions").fetchall() == [("paper", "sim")]
        (stored,) = conn.execute("SELECT count(*) FROM fills").fetchone()
    assert stored == summary["fills"]


def run_in_process(*args: str, env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["run", "--headless", "--duration", "1", *args], env=env)
    return result.exit_code, result.stderr


def test_a_live_market_at_another_speed_is_one_line_and_exit_2(tmp_path: Path) -> None:
    code, err = run_in_process(
        "--market", "live", "--speed", "10", env=paper_env("http://127.0.0.1:9", tmp_path)
    )

    assert code == 2
    assert err.strip().count("\n") == 0
    assert err.startswith("error: --speed 10: the live market (live) comes in real time")


def test_the_console_command_takes_the_live_market_too(tmp_path: Path) -> None:
    """`tradetui --market live --venue ...` (no command: the console) reaches the same checks."""
    env = paper_env("http://127.0.0.1:9", tmp_path)

    result = CliRunner().invoke(
        app, ["--market", "live", "--venue", "usdm", "--speed", "max"], env=env
    )

    assert result.exit_code == 2
    assert result.stderr.startswith("error: --speed max: the live market (live:usdm:BTCUSDT)")


def test_no_network_is_one_line_and_a_refused_start(tmp_path: Path) -> None:
    env = paper_env("http://127.0.0.1:9", tmp_path) | {"TRADETUI_VENUE__REQUEST_TIMEOUT_MS": "300"}

    code, err = run_in_process(
        "--market", "live:usdm:ETHUSDT", "--db", str(tmp_path / "p.db"), env=env
    )

    assert code == 5  # the start was refused (README, "Exit codes")
    assert err.strip().count("\n") == 0, err
    assert err.startswith("error: market.source: binanceusdm's markets could not be read")
    assert not (tmp_path / "p.db").exists()


def test_venue_and_symbol_name_the_live_market(tmp_path: Path) -> None:
    env = paper_env("http://127.0.0.1:9", tmp_path) | {"TRADETUI_VENUE__REQUEST_TIMEOUT_MS": "300"}

    code, err = run_in_process(
        "--market", "live", "--venue", "coinm", "--symbol", "BTCUSD_PERP", env=env
    )

    assert code == 5
    assert err.startswith("error: market.source: binancecoinm's markets could not be read")


def test_a_replay_refuses_venue_and_symbol(tmp_path: Path) -> None:
    env = paper_env("http://127.0.0.1:9", tmp_path)
    replay = tmp_path / "x.csv"
    replay.write_text("")

    code, err = run_in_process("--market", f"replay:{replay}", "--symbol", "ETHUSDT", env=env)

    assert code == 2
    assert err.strip().count("\n") == 0
    assert err.startswith("error: --symbol: a replay trades the instrument of its files")
