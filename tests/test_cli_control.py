"""Kill switch and flatten from the command line against a running headless instance, and the
position limit checked from stored fills."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

TRADETUI = [sys.executable, "-m", "tradetui"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path),
        "TRADETUI_ENGINE__CONTROL_SOCKET": str(tmp_path / "ctl.sock"),
        **extra,
    }


def _ctl(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TRADETUI, *args, "--socket", str(tmp_path / "ctl.sock"), "--json"],
        capture_output=True,
        text=True,
        timeout=150,
        env=_env(tmp_path),
    )


def _start_run(tmp_path: Path) -> subprocess.Popen[str]:
    p = subprocess.Popen(
        [*TRADETUI, "run", "--headless", "--speed", "10", "--json", "--db", str(tmp_path / "x.db")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=_env(tmp_path),
    )
    deadline = time.monotonic() + 60
    assert p.stderr is not None
    while time.monotonic() < deadline:
        if "→ running" in p.stderr.readline():
            return p
    p.kill()
    raise AssertionError("the headless run never started quoting")


def _finish(p: subprocess.Popen[str], code: int = 0) -> dict[str, Any]:
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert p.returncode == code, err
    summary: dict[str, Any] = json.loads(out)
    return summary


def _wait_for_fills(tmp_path: Path, n: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = json.loads(_ctl(tmp_path, "status").stdout)
        if status["fills"] >= n:
            return
        time.sleep(0.5)
    raise AssertionError(f"fewer than {n} fills within a minute")


def test_halt_from_the_cli_leaves_engine_halted_and_flat(tmp_path: Path) -> None:
    p = _start_run(tmp_path)
    try:
        _wait_for_fills(tmp_path, 3)
        r = _ctl(tmp_path, "halt", "--reason", "test kill switch")
        assert r.returncode == 0, r.stderr
        answer = json.loads(r.stdout)
        assert answer["state"] == "halted"
        assert answer["halt_reason"] == "test kill switch"
        assert answer["open_orders"] == 0
        assert abs(answer["position_base"]) < 0.001  # flat or dust below one lot
        refused = _ctl(tmp_path, "start")
        assert refused.returncode == 1
        assert "confirm" in json.loads(refused.stdout)["message"]
    finally:
        summary = _finish(p, code=3)  # a session that ended halted exits 3
    assert summary["state"] == "halted"
    assert summary["position_base"] == 0.0


def test_flatten_from_the_cli_ends_stopped_and_flat(tmp_path: Path) -> None:
    p = _start_run(tmp_path)
    try:
        _wait_for_fills(tmp_path, 3)
        r = _ctl(tmp_path, "flatten")
        assert r.returncode == 0, r.stderr
        answer = json.loads(r.stdout)
        assert answer["state"] == "stopped"
        assert answer["position_base"] == 0.0
        assert answer["open_orders"] == 0
    finally:
        summary = _finish(p)
    assert summary["position_base"] == 0.0


def test_control_without_a_running_instance_is_one_line_exit_2(tmp_path: Path) -> None:
    r = _ctl(tmp_path, "status")
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1
    assert "no running tradetui" in r.stderr


def test_tiny_position_limit_holds_across_a_long_run_checked_from_stored_fills(
    tmp_path: Path,
) -> None:
    db = tmp_path / "tiny.db"
    # The fee floor off: the limit is tested against many fills.
    env = _env(
        tmp_path, TRADETUI_RISK__MAX_POSITION_BASE="0.02", TRADETUI_STRATEGY__FEE_FLOOR="false"
    )
    args = ["run", "--headless", "--speed", "max", "--duration", "900", "--seed", "5"]
    run = subprocess.run(
        [*TRADETUI, *args, "--db", str(db), "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    fills = json.loads(
        subprocess.run(
            [*TRADETUI, "fills", "--db", str(db), "--format", "json"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=True,
        ).stdout
    )
    assert len(fills) > 50
    pos = Decimal(0)
    worst = Decimal(0)
    for f in fills:
        pos += Decimal(f["qty"]) * (1 if f["side"] == "buy" else -1)
        worst = max(worst, abs(pos))
    # The limit plus one order of 0.01 BTC (an order already resting when the limit is hit).
    assert worst <= Decimal("0.03")
    assert worst > 0
