"""Replay as the paper market: shifted to start now, looped with time running on, and wired
into paper sessions and `tradetui run --market replay:...`."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.instruments import btcusdt_perpetual
from tradetui.cli import app
from tradetui.config import ConfigError, Settings
from tradetui.core.clock import VirtualClock
from tradetui.core.instrument import InstrumentKind
from tradetui.core.types import BookSnapshot, MarketEvent
from tradetui.engine.engine import Command, CommandKind
from tradetui.engine.runner import run_virtual
from tradetui.market.feed import ReplayFeed, replay_paths
from tradetui.market.recorder import CaptureEncoder, CaptureWriter, record_events
from tradetui.market.replay import replay_events
from tradetui.market.synthetic import SyntheticMarket
from tradetui.session import build_paper_session
from tradetui.venues.sim_listing import sim_catalog

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
USDM = DATA / "binance-usdm" / "btcusdt_20240808.gz"
# Files here find their instrument in the simulated exchanges' catalog.
pytestmark = pytest.mark.usefixtures("simulated_catalogs")
INST = btcusdt_perpetual()
T0_NS = 1_700_000_000 * 1_000_000_000
START_NS = 1_800_000_000 * 1_000_000_000
SECONDS = 20


def capture(out: Path, seconds: float = SECONDS, *, spot: bool = False) -> Path:
    """A synthetic market recorded as a capture file (spot: as Binance ETHUSDT spot)."""
    inst = sim_catalog("spot").instruments["ETHUSDT"] if spot else INST
    end = T0_NS + int(seconds * 1e9)
    events = SyntheticMarket(INST, seed=5, start_ns=T0_NS).events()
    encoder = CaptureEncoder(inst)
    with CaptureWriter(out, "eth" if spot else "btc", encoder.snapshot, instrument=inst) as writer:
        record_events(events, encoder, writer, end)
    return writer.files[0]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return capture(tmp_path_factory.mktemp("capture"))


def test_replay_starts_at_the_session_start_keeping_its_spacing(recorded: Path) -> None:
    original = list(replay_events([recorded], INST))
    moved = list(ReplayFeed([recorded], INST, START_NS))
    assert len(moved) == len(original)
    assert min(moved[0].exch_ns, moved[0].local_ns) == START_NS
    shift = moved[0].exch_ns - original[0].exch_ns
    assert all(m.exch_ns - o.exch_ns == shift for m, o in zip(moved, original, strict=True))
    assert all(m.local_ns - o.local_ns == shift for m, o in zip(moved, original, strict=True))


def test_loop_restarts_from_the_snapshot_with_time_running_on(recorded: Path) -> None:
    one_pass = len(list(replay_events([recorded], INST)))
    feed = ReplayFeed([recorded], INST, START_NS, loop=True)
    events = list(itertools.islice(feed, 2 * one_pass + 10))
    assert not feed.ended
    starts = [i for i, e in enumerate(events) if isinstance(e, BookSnapshot) and e.bids]
    assert starts == [0, one_pass, 2 * one_pass]
    end_first = max(max(e.exch_ns, e.local_ns) for e in events[:one_pass])
    second = events[one_pass]
    assert min(second.exch_ns, second.local_ns) > end_first


def test_feed_without_loop_ends(recorded: Path) -> None:
    feed = ReplayFeed([recorded], INST, START_NS)
    for _ in feed:
        pass
    assert feed.ended


def test_replay_source_names_existing_files(tmp_path: Path, recorded: Path) -> None:
    assert replay_paths("synthetic") is None
    assert replay_paths(f"replay:{recorded},{recorded}") == [recorded, recorded]
    with pytest.raises(ValueError, match="no such file"):
        replay_paths(f"replay:{tmp_path / 'missing.gz'}")


def replay_settings(*paths: Path, loop: bool = False) -> Settings:
    source = "replay:" + ",".join(map(str, paths))
    return Settings().replace("market", source=source, replay_end="loop" if loop else "stop")


def test_paper_session_trades_the_replayed_market(recorded: Path) -> None:
    session = build_paper_session(replay_settings(recorded), virtual=True, start_ns=START_NS)
    assert session.replay is not None
    engine, venue, clock = session.engine, session.venue, session.clock
    assert isinstance(clock, VirtualClock)
    engine.control(Command(CommandKind.START, reason="test"))
    run_virtual(engine, venue, clock, START_NS + (SECONDS + 1) * 1_000_000_000)
    assert session.replay.ended
    assert engine.market_events > 1000
    assert engine.orders_placed > 0


def test_session_instrument_comes_from_the_replayed_files(tmp_path: Path) -> None:
    spot = capture(tmp_path, 2, spot=True)
    settings = replay_settings(spot).replace("sim", spot_maker_fee_bps=1.5)
    session = build_paper_session(settings, virtual=True, start_ns=START_NS)
    inst = session.venue.instrument
    assert (inst.symbol, inst.kind) == ("ETHUSDT", InstrumentKind.SPOT)
    assert inst.maker_fee_rate == pytest.approx(1.5e-4)


def test_wall_clock_session_replays_from_now(recorded: Path) -> None:
    session = build_paper_session(replay_settings(recorded), virtual=False)
    first_ns = session.venue.peek_ns()
    assert first_ns is not None
    assert 0 <= first_ns - session.start_ns < 1_000_000_000


def test_bad_replay_sources_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"market\.source"):
        Settings().replace("market", source="replay:")
    with pytest.raises(ConfigError, match="no such file"):
        build_paper_session(replay_settings(tmp_path / "nope.gz"), virtual=True)
    junk = tmp_path / "junk.txt"
    junk.write_text("hello\n")
    with pytest.raises(ConfigError, match="unknown format"):
        build_paper_session(replay_settings(junk), virtual=True)


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path),
        "TRADETUI_ENGINE__CONTROL_SOCKET": str(tmp_path / "ctl.sock"),
    }
    return subprocess.run(
        [sys.executable, "-m", "tradetui", *args, "--db", str(tmp_path / "p.db")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )


def test_headless_replay_run_stops_at_the_end_of_the_data(tmp_path: Path, recorded: Path) -> None:
    r = run_cli(
        tmp_path, "run", "--headless", "--market", f"replay:{recorded}", "--speed", "max", "--json"
    )
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["state"] == "stopped"
    assert s["market_events"] > 1000
    assert SECONDS - 1 < s["duration_s"] < SECONDS + 1


def test_headless_loop_runs_past_the_end_of_the_data(tmp_path: Path, recorded: Path) -> None:
    args = ["run", "--headless", "--market", f"replay:{recorded}", "--loop", "--speed", "max"]
    r = run_cli(tmp_path, *args, "--duration", str(2.5 * SECONDS), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["duration_s"] >= 2.5 * SECONDS


def test_run_refuses_an_unknown_market(tmp_path: Path) -> None:
    r = run_cli(tmp_path, "run", "--headless", "--market", "binance")
    assert r.returncode == 2
    assert "--market" in r.stderr


@pytest.mark.skipif(not USDM.exists(), reason=f"shared recordings not found at {DATA}")
def test_shared_capture_replays_from_now() -> None:
    settings = replay_settings(USDM)
    session = build_paper_session(settings, virtual=True, start_ns=START_NS)
    assert session.venue.instrument.symbol == "BTCUSDT"
    assert session.replay is not None
    head: list[MarketEvent] = list(itertools.islice(session.replay, 5000))
    assert all(e.exch_ns >= START_NS - 5_000_000_000 for e in head)


def test_console_takes_the_market_option_too() -> None:
    r = CliRunner().invoke(app, ["--market", "binance"])
    assert r.exit_code == 2
    assert "--market" in r.output


@pytest.mark.skipif(not USDM.exists(), reason=f"shared recordings not found at {USDM}")
def test_a_replay_keeps_exchange_times_on_the_exchanges_millisecond_grid() -> None:
    # The shared file's receive times are in ns and run behind its exchange times, so the
    # shift to the session start is rounded up to whole ms: a recording of the replay (ms
    # times, as Binance's) then holds the very market the session traded.
    moved = list(itertools.islice(ReplayFeed([USDM], INST, START_NS + 1), 1000))
    assert all(ev.exch_ns % 1_000_000 == 0 for ev in moved)
    assert START_NS + 1 <= min(moved[0].exch_ns, moved[0].local_ns) < START_NS + 1_000_001
