"""Bad inputs a user would actually produce, through the real command line (issue 25).

Each row of BAD is one input: the command must exit non-zero with exactly one ``error:`` line
that names the input and says what to do, print no traceback, and leave every file it was
given byte for byte as it was (no new -wal/-shm/lock files beside a database it only reads).
Keep growing the table.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.coinm import shared_data
from tests.conftest import short_runtime_dir
from tradetui.store.schema import MIGRATIONS

TRADETUI = [sys.executable, "-m", "tradetui"]
INT64_MAX = 2**63 - 1
# Root ignores file modes; without these capabilities it is held to them like any user.
_AS_USER = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner"]


def _env(tmp: Path) -> dict[str, str]:
    runtime = short_runtime_dir(tmp)
    return {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp / "cfg"),
        "XDG_DATA_HOME": str(tmp / "data"),
        "XDG_RUNTIME_DIR": str(runtime),
        "TRADETUI_CACHE_DIR": str(tmp / "cache"),
    }


def _run(
    tmp: Path, args: list[str], as_user: bool = False, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    prefix: list[str] = []
    if as_user and os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: file modes cannot be tested")
        prefix = _AS_USER
    return subprocess.run(
        [*prefix, *TRADETUI, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp,
        env=_env(tmp) | (env or {}),
    )


@pytest.fixture(scope="module")
def stored_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database holding one finished paper session with fills."""
    tmp = tmp_path_factory.mktemp("stored")
    db = tmp / "good.db"
    r = _run(
        tmp,
        ["run", "--headless", "--duration", "60", "--seed", "1", "--speed", "max", "--db", str(db)],
        env={"TRADETUI_STRATEGY__FEE_FLOOR": "false"},  # fills within 60 s
    )
    assert r.returncode == 0, r.stderr
    for extra in tmp.glob("good.db?*"):
        extra.unlink()  # the lock file: a copied database stands alone
    return db


