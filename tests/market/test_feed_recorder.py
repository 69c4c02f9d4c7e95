"""Recording a live feed (FeedRecorder on the feed's on_raw) and recording while paper trading."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.instruments import btcusdt_perpetual
from tests.sandbox.conftest import KEY, SECRET
from tradetui.cli import app
from tradetui.core.instrument import Instrument
from tradetui.core.types import BookDelta, BookSnapshot, MarketEvent, Side
from tradetui.market.books import SequencedBook
from tradetui.market.calibration import CalibrationError, params_for
from tradetui.market.check import check_files
from tradetui.market.files import ReplayReport, read_lines, recorded_instrument
from tradetui.market.recorder import CaptureEncoder, FeedRecorder
from tradetui.market.replay import replay_events
from tradetui.market.synthetic import SyntheticMarket, SyntheticParams
from tradetui.sandbox import exchange as sandbox_exchange
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.venues.binance_stream import BinanceStreamFeed, FeedState, ReconnectPolicy
from tradetui.venues.sim_listing import listing_entries

# Files here find their instrument in the simulated exchanges' catalog.
pytestmark = pytest.mark.usefixtures("simulated_catalogs")
INST = btcusdt_perpetual()
HOUR_NS = 3600 * 1_000_000_000
WAIT_S = 10.0
LIVE = ["record", "--venue", "binanceusdm"]
PAPER_RUN = ["run", "--headless", "--duration", "15", "--speed", "max"]


def first_lines(path: Path) -> list[bytes]:
    return list(itertools.islice(read_lines(path, lambda _n, _m: None), 3))


def final_book(files: list[Path]) -> list[list[tuple[int, int]]]:
    report = ReplayReport()
    book = SequencedBook(lambda _m: None, spot=False)
    for ev in replay_events(files, INST, report):
        if type(ev) is BookSnapshot:
            book.book.apply_snapshot(ev.bids, ev.asks)
        elif type(ev) is BookDelta:
            book.book.apply_delta(ev)
    return [book.book.levels(Side.BUY, 200), book.book.levels(Side.SELL, 200)]


async def until(cond: object, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.005)


def synthetic_server(inst: Instrument = INST) -> SandboxExchange:
    try:  # scaled to the instrument where the calibration prices its asset (BTCUSD_PERP)
        params = params_for(inst)
    except CalibrationError:  # another asset: BTC-like prices on its grid do for file tests
        params = SyntheticParams()
    events = SyntheticMarket(inst, params, seed=9, start_ns=time.time_ns()).events()
    return SandboxExchange(inst, events, api_key=KEY, api_secret=SECRET)


# ---- live feed → files ----------------------------------------------------------------------


async def recording(
    server: SandboxExchange, out: Path
) -> tuple[BinanceStreamFeed, FeedRecorder, asyncio.Task[None]]:
    """The Binance feed on ``server``, recorded into ``out``, running and LIVE."""
    feed = BinanceStreamFeed(
        INST,
        ws_url=f"ws://127.0.0.1:{server.port}",
        rest_url=server.rest_url,
        stale_s=0,
        reconnect=ReconnectPolicy(initial_s=0.01),
    )
    recorder = FeedRecorder(out, "live_btcusdt", INST, lambda: feed.book)
    feed.on_raw = recorder.on_raw
    task = asyncio.create_task(feed.run(lambda _ev: None))
    await until(lambda: feed.state is FeedState.LIVE, "LIVE")
    return feed, recorder, task


async def test_live_recording_checks_at_full_agreement_and_replays_the_sandbox_book(
    tmp_path: Path,
) -> None:
    async with synthetic_server() as server:
        feed, recorder, task = await recording(server, tmp_path)
        await asyncio.sleep(0.3)
        server.streams.faults.gap = 1  # recorded as it happened, then the resync's snapshot
        await until(lambda: feed.stats.gaps == 1 and feed.state is FeedState.LIVE, "resync")
        await server.drop_websockets()
        await until(lambda: feed.stats.connects == 2 and feed.state is FeedState.LIVE, "again")
        await asyncio.sleep(0.3)
        await until(lambda: feed.book.last_id == server.account.update_id, "caught up")  # type: ignore[union-attr]
        theirs = [server.account.depth.levels(s, 200) for s in (Side.BUY, Side.SELL)]
        await feed.close()
        await task
        recorder.close()

    files = recorder.writer.files
    assert len(files) == 1
    assert first_lines(files[0])[1].split(b" ", 1)[1].startswith(b'{"lastUpdateId"')
    r = check_files(files, INST)
    assert r["bbo_agreement"]["agree_fraction"] == 1.0
    assert r["bbo_agreement"]["comparable"] > 100
    assert r["gaps"] >= 1  # the gap fault (a reconnect's snapshot may need no gap to apply)
    assert r["snapshots"] == 3  # the opening one and the REST snapshots of both resyncs
    assert final_book(files) == theirs


def test_files_open_only_in_sync_and_rotate_on_the_hour_with_the_feeds_book(
    tmp_path: Path,
) -> None:
    """Messages before the book is in sync are not recorded; each hour's file opens with the
    book as its snapshot and replays on its own."""
    next_hour_ns = (time.time_ns() // HOUR_NS + 1) * HOUR_NS
    start_ns = next_hour_ns - 5 * 1_000_000_000
    events = SyntheticMarket(INST, seed=4, start_ns=start_ns).events()
    market = list(itertools.takewhile(lambda e: e.local_ns < start_ns + 10 * 10**9, events))
    encoder = CaptureEncoder(INST)
    book = SequencedBook(lambda _m: None, spot=False)
    recorder = FeedRecorder(tmp_path, "t_btcusdt", INST, lambda: book)
    bodies = [(ev, encoder.encode(ev)) for ev in market]
    first_diff = next(i for i, (ev, _) in enumerate(bodies) if hasattr(ev, "first_id"))
    # The feed starts from the first diff: it buffers, the snapshot comes later.
    order = [*bodies[first_diff : first_diff + 30], bodies[0], *bodies[first_diff + 30 :]]
    order = [(ev, b) for ev, b in order if not (type(ev) is BookSnapshot and ev is not market[0])]
    fed: list[MarketEvent] = []
    for ev, body in order:
        if type(ev) is BookSnapshot:
            fed.extend(book.on_snapshot(ev))
        elif hasattr(ev, "first_id"):
            fed.extend(book.on_diff(ev))  # type: ignore[arg-type]
        recorder.on_raw(ev.local_ns, body)
    recorder.close()

    files = recorder.writer.files
    assert len(files) == 2
    for f in files:
        assert first_lines(f)[1].split(b" ", 1)[1].startswith(b'{"lastUpdateId"')
        r = check_files([f], INST)
        assert r["gaps"] == 0
        assert r["issues"] == 0
        assert r["bbo_agreement"]["agree_fraction"] == 1.0
    assert final_book(files) == [book.book.levels(s, 200) for s in (Side.BUY, Side.SELL)]


def test_an_hour_turning_while_the_book_is_unknown_waits_for_the_resync(tmp_path: Path) -> None:
    book = SequencedBook(lambda _m: None, spot=False)
    recorder = FeedRecorder(tmp_path, "t_btcusdt", INST, lambda: book)
    t0 = 10 * HOUR_NS + 5
    snap = BookSnapshot(exch_ns=t0, local_ns=t0, update_id=1, bids=((100, 1),), asks=((101, 1),))
    book.on_snapshot(snap)
    recorder.on_raw(t0, b'{"stream":"btcusdt@trade","data":{}}')  # not synced yet: skipped
    assert recorder.writer.files == []
    book.state = book.state.SYNCED
    recorder.on_raw(t0 + 1, b'{"stream":"btcusdt@trade","data":{}}')
    book.state = book.state.WAITING  # a gap right before the hour
    recorder.on_raw(t0 + HOUR_NS, b'{"stream":"btcusdt@trade","data":{}}')
    assert len(recorder.writer.files) == 1
    book.state = book.state.SYNCED
    recorder.on_raw(t0 + HOUR_NS + 1, b'{"stream":"btcusdt@trade","data":{}}')
    recorder.close()
    assert len(recorder.writer.files) == 2
    assert [len(list(read_lines(f, lambda _n, _m: None))) for f in recorder.writer.files] == [3, 3]


# ---- the command -----------------------------------------------------------------------------


class ThreadedSandbox:
    """A sandbox exchange serving from its own thread, for commands that run their own loop."""

    def __init__(self, instrument: Instrument = INST) -> None:
        self.instrument = instrument
        self.server: SandboxExchange | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self.server = synthetic_server(self.instrument)
        self._loop.run_until_complete(self.server.start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self.server.stop())

    def __enter__(self) -> SandboxExchange:
        self._thread.start()
        assert self._ready.wait(WAIT_S)
        assert self.server is not None
        return self.server

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(WAIT_S)


@pytest.fixture
def threaded_sandbox() -> Iterator[SandboxExchange]:
    with ThreadedSandbox() as server:
        yield server


def test_record_command_records_the_sandbox_and_the_file_backtests(
    tmp_path: Path, threaded_sandbox: SandboxExchange
) -> None:
    port = threaded_sandbox.port
    urls = ["--ws-url", f"ws://127.0.0.1:{port}", "--rest-url", f"http://127.0.0.1:{port}"]
    out = tmp_path / "rec"
    args = ["record", "--venue", "binanceusdm", "--symbol", "BTCUSDT", "--out", str(out)]
    res = CliRunner().invoke(app, [*args, *urls, "--duration", "1.5"])
    assert res.exit_code == 0, res.output
    files = sorted(out.glob("binanceusdm_btcusdt_*.gz"))
    assert len(files) == 1
    assert "0 gap(s)" in res.output
    check = CliRunner().invoke(app, ["data", "check", str(files[0]), "--json"])
    assert check.exit_code == 0
    assert '"agree_fraction": 1.0' in check.output
    bt = CliRunner().invoke(app, ["backtest", str(files[0]), "--json", "--no-cache"])
    assert bt.exit_code == 0, bt.output


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--venue", "kraken"], "--venue: unknown venue 'kraken'; use usdm, coinm or spot"),
        (
            ["--venue", "usdm", "--symbol", "DOGEUSDT"],
            "--symbol DOGEUSDT: not in the usdm catalog; run `tradetui markets sync --venue usdm`",
        ),
        (["--venue", "binanceusdm", "--ws-url", "http://x"], "expected a ws or wss:// URL"),
        (["--venue", "binanceusdm", "--duration", "0"], "--duration: must be > 0"),
        (["--ws-url", "ws://x"], "only for a live recording"),
    ],
)
def test_record_refuses_bad_arguments_with_one_line(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    res = CliRunner().invoke(app, ["record", "--out", str(tmp_path), *extra])
    assert res.exit_code == 2
    assert message in res.output
    assert res.output.count("\n") == 1


@pytest.mark.parametrize("live", [True, False])
def test_record_refuses_an_out_folder_it_cannot_write(tmp_path: Path, live: bool) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    args = ["record", "--out", str(blocker / "sub")]
    if live:
        args += ["--venue", "binanceusdm", "--rest-url", "http://127.0.0.1:9"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2
    assert f"--out {blocker / 'sub'}: not writable" in res.output


def test_record_names_an_unreachable_rest_url(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app,
        [*LIVE, "--out", str(tmp_path), "--rest-url", "http://127.0.0.1:9"],
    )
    assert res.exit_code == 2
    assert "--rest-url: cannot reach http://127.0.0.1:9/fapi/v1/depth" in res.output


def test_record_names_a_symbol_the_exchange_does_not_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An exchange listing ETHUSDT alone (the simulated listing also has BTCUSDT).
    eth = [e for e in listing_entries("binanceusdm") if e["symbol"] == "ETHUSDT"]
    monkeypatch.setattr(sandbox_exchange, "listing_entries", lambda exchange: eth)
    with ThreadedSandbox(dataclasses.replace(INST, symbol="ETHUSDT")) as server:
        res = CliRunner().invoke(
            app,
            [*LIVE, "--out", str(tmp_path), "--symbol", "BTCUSDT", "--rest-url", server.rest_url],
        )
    assert res.exit_code == 2
    assert "--symbol BTCUSDT: binanceusdm answered 'Invalid symbol.'" in res.output


# ---- record while paper trading --------------------------------------------------------------


def test_paper_session_records_the_market_it_trades_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRADETUI_RECORD__ENABLED", "true")
    monkeypatch.setenv("TRADETUI_RECORD__DIR", str(tmp_path / "rec"))
    res = CliRunner().invoke(
        app,
        [*PAPER_RUN, "--seed", "2", "--db", str(tmp_path / "x.db"), "--json"],
    )
    assert res.exit_code == 0, res.output
    files = sorted((tmp_path / "rec").glob("paper_btcusdt_*.gz"))
    assert files
    recorded = recorded_instrument(files[0])
    assert recorded is not None
    assert recorded.symbol == "BTCUSDT"
    r = check_files(files, INST)
    assert r["gaps"] == 0
    assert r["bbo_agreement"]["agree_fraction"] == 1.0
    assert r["time_span"]["seconds"] >= 14


def test_paper_session_refuses_a_record_dir_it_cannot_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("TRADETUI_RECORD__ENABLED", "true")
    monkeypatch.setenv("TRADETUI_RECORD__DIR", str(blocker))
    res = CliRunner().invoke(app, ["run", "--headless", "--duration", "1", "--speed", "max"])
    assert res.exit_code == 2
    assert "record.dir: cannot write recordings in" in res.output


def test_a_message_after_the_recording_closed_is_dropped_not_raised(tmp_path: Path) -> None:
    """A session closes its recording before its feed stops; a message arriving in between
    used to fail the feed task with a bare AssertionError ("market feed stopped: ")."""
    start_ns = time.time_ns()
    market = list(itertools.islice(SyntheticMarket(INST, seed=5, start_ns=start_ns).events(), 50))
    encoder = CaptureEncoder(INST)
    book = SequencedBook(lambda _m: None, spot=False)
    recorder = FeedRecorder(tmp_path, "t_btcusdt", INST, lambda: book)
    for ev in market:
        body = encoder.encode(ev)
        if type(ev) is BookSnapshot:
            book.on_snapshot(ev)
        elif hasattr(ev, "first_id"):
            book.on_diff(ev)  # type: ignore[arg-type]
        recorder.on_raw(ev.local_ns, body)
    recorder.close()
    (path,) = recorder.writer.files
    size, lines = path.stat().st_size, recorder.writer.lines

    late = market[-1]
    recorder.on_raw(late.local_ns + 1, encoder.encode(late))

    assert (path.stat().st_size, recorder.writer.lines) == (size, lines)
