"""``tradetui data download`` against the loopback archive (sandbox/archive.py), and backtests
of several downloaded days in one run. No network: the archive is served on 127.0.0.1."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradetui.backtest.run import run_backtest
from tradetui.cli import app
from tradetui.config import Settings
from tradetui.core.instrument import Instrument
from tradetui.core.types import BestBidOffer, BookSnapshot
from tradetui.market.archive import DayFile, sha256_file
from tradetui.market.cache import load_events
from tradetui.market.files import ReplayError, ReplayReport
from tradetui.market.replay import replay_events
from tradetui.sandbox.archive import (
    BOOK_TICKER_HEADER,
    TRADES_HEADER,
    ArchiveServer,
    publish_capture,
    publish_day,
)
from tradetui.venues.sim_listing import sim_instrument

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
USDM = DATA / "binance-usdm" / "btcusdt_20240808.gz"
needs_usdm = pytest.mark.skipif(not USDM.exists(), reason=f"shared capture not found at {USDM}")
pytestmark = pytest.mark.usefixtures("simulated_catalogs")
_listed = sim_instrument("BTCUSDT")
assert _listed is not None
BTCUSDT: Instrument = _listed
BOOK = "BTCUSDT-bookTicker-2024-08-08.zip"


def download(server: ArchiveServer, dest: Path, *args: str) -> tuple[int, str]:
    res = CliRunner().invoke(
        app,
        [
            "data",
            "download",
            "--venue",
            "binanceusdm",
            "--symbol",
            "BTCUSDT",
            "--base-url",
            server.url,
            "--dest",
            str(dest),
            *args,
        ],
    )
    return res.exit_code, res.output


def outcomes(out: str) -> dict[str, str]:
    """name → outcome of a --json run (the JSON object is the output's first line on)."""
    doc = json.loads(out[out.index("{") : out.rindex("}") + 1])
    return {f["name"]: f["outcome"] for f in doc["files"]}


@pytest.fixture
def real_archive(tmp_path: Path) -> Path:
    """The shared USD-M capture as Binance publishes it: bookTicker 08-08 and 08-09 (it runs
    to 00:00:01), trades 08-08 (its last trade is before midnight)."""
    if not USDM.exists():
        pytest.skip(f"shared capture not found at {USDM}")
    root = tmp_path / "archive"
    published = {f.name for f in publish_capture(USDM, root, "usdm")}
    assert published == {
        BOOK,
        "BTCUSDT-bookTicker-2024-08-09.zip",
        "BTCUSDT-trades-2024-08-08.zip",
    }
    return root


@needs_usdm
def test_download_verifies_reports_a_missing_day_and_skips_what_is_here(
    real_archive: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "data"
    with ArchiveServer(real_archive) as server:
        code, out = download(server, dest, "--from", "2024-08-08", "--to", "2024-08-09")
        assert code == 1, out
        # One error line names the missing file and why; the other three arrived verified.
        errors = [ln for ln in out.splitlines() if ln.startswith("error: ")]
        assert errors == [
            "error: 1 of 4 file(s) not downloaded; first: BTCUSDT-trades-2024-08-09.zip "
            f"missing: not published ({server.url}/data/futures/um/daily/trades/BTCUSDT/"
            "BTCUSDT-trades-2024-08-09.zip answers 404)"
        ]
        for f in (BOOK, "BTCUSDT-bookTicker-2024-08-09.zip", "BTCUSDT-trades-2024-08-08.zip"):
            kind = f.split("-")[1]
            got = dest / "data/futures/um/daily" / kind / "BTCUSDT" / f
            src = real_archive / "data/futures/um/daily" / kind / "BTCUSDT" / f
            assert got.read_bytes() == src.read_bytes()
            assert (got.parent / (f + ".CHECKSUM")).exists()
        server.requests.clear()
        code, out = download(
            server, dest, "--from", "2024-08-08", "--to", "2024-08-09", "--kind", "bookTicker"
        )
        assert code == 0, out
        assert "already here" in out
        assert server.requests == []  # complete and verified: not even the CHECKSUM is asked


@needs_usdm
def test_checksum_mismatch_rejects_the_file(real_archive: Path, tmp_path: Path) -> None:
    dest = tmp_path / "data"
    folder = dest / "data/futures/um/daily/bookTicker/BTCUSDT"
    with ArchiveServer(real_archive) as server:
        server.corrupt.add(BOOK)  # its bytes arrive damaged
        code, out = download(server, dest, "--from", "2024-08-08", "--kind", "bookTicker")
        assert code == 1, out
        assert (
            f"error: 1 of 1 file(s) not downloaded; first: {BOOK} checksum mismatch: sha256 " in out
        )
        assert "the file was deleted, run again to fetch it afresh" in out
        assert not (folder / BOOK).exists()
        assert not (folder / (BOOK + ".part")).exists()
        server.corrupt.clear()
        code, out = download(server, dest, "--from", "2024-08-08", "--kind", "bookTicker")
        assert code == 0, out
        src = real_archive / "data/futures/um/daily/bookTicker/BTCUSDT" / BOOK
        assert sha256_file(folder / BOOK) == sha256_file(src)


@needs_usdm
def test_interrupted_download_resumes_with_a_range_request(
    real_archive: Path, tmp_path: Path
) -> None:
    dest = tmp_path / "data"
    folder = dest / "data/futures/um/daily/bookTicker/BTCUSDT"
    src = real_archive / "data/futures/um/daily/bookTicker/BTCUSDT" / BOOK
    cut = 100_000
    assert src.stat().st_size > 2 * cut
    with ArchiveServer(real_archive) as server:
        server.cut_after[BOOK] = cut  # the connection drops after 100,000 bytes
        code, out = download(server, dest, "--from", "2024-08-08", "--kind", "bookTicker", "--json")
        assert code == 1, out
        assert outcomes(out) == {BOOK: "interrupted"}
        assert f"{cut:,} bytes kept in {BOOK}.part, run again to continue" in out
        assert (folder / (BOOK + ".part")).stat().st_size == cut
        assert not (folder / BOOK).exists()
        server.requests.clear()
        code, out = download(server, dest, "--from", "2024-08-08", "--kind", "bookTicker", "--json")
        assert code == 0, out
        assert outcomes(out) == {BOOK: "downloaded"}
        zip_gets = [r for r in server.requests if r[0].endswith(".zip")]
        assert zip_gets == [(f"/data/futures/um/daily/bookTicker/BTCUSDT/{BOOK}", f"bytes={cut}-")]
        assert (folder / BOOK).read_bytes() == src.read_bytes()
        assert not (folder / (BOOK + ".part")).exists()


def test_bad_command_lines_are_one_line_each(tmp_path: Path) -> None:
    with ArchiveServer(tmp_path) as server:
        cases = {
            ("--from", "2024-08-32"): "--from: expected a day as YYYY-MM-DD (got '2024-08-32')",
            ("--from", "2024-08-09", "--to", "2024-08-08"): "--to 2024-08-08 is before --from",
            ("--from", "2024-08-08", "--kind", "depth"): "--kind: unknown kind 'depth'",
            ("--from", "2024-08-08", "--kind", "trades,aggTrades"): "trades and aggTrades",
        }
        for args, message in cases.items():
            code, out = download(server, tmp_path / "d", *args)
            assert code == 2, out
            assert out.startswith("error: "), out
            assert out.count("\n") == 1, out
            assert message in out
        res = CliRunner().invoke(
            app,
            [
                *("data", "download", "--venue", "spot", "--symbol", "BTCUSDT"),
                *("--from", "2024-08-08", "--kind", "bookTicker", "--base-url", server.url),
            ],
        )
        assert res.exit_code == 2
        assert "Binance publishes no spot bookTicker archive" in res.output
        assert server.requests == []


@needs_usdm
def test_two_downloaded_days_backtest_in_one_run(real_archive: Path, tmp_path: Path) -> None:
    dest = tmp_path / "data"
    with ArchiveServer(real_archive) as server:
        code, out = download(
            server, dest, "--from", "2024-08-08", "--to", "2024-08-09", "--kind", "bookTicker"
        )
        assert code == 0, out
        code, out = download(server, dest, "--from", "2024-08-08", "--kind", "trades")
        assert code == 0, out
    files = sorted(dest.rglob("*.zip"))
    assert len(files) == 3
    res = CliRunner().invoke(app, ["backtest", *map(str, files), "--json", "--no-cache"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.output)
    assert r["instrument_source"] == "catalog"  # venue from the archive's folders
    assert r["data"]["gaps"] == 0
    assert r["data"]["issues"] == 0
    # Every published row of both days was replayed: 66,089 bookTickers, 21,313 trades.
    assert r["data"]["messages"] == {"bookTicker": 66_089, "trade": 21_313}
    assert r["fills"] > 0
    # The run spans midnight: both days' bookTicker files were read as one stream.
    report = ReplayReport()
    events = list(replay_events(files, BTCUSDT, report))
    midnight = int(datetime(2024, 8, 9, tzinfo=UTC).timestamp()) * 10**9
    assert report.first_exch_ns < midnight < report.last_exch_ns
    times = [ev.exch_ns for ev in events]
    assert times == sorted(times)


# ---- gaps between days (generated rows) -------------------------------------------------------

DAY_MS = 86_400_000


def _day_rows(
    day: date, price: float, seconds: int, seed: int, tail: bool = False
) -> tuple[list[str], list[str]]:
    """bookTicker rows every 100 ms and a trade every 300 ms from 00:00 of ``day`` (``tail``:
    up to its midnight): a random walk around ``price`` (tick 0.1), one-tick spread, trades
    alternating sides at or up to 5 ticks through the touch."""
    rng = random.Random(seed)
    t0 = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)
    if tail:
        t0 += DAY_MS - seconds * 1000
    bid = round(price * 10)
    books, trades = [BOOK_TICKER_HEADER], [TRADES_HEADER]
    uid = seed * 10_000_000
    for i in range(seconds * 10):
        t = t0 + i * 100
        bid += rng.choice((-1, 0, 0, 1))
        uid += 1
        books.append(f"{uid},{bid / 10:.1f},2.000,{(bid + 1) / 10:.1f},2.000,{t},{t + 1}")
        if i % 3 == 0:
            buyer_maker = (i // 3) % 2 == 0
            through = rng.randrange(6)  # a taker sweeping up to 5 ticks past the touch
            px = bid - through if buyer_maker else bid + 1 + through
            trades.append(
                f"{uid},{px / 10:.1f},0.500,{px / 20:.2f},{t + 50},{str(buyer_maker).lower()}"
            )
    return books, trades


def _publish(root: Path, days: dict[date, float]) -> list[Path]:
    paths = []
    for n, (day, price) in enumerate(days.items(), 1):
        books, trades = _day_rows(day, price, 600, n, tail=n == 1)
        paths.append(publish_day(root, DayFile("usdm", "bookTicker", "BTCUSDT", day), books))
        paths.append(publish_day(root, DayFile("usdm", "trades", "BTCUSDT", day), trades))
    return paths


def _fills_after(paths: list[Path], jump_ns: int) -> tuple[int, int]:
    """Fills of a backtest of ``paths`` (default strategy, no fee floor) at the jump (before
    the new day's first trade, 50 ms in: only the new touch running over a resting quote can
    fill there), and later."""
    events, _, _ = load_events(paths, BTCUSDT, use_cache=False)
    settings = Settings().replace("strategy", fee_floor=False)
    times = [f.fill.exch_ns for f in run_backtest(settings, BTCUSDT, events).fills]
    at_jump = sum(jump_ns <= t < jump_ns + 50_000_000 for t in times)
    return at_jump, sum(t >= jump_ns + 50_000_000 for t in times)


def test_a_missing_day_is_a_gap_the_backtest_does_not_trade_across(tmp_path: Path) -> None:
    d1, d2, d3 = date(2024, 8, 8), date(2024, 8, 9), date(2024, 8, 10)
    # Days 1 and 3 given, day 2 not: the market moved 5% while we did not see it.
    paths = _publish(tmp_path / "gap", {d1: 60_000.0, d3: 63_000.0})
    with ArchiveServer(tmp_path / "gap") as server:
        code, out = download(server, tmp_path / "dl", "--from", str(d1), "--to", str(d3))
        assert code == 1
        assert "BTCUSDT-bookTicker-2024-08-09.zip missing: not published" in out
    report = ReplayReport()
    events = list(replay_events(paths, BTCUSDT, report))
    day3_ns = int(datetime(2024, 8, 10, tzinfo=UTC).timestamp()) * 10**9
    assert report.gaps == 1
    issues = sorted(str(i).split(".zip:1: ")[1] for i in report.issues)
    assert issues == [
        "no bookTicker from 2024-08-08T23:59:59.900+00:00 to 2024-08-10T00:00:00.000+00:00 "
        "(a day missing?); the book is unknown over the gap",
        "no trades from 2024-08-08T23:59:59.750+00:00 to 2024-08-10T00:00:00.050+00:00 "
        "(a day missing?)",
    ]
    marks = [i for i, ev in enumerate(events) if type(ev) is BookSnapshot]
    assert len(marks) == 2
    empty, resume = (events[i] for i in marks)
    assert isinstance(empty, BookSnapshot)
    assert isinstance(resume, BookSnapshot)
    assert empty.bids == empty.asks == ()
    assert empty.exch_ns < day3_ns
    assert resume.exch_ns == day3_ns
    assert resume.bids[0][0] + 1 == resume.asks[0][0]
    assert all(type(ev) is not BestBidOffer or ev.exch_ns < day3_ns for ev in events[: marks[0]])
    # Nothing fills at the jump; with the same rows on consecutive days (day 1 runs to
    # midnight: no gap, a real 5% move) our quotes resting from day 1 are run over.
    # The book comes back with day 3's first touch, and quoting with it.
    at_jump, later = _fills_after(paths, day3_ns)
    assert at_jump == 0
    assert later > 0
    day2_ns = day3_ns - DAY_MS * 10**6
    together = _publish(tmp_path / "contiguous", {d1: 60_000.0, d2: 63_000.0})
    assert _fills_after(together, day2_ns)[0] > 0


def test_the_same_day_twice_and_trades_with_aggtrades_are_refused(tmp_path: Path) -> None:
    d1 = date(2024, 8, 8)
    books, _ = _day_rows(d1, 60_000.0, 10, 1)
    a = publish_day(tmp_path / "a", DayFile("usdm", "bookTicker", "BTCUSDT", d1), books)
    b = publish_day(tmp_path / "b", DayFile("usdm", "bookTicker", "BTCUSDT", d1), books)
    with pytest.raises(ReplayError, match="give each day once"):
        list(replay_events([a, b], BTCUSDT))
    agg = ["agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker"]
    _, trades = _day_rows(d1, 60_000.0, 10, 1)
    t = publish_day(tmp_path, DayFile("usdm", "trades", "BTCUSDT", d1), trades)
    g = publish_day(
        tmp_path,
        DayFile("usdm", "aggTrades", "BTCUSDT", d1),
        [*agg, "1,60000.0,0.5,1,1,1723075200050,true"],
    )
    with pytest.raises(ReplayError, match="hold the same prints twice; give one kind"):
        list(replay_events([a, t, g], BTCUSDT))


@needs_usdm
def test_a_whole_part_left_unrenamed_is_verified_not_fetched_again(
    real_archive: Path, tmp_path: Path
) -> None:
    """Stopped between the last byte and the rename: the Range past the end answers 416."""
    dest = tmp_path / "data"
    src = real_archive / "data/futures/um/daily/bookTicker/BTCUSDT" / BOOK
    folder = dest / "data/futures/um/daily/bookTicker/BTCUSDT"
    folder.mkdir(parents=True)
    (folder / (BOOK + ".part")).write_bytes(src.read_bytes())
    with ArchiveServer(real_archive) as server:
        code, out = download(server, dest, "--from", "2024-08-08", "--kind", "bookTicker", "--json")
        assert code == 0, out
        assert outcomes(out) == {BOOK: "downloaded"}
        size = src.stat().st_size
        assert server.requests[-1] == (
            f"/data/futures/um/daily/bookTicker/BTCUSDT/{BOOK}",
            f"bytes={size}-",
        )
    assert (folder / BOOK).read_bytes() == src.read_bytes()
