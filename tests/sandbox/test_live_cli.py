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

from typer.testing import CliRunner

from tests.sandbox.test_command import base_url, start
from tradetui.cli import app

KEY, SECRET = "cli-key-7f3a", "cli-secret-9c2e"


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


def live_env(url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "TRADETUI_VENUE__EXCHANGE": "binanceusdm",
        "TRADETUI_VENUE__REST_URL": url,
        "TRADETUI_VENUE__WS_URL": url.replace("http://", "ws://"),
        "TRADETUI_VENUE__RATE_LIMIT": "false",
        "TRADETUI_ENGINE__CONTROL_SOCKET": str(tmp_path / "ctl.sock"),
        "TRADETUI_API_KEY": KEY,
        "TRADETUI_API_SECRET": SECRET,
    }


async def test_headless_run_trades_the_sandbox_live_and_records_a_live_db(
    tmp_path: Path,
) -> None:
    sandbox = await start()
    try:
        url = await base_url(sandbox)
        db = tmp_path / "live.db"
        code, out, err = await tradetui(
            "run",
            "--headless",
            "--duration",
            "3",
            "--json",
            "--flatten-on-exit",
            "--db",
            str(db),
            env=live_env(url, tmp_path),
        )
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


def run_in_process(env: dict[str, str]) -> tuple[int, str]:
    """`tradetui run --headless` in this process (refusals need no second interpreter)."""
    result = CliRunner().invoke(app, ["run", "--headless", "--duration", "1"], env=env)
    return result.exit_code, result.stderr


def test_live_run_without_keys_is_refused_in_one_line(tmp_path: Path) -> None:
    env = live_env("http://127.0.0.1:9", tmp_path) | {"TRADETUI_API_SECRET": ""}

    code, err = run_in_process(env)

    assert code == 2
    assert err.strip().count("\n") == 0
    assert "TRADETUI_API_SECRET is not set" in err


def test_live_run_with_an_open_secrets_file_is_refused(tmp_path: Path) -> None:
    secrets = tmp_path / "keys.toml"
    secrets.write_text(f'api_key = "{KEY}"\napi_secret = "{SECRET}"\n')
    secrets.chmod(0o640)
    env = live_env("http://127.0.0.1:9", tmp_path) | {"TRADETUI_VENUE__SECRETS_FILE": str(secrets)}

    code, err = run_in_process(env)

    assert code == 2
    assert "chmod 600" in err
    assert SECRET not in err


def test_unreachable_exchange_is_one_line_and_a_refused_start(tmp_path: Path) -> None:
    env = live_env("http://127.0.0.1:9", tmp_path) | {"TRADETUI_VENUE__REQUEST_TIMEOUT_MS": "300"}

    code, err = run_in_process(env)

    assert code == 5  # the start was refused (README, "Exit codes")
    assert err.strip().splitlines()[-1].startswith("error: binanceusdm")
