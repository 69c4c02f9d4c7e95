"""Several named instances on one machine: each its own control socket, lock and database;
`tradetui status` lists them, `--name` addresses one and `--all` every one; a refused start
stores nothing; the socket of a dead instance is removed, not listed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import short_runtime_dir
from tradetui.control import (
    ControlError,
    check_name,
    claimed,
    default_name,
    find_instances,
)

TRADETUI = [sys.executable, "-m", "tradetui"]


def _env(tmp: Path) -> dict[str, str]:
    runtime = short_runtime_dir(tmp)
    return {
        **os.environ,
        "XDG_RUNTIME_DIR": str(runtime),
        "XDG_DATA_HOME": str(tmp / "data"),
        "XDG_CONFIG_HOME": str(tmp / "cfg"),
    }


def _cli(tmp: Path, *args: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TRADETUI, *args], capture_output=True, text=True, timeout=timeout, env=_env(tmp), cwd=tmp
    )


def _headless(tmp: Path, name: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*TRADETUI, "run", "--headless", "--speed", "10", "--json", "--name", name, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(tmp),
        cwd=tmp,
    )


def _listed(tmp: Path) -> dict[str, dict[str, Any]]:
    r = _cli(tmp, "status", "--json")
    if r.returncode != 0:
        return {}
    return {row["name"]: row for row in json.loads(r.stdout)}


def _wait_until(check: Callable[[], bool], what: str, limit_s: float = 90.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _data(tmp: Path) -> Path:
    return tmp / "data" / "tradetui"


def _end_states(db: Path) -> list[str | None]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT end_state FROM sessions ORDER BY id")]


def _finish(p: subprocess.Popen[str]) -> dict[str, Any]:
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert out, err
    summary: dict[str, Any] = json.loads(out)
    return summary


def _stop_all(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(timeout=30)


def test_default_names_and_the_name_rule() -> None:
    assert default_name("paper", "usdm", "BTCUSDT") == "paper-usdm-btcusdt"
    assert default_name("paper", "coinm", "BTCUSD_PERP") == "paper-coinm-btcusd_perp"
    assert default_name("live", "usdm", "BTC/USDT:USDT") == "live-usdm-btc-usdt-usdt"
    for good in ("a", "desk-1", "Paper.2_b"):
        assert check_name(good) == good
    for bad in ("", "../x", "a/b", ".hidden", "-x", "a b", "x" * 65, "ü"):
        with pytest.raises(ControlError, match="cannot name an instance"):
            check_name(bad)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_two_headless_instances_and_a_console_side_by_side(tmp_path: Path) -> None:
    """The issue's "done when": two headless paper instances and a console, each named; status
    lists the three; halt --name halts that one alone."""
    env = _env(tmp_path)
    out = tmp_path / "console.out"
    server = ["tmux", "-L", f"tt-instances-{os.getpid()}", "-f", "/dev/null"]
    exports = " ".join(f"{k}={env[k]}" for k in ("XDG_RUNTIME_DIR", "XDG_DATA_HOME"))
    console = (
        f"cd {tmp_path} && TERM=xterm-256color {exports} PYTHONPATH={env.get('PYTHONPATH', '')} "
        f"{sys.executable} -m tradetui run --name desk --speed 10 --json > {out}; "
        f"echo EXIT=$? >> {out}; sleep 60"
    )
    procs = [
        _headless(tmp_path, "alpha"),
        _headless(tmp_path, "beta", "--market", "synthetic:coinm:BTCUSD_PERP"),
    ]
    subprocess.run(
        [*server, "new-session", "-d", "-s", "desk", "-x", "120", "-y", "35", console],
        check=True,
        env=env,
    )
    try:
        _wait_until(
            lambda: (
                {n: r.get("state") for n, r in _listed(tmp_path).items()}
                == {"alpha": "running", "beta": "running", "desk": "running"}
            ),
            "three running instances",
        )
        table = _cli(tmp_path, "status")
        assert table.returncode == 0, table.stderr
        for name, symbol in (("alpha", "BTCUSDT"), ("beta", "BTCUSD_PERP"), ("desk", "BTCUSDT")):
            assert any(name in line and symbol in line for line in table.stdout.splitlines())

        halted = _cli(tmp_path, "halt", "--name", "beta", "--json")
        assert halted.returncode == 0, halted.stderr
        assert json.loads(halted.stdout)["state"] == "halted"
        listed = _listed(tmp_path)
        assert {n: r["state"] for n, r in listed.items()} == {
            "alpha": "running",
            "beta": "halted",
            "desk": "running",
        }
        assert listed["beta"]["halt_reason"] == "kill switch (tradetui halt)"

        # Without a name, a command that addresses one instance is refused when several run.
        ambiguous = _cli(tmp_path, "stop")
        assert ambiguous.returncode == 2
        assert "3 instances are running (alpha, beta, desk)" in ambiguous.stderr

        stopped = _cli(tmp_path, "stop", "--name", "desk", "--json")
        assert stopped.returncode == 0, stopped.stderr
        subprocess.run([*server, "send-keys", "-t", "desk", "q"], check=True)
        # With a position open, quit asks first (the position stays open): confirm with y.
        time.sleep(1.0)
        subprocess.run([*server, "send-keys", "-t", "desk", "y"], check=True)
        _wait_until(lambda: "EXIT=" in out.read_text() if out.exists() else False, "console exit")
        assert "EXIT=0" in out.read_text()
        alpha, beta = (_finish(p) for p in procs)
    finally:
        _stop_all(procs)
        subprocess.run([*server, "kill-server"], capture_output=True)
    assert alpha["state"] == "stopped"
    assert beta["state"] == "halted"
    assert procs[1].returncode == 3  # a session that ended halted
    # Each instance kept its own database, named after it, with its one session.
    for name, state in (("alpha", "stopped"), ("beta", "halted"), ("desk", "stopped")):
        assert _end_states(_data(tmp_path) / f"{name}.db") == [state]
    gone = _cli(tmp_path, "status")
    assert gone.returncode == 2
    assert "no running tradetui" in gone.stderr


def test_a_refused_start_stores_nothing(tmp_path: Path) -> None:
    first = _headless(tmp_path, "alpha")
    try:
        _wait_until(lambda: "alpha" in _listed(tmp_path), "alpha listening")
        for extra in ([], ["--db", str(tmp_path / "other.db")]):
            r = _cli(tmp_path, "run", "--headless", "--duration", "5", "--name", "alpha", *extra)
            assert r.returncode == 5, r.stderr
            assert r.stderr.strip().splitlines() == [
                f"error: another tradetui is running as alpha (control socket "
                f"{short_runtime_dir(tmp_path)}/tradetui/alpha.sock); stop it first "
                "(tradetui stop --name alpha) or give this run another --name"
            ]
        summary = _finish(first)
    finally:
        _stop_all([first])
    assert summary["state"] == "stopped"
    assert not (tmp_path / "other.db").exists()
    # alpha's own database holds alpha's session alone: no `error` row from the refused runs.
    assert _end_states(_data(tmp_path) / "alpha.db") == ["stopped"]
    listed = _cli(tmp_path, "sessions", "--name", "alpha", "--json", timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert [r["end_state"] for r in json.loads(listed.stdout)] == ["stopped"]


def test_the_socket_of_a_killed_instance_is_removed_not_listed(tmp_path: Path) -> None:
    p = _headless(tmp_path, "alpha")
    try:
        _wait_until(lambda: "alpha" in _listed(tmp_path), "alpha listening")
    finally:
        p.kill()
        p.wait(timeout=30)
    sock = short_runtime_dir(tmp_path) / "tradetui" / "alpha.sock"
    assert sock.exists()  # kill -9 leaves it behind
    r = _cli(tmp_path, "status")
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        f"removed the control socket of a stopped instance: {sock}",
        f"error: no running tradetui in {short_runtime_dir(tmp_path)}/tradetui; start one with "
        "`tradetui run --headless`, or pass --socket for one listening elsewhere",
    ]
    assert not sock.exists()


def test_all_reports_each_instance_and_fails_when_one_does_not_answer(tmp_path: Path) -> None:
    """halt --all reaches every instance; one whose process holds its lock but does not listen
    (hung) is reported as failed and the exit is 1, the others are halted all the same."""
    folder = short_runtime_dir(tmp_path) / "tradetui"
    p = _headless(tmp_path, "alpha")
    hung = folder / "hung.sock"
    try:
        _wait_until(lambda: "alpha" in _listed(tmp_path), "alpha listening")
        with claimed(hung), socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.bind(str(hung))  # bound, never listening: connecting is refused
            found = find_instances(folder)
            assert [(i.name, i.answer is None) for i in found.instances] == [
                ("alpha", False),
                ("hung", True),
            ]
            r = _cli(tmp_path, "halt", "--all", "--json")
            listed = _cli(tmp_path, "status")
        assert r.returncode == 1, r.stderr
        answers = {a["name"]: a for a in json.loads(r.stdout)}
        assert answers["alpha"]["ok"] is True
        assert answers["alpha"]["state"] == "halted"
        assert answers["hung"]["ok"] is False
        assert "does not listen" in answers["hung"]["message"]
        assert listed.returncode == 1  # status lists the hung one, and says so by its exit
        assert "does not listen" in listed.stdout
        # Released, the hung instance's socket is dead and goes at the next look.
        assert [i.name for i in find_instances(folder).instances] == ["alpha"]
        assert not hung.exists()
        _finish(p)
    finally:
        _stop_all([p])


def test_bad_names_are_one_line(tmp_path: Path) -> None:
    for args in (
        ["run", "--headless", "--name", "../x", "--duration", "5"],
        ["halt", "--name", "a/b"],
        ["status", "--name", ""],
    ):
        r = _cli(tmp_path, *args, timeout=60)
        assert r.returncode == 2, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "cannot name an instance" in r.stderr
    assert not (tmp_path / "data").exists()
    both = _cli(tmp_path, "halt", "--all", "--name", "x", timeout=60)
    assert both.returncode == 2
    assert "--all addresses every running instance" in both.stderr
