"""The capture recorder: what it writes replays as the market it recorded, rotates hourly, and
survives a crash up to the last flush."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.instruments import btcusdt_perpetual
from tradetui.cli import app
from tradetui.core.types import BestBidOffer, BookDelta, BookSnapshot, MarketEvent, Trade
from tradetui.market.check import check_files
from tradetui.market.files import ReplayReport, read_lines, recorded_instrument
from tradetui.market.recorder import CaptureEncoder, CaptureWriter, record_events
from tradetui.market.replay import replay_events
from tradetui.market.synthetic import SyntheticMarket

INST = btcusdt_perpetual()
HOUR_NS = 3600 * 1_000_000_000
T0_NS = 1_700_000_000 * 1_000_000_000  # 22:13:20 UTC: the hour turns within 47 minutes
MS = 1_000_000


def market(seconds: float, start_ns: int = T0_NS) -> list[MarketEvent]:
    end = start_ns + int(seconds * 1e9)
    events = SyntheticMarket(INST, seed=3, start_ns=start_ns).events()
    return list(itertools.takewhile(lambda e: e.local_ns < end, events))


def record(events: list[MarketEvent], out: Path) -> list[Path]:
    encoder = CaptureEncoder(INST)
    with CaptureWriter(out, "test_btcusdt", encoder.snapshot, instrument=INST) as writer:
        record_events(events, encoder, writer, events[-1].local_ns + 1)
    return writer.files


def key(ev: MarketEvent) -> tuple[object, ...]:
    """What must survive the round trip: everything but sub-millisecond exchange time."""
    t = (type(ev).__name__, ev.exch_ns // MS, ev.local_ns)
    if isinstance(ev, BookSnapshot):
        return (*t, ev.update_id, sorted(ev.bids), sorted(ev.asks))
    if isinstance(ev, BookDelta):
        return (*t, ev.first_id, ev.last_id, ev.prev_id, ev.bids, ev.asks)
    if isinstance(ev, BestBidOffer):
        return (*t, ev.update_id, ev.bid_ticks, ev.bid_lots, ev.ask_ticks, ev.ask_lots)
    assert isinstance(ev, Trade)
    return (*t, ev.trade_id, ev.price_ticks, ev.qty_lots, ev.aggressor)


def test_recording_replays_as_the_recorded_market(tmp_path: Path) -> None:
    events = market(30)
    files = record(events, tmp_path)
    report = ReplayReport()
    back = list(replay_events(files, INST, report))
    assert report.issue_count == 0
    assert [key(e) for e in back] == [key(e) for e in events]


def test_recording_agrees_fully_with_its_own_book_tickers(tmp_path: Path) -> None:
    files = record(market(30), tmp_path)
    r = check_files(files, INST)
    assert r["gaps"] == 0
    assert r["crossed"] == 0
    assert r["bbo_agreement"]["comparable"] > 1000
    assert r["bbo_agreement"]["agree_fraction"] == 1.0


def test_files_rotate_on_the_hour_and_each_opens_with_a_snapshot(tmp_path: Path) -> None:
    next_hour_ns = (T0_NS // HOUR_NS + 1) * HOUR_NS
    events = market(20, start_ns=next_hour_ns - 10 * 1_000_000_000)
    files = record(events, tmp_path)
    assert len(files) == 2
    for f in files:
        spec, first = itertools.islice(read_lines(f, lambda _n, _m: None), 2)
        assert recorded_instrument(f) == INST
        assert spec.split(b" ", 1)[1].startswith(b'{"tradetui":{"instrument":')
        assert b'{"lastUpdateId"' in first
    report = ReplayReport()
    back = list(replay_events(files, INST, report))
    assert report.gaps == 0
    assert report.issue_count == 0
    assert report.snapshots == 2
    assert len([e for e in back if not isinstance(e, BookSnapshot)]) == len(events) - 1


def test_flushed_lines_read_back_while_the_file_is_open(tmp_path: Path) -> None:
    encoder = CaptureEncoder(INST)
    events = market(5)
    writer = CaptureWriter(tmp_path, "open", encoder.snapshot, instrument=INST, flush_s=3600)
    try:
        record_events(events, encoder, writer, events[-1].local_ns + 1)
        writer.flush()
        issues: list[str] = []
        lines = list(read_lines(writer.files[0], lambda _n, m: issues.append(m)))
        assert len(lines) == len(events) + 1  # and the instrument line
        assert issues
        assert "truncated" in issues[0]
    finally:
        writer.close()


def test_killed_recorder_loses_at_most_the_unflushed_second(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}
    cmd = [sys.executable, "-m", "tradetui", "record", "--out", str(tmp_path / "rec")]
    proc = subprocess.Popen(
        [*cmd, "--seconds", "3600", "--speed", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        files: list[Path] = []
        while time.monotonic() < deadline and not files:
            time.sleep(0.2)
            files = [f for f in (tmp_path / "rec").glob("*.gz") if f.stat().st_size > 100]
        time.sleep(1.5)  # at least one flush after the first messages
        started_ns = time.time_ns()
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert files, "the recorder wrote nothing"
    report = ReplayReport()
    back = list(replay_events(files, INST, report))
    assert report.issue_count == 1
    assert "truncated" in report.issues[0].message
    assert isinstance(back[0], BookSnapshot)
    # Everything received more than a flush interval before the kill is on disk.
    assert back[-1].local_ns >= started_ns - 1_000_000_000 - 500_000_000  # 0.5 s scheduling slack


def test_record_command_output_checks_out(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["record", "--out", str(tmp_path), "--seconds", "20"])
    assert r.exit_code == 0, r.output
    files = sorted(str(f) for f in tmp_path.glob("*.gz"))
    c = runner.invoke(app, ["data", "check", *files, "--json"])
    assert c.exit_code == 0, c.output
    assert json.loads(c.output)["bbo_agreement"]["agree_fraction"] == 1.0


def test_record_refuses_an_unknown_source(tmp_path: Path) -> None:
    r = CliRunner().invoke(app, ["record", "--out", str(tmp_path), "--source", "binance"])
    assert r.exit_code == 2
    assert "--source" in r.output


@pytest.mark.parametrize("flush_s", [0.0, -1.0])
def test_writer_refuses_a_non_positive_flush_interval(tmp_path: Path, flush_s: float) -> None:
    with pytest.raises(ValueError, match="flush_s"):
        CaptureWriter(tmp_path, "x", lambda: b"{}", instrument=INST, flush_s=flush_s)


def test_a_recording_opens_without_a_snapshot_while_no_book_is_known(tmp_path: Path) -> None:
    # A replay of diffs and bookTickers alone (as Binance's archives) has no book to open a
    # file with; an empty snapshot would replay as "book unknown" and pull every quote.
    events: list[MarketEvent] = [
        e for e in market(5) if not isinstance(e, BookSnapshot | BookDelta)
    ]
    files = record(events, tmp_path)
    lines = list(read_lines(files[0], lambda _line, _msg: None))
    assert b"lastUpdateId" not in lines[1]
    back = list(replay_events(files, INST))
    assert not any(isinstance(e, BookSnapshot) for e in back)
    assert [key(e) for e in back] == [key(e) for e in events]
