"""A session keeps the settings it ran with (schema 6), so ``reconcile`` can repeat it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.instruments import btcusdt_perpetual
from tradetui.config import Settings, settings_from_mapping
from tradetui.store.lifecycle import begin_session, session_meta, unlock


def test_a_session_stores_settings_that_load_back_equal(tmp_path: Path) -> None:
    settings = Settings().replace("strategy", gamma=0.37).replace("sim", maker_fee_bps=-0.5)
    meta = session_meta("paper", "sim", btcusdt_perpetual(), settings, 7, 1_000)
    path = tmp_path / "s.db"
    opened = begin_session(path, meta, 1000)
    unlock(opened.lock_fd)
    with sqlite3.connect(path) as conn:
        (text,) = conn.execute("SELECT settings_json FROM sessions").fetchone()
    assert settings_from_mapping(json.loads(text)) == settings
