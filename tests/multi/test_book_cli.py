"""A three-market headless run commanded from the command line: one market or all."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from tests.multi.book import BOOK_TOML, SYMBOLS
from tests.test_cli_control import TRADETUI, _ctl, _env


def _start_book(tmp_path: Path) -> subprocess.Popen[str]:
    (tmp_path / "config.toml").write_text(BOOK_TOML)
    p = subprocess.Popen(
        [*TRADETUI, "run", "--headless", "--speed", "10", "--json", "--db", str(tmp_path / "b.db")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=_env(tmp_path),
    )
    deadline = time.monotonic() + 90
    running = 0
    assert p.stderr is not None
    while time.monotonic() < deadline and running < len(SYMBOLS):
        running += "→ running" in p.stderr.readline()
    if running < len(SYMBOLS):
        p.kill()
        raise AssertionError("the three markets never all started quoting")
    return p


def test_halt_one_market_then_stop_all_from_the_cli(tmp_path: Path) -> None:
    p = _start_book(tmp_path)
    try:
        r = _ctl(tmp_path, "halt", "--symbol", "ETHUSDT", "--reason", "eth off")
        assert r.returncode == 0, r.stderr
        answer = json.loads(r.stdout)
        assert [(m["symbol"], m["state"]) for m in answer["markets"]] == [("ETHUSDT", "halted")]
        assert answer["markets"][0]["halt_reason"] == "eth off"
        status = json.loads(_ctl(tmp_path, "status").stdout)
        states = {m["symbol"]: m["state"] for m in status["markets"]}
        assert states == {"BTCUSDT": "running", "ETHUSDT": "halted", "BTCUSD_PERP": "running"}
        unknown = _ctl(tmp_path, "stop", "--symbol", "SOLUSDT")
        assert unknown.returncode == 1
        assert "no market 'SOLUSDT'" in json.loads(unknown.stdout)["message"]
        r = _ctl(tmp_path, "stop")
        assert r.returncode == 0, r.stderr
        stopped = {m["symbol"]: m["state"] for m in json.loads(r.stdout)["markets"]}
        assert stopped == {"BTCUSDT": "stopped", "ETHUSDT": "halted", "BTCUSD_PERP": "stopped"}
    finally:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
    assert p.returncode == 3, err  # a market ended halted
    summary = json.loads(out)
    assert [m["symbol"] for m in summary["markets"]] == SYMBOLS
    assert summary["state"] == "halted"
