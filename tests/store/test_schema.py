"""The database file: created ours, refused (untouched) when it is not, migrated forward."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from tradetui.store.paths import default_db_path
from tradetui.store.queries import list_fills, session_report
from tradetui.store.schema import (
    APPLICATION_ID,
    MIGRATIONS,
    SCHEMA_VERSION,
    StoreError,
    open_db,
    open_readonly,
)


def test_new_database_is_wal_with_our_id_and_version(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "paper.db"
    conn = open_db(path, "paper")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"sessions", "orders", "order_events", "fills", "marks", "snapshots", "events"} <= tables
    conn.close()


def _open(path: Path, mode: str | None) -> sqlite3.Connection:
    """Open for writing in ``mode``, or for queries when ``mode`` is None."""
    return open_db(path, mode) if mode is not None else open_readonly(path)


def _other_app_db(path: Path) -> None:
    c = sqlite3.connect(path)
    c.execute("CREATE TABLE notes (x TEXT)")
    c.commit()
    c.close()


def _newer_schema_db(path: Path) -> None:
    open_db(path, "paper").close()
    c = sqlite3.connect(path)
    c.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_bytes(os.urandom(4096)), "not an SQLite database"),
        (_other_app_db, "another application"),
        (_newer_schema_db, "newer than this tradetui knows"),
    ],
)
@pytest.mark.parametrize("opener", ["write", "read"])
def test_bad_file_is_refused_and_left_untouched(
    tmp_path: Path, make: object, needle: str, opener: str
) -> None:
    path = tmp_path / "x.db"
    make(path)  # type: ignore[operator]
    before = path.read_bytes()
    siblings = sorted(p.name for p in tmp_path.iterdir())
    mode = "paper" if opener == "write" else None
    with pytest.raises(StoreError, match=needle) as info:
        _open(path, mode)
    assert "\n" not in str(info.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == siblings


def test_corrupt_pages_behind_a_valid_header_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    conn = open_db(path, "paper")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(path.read_bytes())
    data[4096:] = os.urandom(len(data) - 4096)
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="corrupt"):
        open_db(path, "paper")


def test_paper_and_live_never_share_a_file(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    open_db(path, "paper").close()
    with pytest.raises(StoreError, match="holds paper sessions, not live"):
        open_db(path, "live")


def test_older_schema_is_migrated_forward(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    open_db(path, "paper").close()
    extra = (*MIGRATIONS, "ALTER TABLE fills ADD COLUMN note TEXT;")
    conn = open_db(path, "paper", migrations=extra)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    cols = {r[1] for r in conn.execute("PRAGMA table_info(fills)")}
    assert "note" in cols
    conn.close()


def test_default_paths_are_per_instance(tmp_path: Path) -> None:
    paper = default_db_path("paper-usdm-btcusdt", str(tmp_path))
    live = default_db_path("live-usdm-btcusdt", str(tmp_path))
    assert paper == tmp_path / "paper-usdm-btcusdt.db"
    assert live == tmp_path / "live-usdm-btcusdt.db"


def test_missing_file_is_not_created_by_queries(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no such database"):
        open_readonly(tmp_path / "none.db")
    assert not (tmp_path / "none.db").exists()


def test_a_database_from_before_instrument_specs_reports_as_before(tmp_path: Path) -> None:
    # Schema 1 (no instrument_json): a linear session with one round trip of 0.002 BTC.
    path = tmp_path / "old.db"
    conn = open_db(path, "paper", migrations=MIGRATIONS[:1])
    conn.execute(
        "INSERT INTO sessions (uuid, mode, venue, symbol, quote_asset, tick_size, lot_size, "
        "config_digest, version, seed, started_ns) VALUES "
        "('u', 'paper', 'sim', 'BTCUSDT', 'USDT', '0.1', '0.001', 'd', 'v', 1, 0)"
    )
    for seq, side, price in ((1, 1, 600_000), (2, -1, 600_010)):
        conn.execute(
            "INSERT INTO fills (session_id, seq, venue, trade_id, client_id, side, price_ticks, "
            "qty_lots, leaves_lots, fee_quote, fee_asset, is_maker, exch_ns, local_ns, "
            "mid_half_ticks, position_lots) VALUES "
            "(1, ?, 'sim', ?, 'c', ?, ?, 2, 0, 0.0, 'USDT', 1, ?, ?, 1200010, 0)",
            (seq, str(seq), side, price, seq, seq),
        )
    conn.close()
    before = path.read_bytes()
    conn = open_readonly(path)  # migrates forward a copy in memory, never the file
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    report = session_report(conn, 1)
    conn.close()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.db"]
    # Bought 0.002 at 60,000.0, sold at 60,001.0: +0.002 USDT, read as linear as it always was.
    assert report["pnl_realized"] == pytest.approx(0.002, abs=1e-12)
    assert report["volume_quote"] == pytest.approx(240.002, abs=1e-9)
    assert (report["settle_asset"], report["quote_asset"]) == ("USDT", "USDT")
    assert report["position_base"] == 0.0


def test_a_database_from_before_charged_fees_lists_its_fills_as_charged_in_fee_asset(
    tmp_path: Path,
) -> None:
    # Schema 2 (no charged_* columns): one fill whose fee was charged in USDT.
    path = tmp_path / "old.db"
    conn = open_db(path, "live", migrations=MIGRATIONS[:2])
    conn.execute(
        "INSERT INTO sessions (uuid, mode, venue, symbol, quote_asset, tick_size, lot_size, "
        "config_digest, version, seed, started_ns) VALUES "
        "('u', 'live', 'live:binanceusdm', 'BTCUSDT', 'USDT', '0.1', '0.001', 'd', 'v', 1, 0)"
    )
    conn.execute(
        "INSERT INTO fills (session_id, seq, venue, trade_id, client_id, side, price_ticks, "
        "qty_lots, leaves_lots, fee_quote, fee_asset, is_maker, exch_ns, local_ns, "
        "mid_half_ticks, position_lots) VALUES "
        "(1, 1, 'v', 't1', 'c', 1, 600000, 10, 0, 0.12, 'USDT', 1, 1, 1, 1200001, 10)"
    )
    conn.close()
    conn = open_readonly(path)  # migrates forward
    (row,) = list_fills(conn, None, None)
    conn.close()
    assert (row["fee"], row["fee_asset"]) == ("0.12", "USDT")
    assert (row["charged_fee"], row["charged_asset"], row["charged_rate"]) == ("", "", "")
