"""A replay that reaches the end of its files says so and acts on market.replay_end.

The host notices the last replayed event has been handled, logs it, publishes MarketEnded on
the bus (the store keeps it as an event row, Telegram alerts it), and stops quoting: "stop"
cancels the quotes and leaves the position, "flatten" closes it at the last book, "loop"
never ends. After the end a start is refused: there is no market left to quote on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.instruments import btcusdt_perpetual
from tests.market.test_replay_feed import capture
from tradetui.alerts.message import AlertKind, Level
from tradetui.alerts.notifier import Notifier, NotifierConfig
from tradetui.config import ConfigError, Settings, load_settings
from tradetui.engine.engine import Command, CommandKind
from tradetui.engine.events import EngineEvent, EngineState, FlattenFinished, MarketEnded
from tradetui.host import EngineHost
from tradetui.session import build_paper_session, market_label

pytestmark = pytest.mark.usefixtures("simulated_catalogs")
# Thirty seconds of the seeded market leave this session short at the end.
SECONDS = 30


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return capture(tmp_path_factory.mktemp("capture"), SECONDS)


def settings_for(path: Path, end: str) -> Settings:
    return Settings().replace("market", source=f"replay:{path}", replay_end=end)


async def _no_send(chat: int, text: str, silent: bool) -> None:
    return None


async def run_to_the_end(settings: Settings) -> tuple[EngineHost, list[EngineEvent], Notifier]:
    """A max-speed replay session started and run until its end action is done."""
    session = build_paper_session(settings, virtual=True)
    host = EngineHost(session, None)
    seen: list[EngineEvent] = []
    session.bus.subscribe(seen.append)
    notifier = Notifier(_no_send, NotifierConfig(chats=[1]), session.engine.instrument)
    session.bus.subscribe(notifier.on_event)
    host.send(Command(CommandKind.START, reason="test"))
    await asyncio.wait_for(host.run(host.market_finished), 60)
    return host, seen, notifier


async def test_stop_at_the_end_says_so_and_stops_quoting(
    recorded: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "tradetui.host")
    host, seen, notifier = await run_to_the_end(settings_for(recorded, "stop"))
    engine = host.engine
    assert engine.state is EngineState.STOPPED
    assert not engine.orders
    assert engine.fills > 0
    assert engine.ledger.position_lots != 0  # "stop" leaves the position as it was
    (ended,) = [e for e in seen if isinstance(e, MarketEnded)]
    assert ended.source == f"replay {recorded.name}"
    assert ended.action == "stop"
    assert "reached its end" in ended.detail
    size = host.engine.instrument.qty(engine.ledger.position_lots)
    assert f"the position ({size:+} BTC) stays open" in ended.detail
    # Ended after the last event was handled, not one event early.
    assert ended.ts_ns >= engine.last_market_ns
    assert any("market ended" in r.getMessage() for r in caplog.records)
    (alert,) = [a for a in notifier.queue if a.title == "REPLAY ENDED"]
    assert (alert.kind, alert.level) == (AlertKind.CONNECTION, Level.WARNING)
    # The market is gone: a start is refused, with the reason.
    refused: list[str] = []
    host.refusals.append(lambda cmd, why: refused.append(why))
    host.send(Command(CommandKind.START, reason="again"))
    assert refused
    assert "has ended" in refused[0]
    assert host.inbox.empty()


async def test_flatten_at_the_end_closes_the_position(recorded: Path) -> None:
    host, seen, _ = await run_to_the_end(settings_for(recorded, "flatten"))
    assert host.engine.state is EngineState.STOPPED
    assert host.engine.ledger.position_lots == 0
    (ended,) = [e for e in seen if isinstance(e, MarketEnded)]
    assert ended.action == "flatten"
    flattened = [e for e in seen if isinstance(e, FlattenFinished)]
    assert flattened
    assert flattened[-1].outcome == "flat"
    # The flatten came after the end: the position was still open when the market ended.
    assert seen.index(ended) < seen.index(flattened[-1])
    assert "after 0 close attempt" not in flattened[-1].detail


async def test_loop_never_ends(recorded: Path) -> None:
    session = build_paper_session(settings_for(recorded, "loop"), virtual=True)
    host = EngineHost(session, None)
    host.send(Command(CommandKind.START, reason="test"))
    end_ns = session.start_ns + int(2.5 * SECONDS * 1e9)
    await asyncio.wait_for(host.run(lambda: host.now_ns() >= end_ns), 120)
    assert host.market_ended is None
    assert host.engine.state is EngineState.RUNNING


def test_replay_end_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"market\.replay_end: must be one of 'stop'"):
        Settings().replace("market", replay_end="pause")
    old = tmp_path / "config.toml"
    old.write_text("[market]\nloop = true\n")
    with pytest.raises(ConfigError, match=r"market\.loop: replaced by market\.replay_end"):
        load_settings(old)


def test_the_market_label_names_the_source(tmp_path: Path, recorded: Path) -> None:
    assert market_label("synthetic") == "synthetic"
    assert market_label("synthetic:coinm:BTCUSD_PERP") == "synthetic"
    assert market_label(f"replay:{recorded}") == f"replay {recorded.name}"
    assert market_label(f"replay:{recorded},{recorded}") == f"replay {recorded.name} +1"


def _run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tradetui", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={
            **os.environ,
            "XDG_CONFIG_HOME": str(tmp_path),
            "TRADETUI_ENGINE__CONTROL_SOCKET": str(tmp_path / "ctl.sock"),
            **env,
        },
    )


@pytest.mark.parametrize("end", ["stop", "flatten"])
def test_a_headless_replay_exits_0_after_its_end_action(
    tmp_path: Path, recorded: Path, end: str
) -> None:
    db = tmp_path / "p.db"
    r = _run(
        tmp_path,
        *("run", "--headless", "--market", f"replay:{recorded}", "--speed", "max", "--json"),
        *("--db", str(db)),
        TRADETUI_MARKET__REPLAY_END=end,
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["state"] == "stopped"
    assert summary["fills"] > 0
    if end == "flatten":
        assert summary["position_base"] == 0.0
    assert "market ended: replay " in r.stderr
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT state, detail FROM events WHERE kind = 'market'").fetchall()
    conn.close()
    assert len(rows) == 1
    assert rows[0][0] == "ended"
    assert recorded.name in rows[0][1]


def test_a_replay_session_is_labelled_by_its_file(recorded: Path) -> None:
    session = build_paper_session(settings_for(recorded, "stop"), virtual=True)
    assert session.market == f"replay {recorded.name}"
    assert session.venue.instrument.symbol == btcusdt_perpetual().symbol
