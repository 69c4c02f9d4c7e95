"""Persistence from the command line: run --db, sessions, fills, report, bad files, kill -9."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

TRADETUI = [sys.executable, "-m", "tradetui"]


def _env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "XDG_CONFIG_HOME": str(tmp), "XDG_DATA_HOME": str(tmp / "data")}


def _run(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TRADETUI, *args], capture_output=True, text=True, timeout=120, cwd=tmp, env=_env(tmp)
    )


@pytest.fixture(scope="module")
def stored_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("run")
    db = tmp / "x.db"
    r = _run(
        tmp,
        "run",
        "--headless",
        "--duration",
        "90",
        "--seed",
        "1",
        "--speed",
        "max",
        "--json",
        "--db",
        str(db),
    )
    assert r.returncode == 0, r.stderr
    return db, json.loads(r.stdout)


def test_run_stores_every_fill(stored_run: tuple[Path, dict[str, Any]]) -> None:
    db, summary = stored_run
    assert summary["fills"] > 0
    assert summary["fills_stored"] == summary["fills"]
    assert summary["db"] == str(db)


def test_fills_csv_lists_the_stored_fills_with_exact_prices(
    stored_run: tuple[Path, dict[str, Any]],
) -> None:
    db, summary = stored_run
    r = _run(db.parent, "fills", "--db", str(db), "--format", "csv")
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len(rows) == summary["fills"]
    for row in rows:
        assert re.fullmatch(r"\d+\.\d", row["price"]), row["price"]
        assert re.fullmatch(r"-?\d+\.\d{3}", row["qty"]), row["qty"]
        assert row["side"] in ("buy", "sell")


def test_fills_since_filters_by_time(stored_run: tuple[Path, dict[str, Any]]) -> None:
    db, _ = stored_run
    everything = json.loads(_run(db.parent, "fills", "--db", str(db), "--format", "json").stdout)
    # --since is the wall-clock time a fill was recorded (its own time runs ahead at max speed).
    cut = everything[len(everything) // 2]["wall_time"]
    later = json.loads(
        _run(db.parent, "fills", "--db", str(db), "--format", "json", "--since", cut).stdout
    )
    assert later == [f for f in everything if f["wall_time"] >= cut]
    none = _run(
        db.parent, "fills", "--db", str(db), "--format", "json", "--since", "2100-01-01T00:00:00"
    )
    assert json.loads(none.stdout) == []
    # A relative --since counts back from now; a year back covers this run.
    year = _run(db.parent, "fills", "--db", str(db), "--format", "json", "--since", "525600m")
    assert json.loads(year.stdout) == everything


def test_report_json_matches_the_run_summary(stored_run: tuple[Path, dict[str, Any]]) -> None:
    db, summary = stored_run
    r = _run(db.parent, "report", "--db", str(db), "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    for key in ("fills", "volume_quote", "fees", "pnl_total"):
        assert report[key] == summary[key], key
    assert set(report["markouts"]) == {"1s", "5s", "30s"}
    human = _run(db.parent, "report", "--db", str(db))
    assert "PnL total" in human.stdout
    assert "markout 5s" in human.stdout


def test_sessions_lists_the_run(stored_run: tuple[Path, dict[str, Any]]) -> None:
    db, summary = stored_run
    r = _run(db.parent, "sessions", "--db", str(db), "--json")
    assert r.returncode == 0, r.stderr
    (s,) = json.loads(r.stdout)
    assert s["end_state"] == "stopped"
    assert s["fills"] == summary["fills"]
    table = _run(db.parent, "sessions", "--db", str(db))
    assert "stopped" in table.stdout


def test_tables_at_80_columns_show_whole_timestamps(
    stored_run: tuple[Path, dict[str, Any]],
) -> None:
    db, _ = stored_run
    fills = json.loads(_run(db.parent, "fills", "--db", str(db), "--format", "json").stdout)
    sessions = json.loads(_run(db.parent, "sessions", "--db", str(db), "--json").stdout)
    narrow = {**_env(db.parent), "COLUMNS": "80"}
    for args, first in (
        (("sessions",), sessions[0]["started"]),
        (("fills",), fills[0]["time"]),
    ):
        r = subprocess.run(
            [*TRADETUI, *args, "--db", str(db)], capture_output=True, text=True, env=narrow
        )
        assert r.returncode == 0, r.stderr
        lines = r.stdout.splitlines()
        assert max(len(line) for line in lines) <= 80, r.stdout
        # '2026-12-06T22:59:11.569+00:00' shows as '2026-12-06 22:59:11.569', never cut.
        assert first.replace("T", " ").removesuffix("+00:00") in r.stdout, r.stdout
        assert "…" not in r.stdout
        assert "times UTC" in lines[0]


def test_history_sums_the_stored_sessions_per_day(
    stored_run: tuple[Path, dict[str, Any]],
) -> None:
    db, summary = stored_run
    report = json.loads(
        _run(db.parent, "report", "--db", str(db), "--json").stdout, parse_float=Decimal
    )
    r = _run(db.parent, "history", "--db", str(db), "--json")
    assert r.returncode == 0, r.stderr
    (day,) = json.loads(r.stdout, parse_float=Decimal)
    assert day["day"] == report["started"][:10]
    assert (day["sessions"], day["symbols"], day["fills"]) == (1, ["BTCUSDT"], summary["fills"])
    for key in ("volume_quote", "pnl_total", "fees", "rebates"):
        assert day[key] == report[key], key
    assert day["fees"] >= 0
    table = _run(db.parent, "history", "--db", str(db))
    assert f"{report['pnl_total']:+,.4f}" in table.stdout
    assert f" {report['fees']:,.4f} " in table.stdout
    later = _run(db.parent, "history", "--db", str(db), "--since", "2099-01-01")
    assert later.stdout.strip() == "no sessions stored since 2099-01-01"
    beyond = _run(db.parent, "history", "--db", str(db), "--since", "2999-01-01")
    assert beyond.returncode == 2
    assert beyond.stderr.count("\n") == 1
    assert "--since: '2999-01-01' is outside" in beyond.stderr


def _other_app(p: Path) -> None:
    c = sqlite3.connect(p)
    c.execute("CREATE TABLE t (x)")
    c.commit()
    c.close()


def _newer(p: Path) -> None:
    c = sqlite3.connect(p)
    c.execute("PRAGMA application_id = 1414813001")
    c.execute("PRAGMA user_version = 999")
    c.execute("CREATE TABLE t (x)")
    c.commit()
    c.close()


@pytest.mark.parametrize(
    "make",
    [lambda p: p.write_bytes(b""), lambda p: p.write_bytes(os.urandom(8192)), _other_app, _newer],
    ids=["empty", "random", "other-app", "newer-schema"],
)
def test_bad_database_file_is_one_line_exit_2_untouched(tmp_path: Path, make: object) -> None:
    db = tmp_path / "bad.db"
    make(db)  # type: ignore[operator]
    before = db.read_bytes()
    commands = [("run", "--headless", "--duration", "1", "--speed", "max"), ("report",)]
    if before[:6] != b"SQLite":
        commands += [("sessions",), ("fills",)]
    for args in commands:
        r = _run(tmp_path, *args, "--db", str(db))
        assert r.returncode == 2, (args, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, r.stderr
        assert lines[0].startswith("error: ")
        assert str(db) in lines[0]
        assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.db"]


def crash_trial(tmp: Path, db: Path, kill_after_s: float, speed: str = "10") -> dict[str, Any]:
    """kill -9 a run after ``kill_after_s`` of trading; check what it said it stored."""
    log = tmp / f"{db.name}.stderr"
    with log.open("w") as err:
        p = subprocess.Popen(
            [*TRADETUI, "run", "--headless", "--speed", speed, "--db", str(db)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            cwd=tmp,
            env=_env(tmp),
        )
    try:
        deadline = time.monotonic() + 60
        while "→ running" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(kill_after_s)
        p.send_signal(signal.SIGKILL)
        p.wait(10)
    finally:
        p.kill()
    buf = log.read_text()
    reported = 0
    for m in re.finditer(r'store (\{"fills_stored": \d+\})', buf):
        reported = max(reported, json.loads(m.group(1))["fills_stored"])
    conn = sqlite3.connect(db)
    integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    sid, ended = conn.execute("SELECT id, ended_ns FROM sessions ORDER BY id DESC").fetchone()
    present = conn.execute("SELECT count(*) FROM fills WHERE session_id = ?", (sid,)).fetchone()
    conn.close()
    nxt = _run(
        tmp, "run", "--headless", "--duration", "1", "--speed", "max", "--json", "--db", str(db)
    )
    return {
        "integrity": integrity,
        "session": sid,
        "ended_before_restart": ended,
        "reported_stored": reported,
        "present": present[0],
        "next_returncode": nxt.returncode,
        "next_unclean": json.loads(nxt.stdout)["unclean_sessions"] if nxt.returncode == 0 else None,
        "next_warned": f"previous session {sid} " in nxt.stderr
        and "did not end cleanly" in nxt.stderr,
    }


@pytest.mark.parametrize("trial", range(3))
def test_kill_9_loses_no_reported_fill_and_is_detected(tmp_path: Path, trial: int) -> None:
    db = tmp_path / "crash.db"
    result = crash_trial(tmp_path, db, random.Random(trial).uniform(0.3, 1.2))
    assert result["integrity"] == "ok"
    assert result["ended_before_restart"] is None
    assert result["present"] >= result["reported_stored"]
    assert result["next_returncode"] == 0
    assert result["next_unclean"] == [result["session"]]
    assert result["next_warned"]


def test_kill_9_of_an_unpaced_run_keeps_what_it_traded(tmp_path: Path) -> None:
    # --speed max never sleeps; the store must still commit while it trades.
    db = tmp_path / "crash.db"
    result = crash_trial(tmp_path, db, 3.0, speed="max")
    assert result["integrity"] == "ok"
    assert result["reported_stored"] > 0
    assert result["present"] >= result["reported_stored"]
    assert result["next_unclean"] == [result["session"]]


def test_fills_json_flag_is_the_json_format(stored_run: tuple[Path, dict[str, Any]]) -> None:
    db, _ = stored_run
    by_format = _run(db.parent, "fills", "--db", str(db), "--format", "json").stdout
    by_flag = _run(db.parent, "fills", "--db", str(db), "--json")
    assert by_flag.returncode == 0
    assert json.loads(by_flag.stdout) == json.loads(by_format)
    both = _run(db.parent, "fills", "--db", str(db), "--json", "--format", "csv")
    assert both.returncode == 2
    assert both.stderr.strip() == "error: --json and --format csv: give one of them"
