"""`tradetui run --headless` trading live against `tradetui sandbox exchange` (two processes)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sqlite3
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.sandbox.matrix import KEY, SECRET, session_env
from tests.sandbox.test_command import base_url, start
from tradetui.cli import app
from tradetui.sandbox.client import loopback_client


async def tradetui(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tradetui",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **env},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def headless(duration_s: int, db: Path, env: dict[str, str]) -> tuple[int, str, str]:
    """`tradetui run --headless --json --flatten-on-exit` for ``duration_s`` into ``db``."""
    return await tradetui(
        "run",
        "--headless",
        "--duration",
        str(duration_s),
        "--json",
        "--flatten-on-exit",
        "--db",
        str(db),
        env=env,
    )


async def test_headless_run_trades_the_sandbox_live_and_records_a_live_db(
    tmp_path: Path,
) -> None:
    sandbox = await start()
    try:
        url = await base_url(sandbox)
        db = tmp_path / "live.db"
        code, out, err = await headless(3, db, session_env(url, tmp_path))
    finally:
        sandbox.send_signal(signal.SIGINT)
        await asyncio.wait_for(sandbox.communicate(), 30)

    assert code == 0, err[-2000:]
    summary = json.loads(out)
    assert summary["orders_placed"] > 0
    assert summary["position_base"] == 0
    assert summary["state"] == "stopped"
    assert summary["open_orders"] == 0
    mode = sqlite3.connect(db).execute("SELECT mode, venue FROM sessions").fetchall()
    assert mode == [("live", f"binanceusdm@{url.split('//')[1]}")]
    assert KEY not in err
    assert SECRET not in err
    assert not re.search(r"signature=[0-9a-f]{64}", err)
    assert "account read; quoting" in err


# Binance COIN-M BTCUSD_PERP in contracts of 100 USD, with the default sizing and risk limits
# (one contract a side; limits priced as inverse); quotes stay within 2 ticks of mid so the
# synthetic prints fill.
COINM_ENV = {
    "TRADETUI_VENUE__EXCHANGE": "binancecoinm",
    "TRADETUI_VENUE__SYMBOL": "BTCUSD_PERP",
    "TRADETUI_STRATEGY__MAX_SPREAD_TICKS": "4",
    "TRADETUI_STRATEGY__FEE_FLOOR": "false",  # quotes near the mid, for fills within seconds
    "TRADETUI_QUOTING__MIN_AGE_MS": "0",
}


async def test_headless_run_trades_coinm_live_and_reconciles_with_the_exchange(
    tmp_path: Path,
) -> None:
    sandbox = await start("--venue", "coinm")
    try:
        url = await base_url(sandbox)
        db = tmp_path / "live.db"
        code, out, err = await headless(4, db, session_env(url, tmp_path) | COINM_ENV)
        client = loopback_client(url, KEY, SECRET, exchange="binancecoinm")
        try:
            positions = await client.fetch_positions(["BTC/USD:BTC"])
            at_exchange = await client.fetch_my_trades("BTC/USD:BTC")
            still_open = await client.fetch_open_orders("BTC/USD:BTC")
        finally:
            await client.close()
    finally:
        sandbox.send_signal(signal.SIGINT)
        await asyncio.wait_for(sandbox.communicate(), 30)

    assert code == 0, err[-2000:]
    summary = json.loads(out)
    assert summary["symbol"] == "BTCUSD_PERP"
    assert summary["fills"] > 0
    assert summary["position_size"] == 0, err[-6000:]
    assert (summary["size_unit"], summary["settle_asset"]) == ("contracts", "BTC")
    assert (summary["state"], summary["open_orders"]) == ("stopped", 0)
    assert [p["contracts"] for p in positions if p["contracts"]] == []
    assert still_open == []
    # Every fill the exchange made is in the store with its commission (BTC, 8 decimals).
    stored = (
        sqlite3.connect(db)
        .execute("SELECT trade_id, qty_lots, fee_quote, fee_asset FROM fills")
        .fetchall()
    )
    assert {a for *_, a in stored} == {"BTC"}
    ours = sorted((str(t), q, round(f, 8)) for t, q, f, _ in stored)
    theirs = sorted((t["id"], int(t["amount"]), t["fee"]["cost"]) for t in at_exchange)
    assert {t["fee"]["currency"] for t in at_exchange} == {"BTC"}
    assert ours == theirs
    assert summary["fees"] == pytest.approx(sum(t[2] for t in theirs), abs=1e-12)
    assert "balance 1.0 BTC" in err


def run_in_process(env: dict[str, str]) -> tuple[int, str]:
    """`tradetui run --headless` in this process (refusals need no second interpreter)."""
    result = CliRunner().invoke(app, ["run", "--headless", "--duration", "1"], env=env)
    return result.exit_code, result.stderr


def test_live_run_without_keys_is_refused_in_one_line(tmp_path: Path) -> None:
    env = session_env("http://127.0.0.1:9", tmp_path) | {"TRADETUI_API_SECRET": ""}

    code, err = run_in_process(env)

    assert code == 2
    assert err.strip().count("\n") == 0
    assert "TRADETUI_API_SECRET is not set" in err


def test_live_run_with_an_open_secrets_file_is_refused(tmp_path: Path) -> None:
    secrets = tmp_path / "keys.toml"
    secrets.write_text(f'api_key = "{KEY}"\napi_secret = "{SECRET}"\n')
    secrets.chmod(0o640)
    env = session_env("http://127.0.0.1:9", tmp_path) | {
        "TRADETUI_VENUE__SECRETS_FILE": str(secrets)
    }

    code, err = run_in_process(env)

    assert code == 2
    assert "chmod 600" in err
    assert SECRET not in err


def test_unreachable_exchange_is_one_line_and_a_refused_start(tmp_path: Path) -> None:
    env = session_env("http://127.0.0.1:9", tmp_path) | {
        "TRADETUI_VENUE__REQUEST_TIMEOUT_MS": "300"
    }

    code, err = run_in_process(env)

    assert code == 5  # the start was refused (README, "Exit codes")
    assert err.strip().splitlines()[-1].startswith("error: binanceusdm")