def _files(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` with a digest of its bytes and its mode."""
    out: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        if rel.split("/")[0] in ("run", "cache"):
            continue  # the control socket's runtime folder, the decoded-replay cache
        mode = oct(p.stat().st_mode & 0o777)
        out[rel] = mode if p.is_dir() else mode + hashlib.sha256(p.read_bytes()).hexdigest()
    return out


# ---- inputs --------------------------------------------------------------------------------


def _copy(db: Path, tmp: Path, name: str = "x.db") -> Path:
    dest = tmp / name
    dest.parent.mkdir(exist_ok=True)
    shutil.copyfile(db, dest)
    return dest


def _corrupt(db: Path, tmp: Path) -> Path:
    """Our header intact, the pages after the first overwritten (a disk or copy gone bad)."""
    dest = _copy(db, tmp)
    with dest.open("r+b") as f:
        f.seek(4096)
        f.write(bytes(range(256)) * 64)
    return dest


def _truncated_db(db: Path, tmp: Path) -> Path:
    dest = _copy(db, tmp)
    os.truncate(dest, 4096)
    return dest


def _read_only_folder(db: Path, tmp: Path) -> Path:
    dest = _copy(db, tmp, "ro/x.db")
    dest.chmod(0o444)
    dest.parent.chmod(0o555)
    return dest


def _read_only_file(db: Path, tmp: Path) -> Path:
    dest = _copy(db, tmp)
    dest.chmod(0o444)
    return dest


def _config(tmp: Path, text: str) -> str:
    path = tmp / "config.toml"
    path.write_text(text)
    return str(path)


def _truncated_gz(tmp: Path) -> Path:
    """A capture cut mid-stream, as a crashed recorder or an interrupted copy leaves it."""
    src = shared_data() / "binance-usdm" / "btcusdt_20240808.gz"
    if not src.is_file():
        pytest.skip(f"{src}: shared recording not present")
    dest = tmp / "cut.gz"
    with src.open("rb") as f:
        dest.write_bytes(f.read(300_000))
    return dest


RUN = ["run", "--headless", "--duration", "5", "--speed", "max"]


@dataclass(frozen=True)
class Bad:
    """One bad input: ``args(tmp, db)`` builds the files and returns the command line."""

    id: str
    args: Callable[[Path, Path], list[str]]
    needle: str  # part of the one error line
    code: int = 2
    as_user: bool = False  # held to file modes (root too)
    may_add: tuple[str, ...] = ()  # files a refused run may leave (its empty lock file)
    env: tuple[tuple[str, str], ...] = ()  # environment overrides


def _db_cmd(
    command: str, make: Callable[[Path, Path], Path], *extra: str
) -> Callable[..., list[str]]:
    return lambda tmp, db: [command, "--db", str(make(db, tmp)), *extra]


def _cfg_run(text: str) -> Callable[[Path, Path], list[str]]:
    return lambda tmp, db: [*RUN, "--db", str(tmp / "new.db"), "--config", _config(tmp, text)]


def _dir(tmp: Path, name: str) -> Path:
    (tmp / name).mkdir()
    return tmp / name


BAD = [
    # databases given to the commands that read them (sessions, fills, report) and to run
    *(
        Bad(f"{cmd}-corrupt", _db_cmd(cmd, _corrupt), "x.db: damaged database")
        for cmd in ("sessions", "fills", "report")
    ),
    *(
        Bad(f"{cmd}-truncated-db", _db_cmd(cmd, _truncated_db), "x.db: damaged database")
        for cmd in ("sessions", "fills", "report")
    ),
    Bad(
        "run-corrupt-db",
        lambda tmp, db: [*RUN, "--db", str(_corrupt(db, tmp))],
        "x.db: damaged database",
    ),
    Bad(
        "sessions-db-is-dir",
        lambda tmp, db: ["sessions", "--db", str(_dir(tmp, "d.db"))],
        "d.db: is a directory",
    ),
    Bad(
        "run-db-is-dir",
        lambda tmp, db: [*RUN, "--db", str(_dir(tmp, "d.db"))],
        "d.db: is a directory",
    ),
    Bad(
        "run-read-only-db",
        lambda tmp, db: [*RUN, "--db", str(_read_only_file(db, tmp))],
        "x.db: read-only",
        as_user=True,
    ),
    Bad(
        "run-db-in-read-only-folder",
        lambda tmp, db: [*RUN, "--db", str(_read_only_folder(db, tmp))],
        "x.db: read-only",
        as_user=True,
    ),
    Bad(
        "run-journal-is-dir",
        lambda tmp, db: (_dir(tmp, "x.db.unwritten.jsonl"), [*RUN, "--db", str(_copy(db, tmp))])[1],
        "x.db.unwritten.jsonl: cannot replay",
        may_add=("x.db.lock",),
    ),
    Bad(
        "run-lock-is-dir",
        lambda tmp, db: (_dir(tmp, "x.db.lock"), [*RUN, "--db", str(_copy(db, tmp))])[1],
        "x.db.lock: cannot lock",
    ),
    # query arguments
    *(
        Bad(f"fills-since-{name}", _db_cmd("fills", _copy, "--since", value), "--since")
        for name, value in (
            ("year-1", "0001-01-01"),
            ("year-9999", "9999-12-31"),
            ("huge-age", "99999999999d"),
            ("garbage", "yesterday"),
        )
    ),
    *(
        Bad(f"{cmd}-session-{name}", _db_cmd(cmd, _copy, "--session", value), "--session")
        for cmd in ("fills", "report")
        for name, value in (("2e70", str(2**70)), ("negative", "-1"))
    ),
    # data files
    Bad(
        "backtest-file-is-dir",
        lambda tmp, db: ["backtest", str(_dir(tmp, "d.gz"))],
        "d.gz: is a directory",
    ),
    Bad(
        "run-replay-file-is-dir",
        lambda tmp, db: [
            *RUN,
            "--db",
            str(tmp / "new.db"),
            "--market",
            f"replay:{_dir(tmp, 'd.gz')}",
        ],
        "d.gz: is a directory",
    ),
    # config values
    *(
        Bad(
            f"config-{key}-{value}",
            _cfg_run(f"[{section}]\n{key} = {value}\n"),
            f"{section}.{key}: must",
        )
        for section, key, value in (
            ("strategy", "sigma_prior_ticks", "1e308"),
            ("strategy", "sigma_prior_ticks", "inf"),
            ("strategy", "sigma_prior_ticks", "nan"),
            ("strategy", "sigma_prior_ticks", "-1.0"),
            ("risk", "leverage", "1e308"),
            ("risk", "leverage", "inf"),
            ("risk", "leverage", "nan"),
            ("risk", "leverage", "-1.0"),
            ("venue", "leverage", str(2**62)),
            ("sim", "maker_fee_bps", "-1e6"),
            ("sim", "taker_fee_bps", "1e6"),
            ("store", "batch_ms", "1e300"),
        )
    ),
    *(
        Bad(
            f"env-{name}-{value}",
            lambda tmp, db: [*RUN, "--db", str(tmp / "new.db")],
            f"{name} (environment): ",
            env=((name, value),),
        )
        for name, value in (
            ("TRADETUI_RISK__LEVERAGE", "1e308"),
            ("TRADETUI_STRATEGY__GAMMA", "high"),
            ("TRADETUI_STORE__BATCH_MS", "inf"),
        )
    ),
    Bad(
        "config-is-dir",
        lambda tmp, db: [*RUN, "--db", str(tmp / "new.db"), "--config", str(_dir(tmp, "c"))],
        "c: cannot read config",
    ),
    Bad(
        "config-not-utf8",
        lambda tmp, db: (
            tmp.joinpath("c.toml").write_bytes(b"\xff\xfe[risk]\n"),
            [*RUN, "--db", str(tmp / "new.db"), "--config", str(tmp / "c.toml")],
        )[1],
        "c.toml: cannot read config",
    ),
    Bad(
        "run-db-under-a-file",
        lambda tmp, db: (tmp.joinpath("f").write_text("x"), [*RUN, "--db", str(tmp / "f/x.db")])[1],
        "f: cannot create directory",
    ),
    Bad(
        "backtest-random-bytes",
        lambda tmp, db: (
            tmp.joinpath("r.gz").write_bytes(bytes(range(256)) * 20),
            ["backtest", str(tmp / "r.gz")],
        )[1],
        "r.gz: unknown format",
    ),
    Bad(
        "backtest-empty-file",
        lambda tmp, db: (tmp.joinpath("e.gz").write_bytes(b""), ["backtest", str(tmp / "e.gz")])[1],
        "e.gz: no data lines",
    ),
    Bad("config-syntax-error", _cfg_run("[strategy\ngamma = 0.1\n"), "line 1, column 10"),
    Bad("config-unknown-key", _cfg_run("[strategy]\ngama = 0.1\n"), "strategy.gama: unknown key"),
    Bad(
        "config-wrong-type",
        _cfg_run('[strategy]\ngamma = "high"\n'),
        "strategy.gamma: expected float",
    ),
    Bad(
        "config-socket-path-too-long",
        lambda tmp, db: _cfg_run(f'[engine]\ncontrol_socket = "{tmp / ("s" * 120)}.sock"\n')(
            tmp, db
        ),
        "bytes long; a Unix socket path holds at most 107",
        code=5,
    ),
]


@pytest.mark.parametrize("case", BAD, ids=[c.id for c in BAD])
def test_a_bad_input_is_one_line_and_touches_nothing(
    tmp_path: Path, stored_db: Path, case: Bad
) -> None:
    args = case.args(tmp_path, stored_db)
    before = _files(tmp_path)
    r = _run(tmp_path, args, case.as_user, dict(case.env))
    after = _files(tmp_path)
    for p in tmp_path.rglob("*"):  # let pytest clean up what was made read-only
        if p.is_dir():
            p.chmod(0o755)
    assert "Traceback" not in r.stderr, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, r.stderr
    assert case.needle in errors[0], errors[0]
    assert r.returncode == case.code, r.stderr
    new = {k: v for k, v in after.items() if k not in before}
    assert not [k for k in new if k not in case.may_add], f"files left behind: {sorted(new)}"
    assert {k: after[k] for k in before} == before, "an input file was changed"


# ---- inputs that must work ----------------------------------------------------------------


@pytest.mark.parametrize("where", ["read-only file", "read-only folder"])
@pytest.mark.parametrize(
    "cmd", [["sessions"], ["fills"], ["report"], ["fills", "--since", "2099-01-01"]]
)
def test_a_read_only_database_is_read_without_a_trace(
    tmp_path: Path, stored_db: Path, where: str, cmd: list[str]
) -> None:
    make = _read_only_file if where == "read-only file" else _read_only_folder
    db = make(stored_db, tmp_path)
    before = _files(tmp_path)
    r = _run(tmp_path, [*cmd, "--db", str(db)], as_user=True)
    after = _files(tmp_path)
    db.parent.chmod(0o755)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert after == before


def _old_schema(db: Path, tmp: Path) -> Path:
    """``db`` as schema 1 wrote it: every column and table a later migration adds dropped."""
    dest = _copy(db, tmp)
    conn = sqlite3.connect(dest)
    for script in MIGRATIONS[1:]:
        for index in re.findall(r"CREATE INDEX (\w+)", script):
            conn.execute(f"DROP INDEX {index}")
        for table, column in re.findall(r"ALTER TABLE (\w+) ADD COLUMN (\w+)", script):
            conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        for table in re.findall(r"CREATE TABLE (\w+)", script):
            conn.execute(f"DROP TABLE {table}")
    conn.execute("PRAGMA user_version = 1")
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    return dest


def test_a_query_of_an_older_schema_leaves_the_file_as_it_was(
    tmp_path: Path, stored_db: Path
) -> None:
    db = _old_schema(stored_db, tmp_path)
    before = _files(tmp_path)
    r = _run(tmp_path, ["report", "--db", str(db), "--json"])
    assert r.returncode == 0, r.stderr
    assert '"fills": ' in r.stdout
    assert _files(tmp_path) == before


def test_a_query_beside_a_live_writer_leaves_its_wal_alone(tmp_path: Path, stored_db: Path) -> None:
    db = _copy(stored_db, tmp_path)
    writer = sqlite3.connect(db, isolation_level=None)
    try:
        writer.execute("PRAGMA journal_mode = WAL")
        writer.execute("PRAGMA wal_autocheckpoint = 0")
        writer.execute("INSERT INTO meta (key, value) VALUES ('note', 'uncheckpointed')")
        wal = db.with_name("x.db-wal")
        wal_before = wal.read_bytes()
        assert wal_before
        r = _run(tmp_path, ["sessions", "--db", str(db), "--json"])
        assert r.returncode == 0, r.stderr
        assert wal.read_bytes() == wal_before
        assert db.with_name("x.db-shm").exists()
    finally:
        writer.close()


def test_a_truncated_replay_is_traded_up_to_the_cut_then_one_line_and_exit_2(
    tmp_path: Path, simulated_catalogs: Path
) -> None:
    cut = _truncated_gz(tmp_path)
    db = tmp_path / "r.db"
    r = _run(
        tmp_path,
        [
            "run",
            "--headless",
            "--speed",
            "max",
            "--json",
            "--db",
            str(db),
            "--market",
            f"replay:{cut}",
        ],
    )
    assert r.returncode == 2, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, r.stderr
    assert errors[0].startswith(f"error: {cut}:")
    assert "truncated or damaged after line " in errors[0]
    assert "Traceback" not in r.stderr
    summary = json.loads(r.stdout)
    assert summary["market_events"] > 1000
    stored = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    assert stored.execute("SELECT count(*) FROM fills").fetchone()[0] == summary["fills"]
    stored.close()


def test_a_truncated_file_is_backtested_up_to_the_cut_then_one_line_and_exit_2(
    tmp_path: Path, simulated_catalogs: Path
) -> None:
    cut = _truncated_gz(tmp_path)
    r = _run(tmp_path, ["backtest", str(cut)])
    assert r.returncode == 2, r.stderr
    assert "fills" in r.stdout  # the report of what was read
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, r.stderr
    assert errors[0].startswith(f"error: {cut}:")
    assert "truncated or damaged after line " in errors[0]


def test_a_query_after_a_killed_run_reads_its_wal_and_leaves_it(
    tmp_path: Path, stored_db: Path
) -> None:
    # What kill -9 leaves: the main file, a -wal holding committed rows not yet merged, a -shm.
    live = _copy(stored_db, tmp_path, "live/x.db")
    writer = sqlite3.connect(live, isolation_level=None)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("UPDATE sessions SET symbol = 'AFTERKILL'")
    for suffix in ("", "-wal", "-shm"):
        shutil.copyfile(f"{live}{suffix}", tmp_path / f"x.db{suffix}")
    writer.close()
    shutil.rmtree(live.parent)
    before = _files(tmp_path)
    r = _run(tmp_path, ["sessions", "--db", str(tmp_path / "x.db"), "--json"])
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)[0]["symbol"] == "AFTERKILL"
    after = _files(tmp_path)
    # Every WAL reader writes its read marks (and a rebuilt index) into the -shm: that file is
    # shared memory, not data. The data files are as they were, and none is added or removed.
    assert after.keys() == before.keys()
    assert {k: v for k, v in after.items() if k != "x.db-shm"} == {
        k: v for k, v in before.items() if k != "x.db-shm"
    }
