"""Replay readers, sequenced book building and the data check, on small synthetic files in
every supported format and (when present) on the shared recordings."""

from __future__ import annotations

import gzip
import itertools
import json
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.instruments import btcusdt_perpetual
from tradetui.core.book import OrderBook
from tradetui.core.instrument import Instrument
from tradetui.core.types import BestBidOffer, BookDelta, BookSnapshot, MarketEvent, Side, Trade
from tradetui.market.books import SequencedBook, SyncState
from tradetui.market.check import check_files
from tradetui.market.decode import DEPTH, Grid, OffGridError
from tradetui.market.files import (
    Format,
    ReplayError,
    ReplayReport,
    detect_format,
)
from tradetui.market.instruments import infer_instrument
from tradetui.market.replay import drop_stale_bbo, replay_events
from tradetui.market.synthetic import SyntheticMarket

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
USDM = DATA / "binance-usdm" / "btcusdt_20240808.gz"
needs_data = pytest.mark.skipif(
    not USDM.exists(), reason=f"shared recordings not found at {DATA} (checkout without ../shared)"
)
# Files here find their instrument in the simulated exchanges' catalog.
pytestmark = pytest.mark.usefixtures("simulated_catalogs")
INST = btcusdt_perpetual()
T0_NS = 1_700_000_000_000_000_000
MS = 1_000_000


def capture_lines(
    events: Iterable[MarketEvent], inst: Instrument, *, spot: bool = False
) -> list[str]:
    """Raw capture lines ('<local ns> <json>') for ``events``, as Binance would send them."""
    sym = inst.symbol.lower()

    def px(ticks: int) -> str:
        return str(inst.price(ticks))

    def qty(lots: int) -> str:
        return str(inst.qty(lots))

    out = []
    for ev in events:
        if isinstance(ev, BookSnapshot):
            body: dict[str, object] = {
                "lastUpdateId": ev.update_id,
                "bids": [[px(p), qty(q)] for p, q in ev.bids],
                "asks": [[px(p), qty(q)] for p, q in ev.asks],
            }
            if not spot:
                body["E"] = ev.exch_ns // MS
                body["T"] = ev.exch_ns // MS
        elif isinstance(ev, BookDelta):
            data: dict[str, object] = {
                "e": "depthUpdate",
                "E": ev.exch_ns // MS,
                "U": ev.first_id,
                "u": ev.last_id,
                "b": [[px(p), qty(q)] for p, q in ev.bids],
                "a": [[px(p), qty(q)] for p, q in ev.asks],
            }
            if not spot:
                data["pu"] = ev.prev_id
            body = {"stream": f"{sym}@depth@{'100ms' if spot else '0ms'}", "data": data}
        elif isinstance(ev, BestBidOffer):
            data = {
                "u": ev.update_id,
                "b": px(ev.bid_ticks),
                "B": qty(ev.bid_lots),
                "a": px(ev.ask_ticks),
                "A": qty(ev.ask_lots),
            }
            if not spot:
                data["E"] = ev.exch_ns // MS
            body = {"stream": f"{sym}@bookTicker", "data": data}
        else:
            assert isinstance(ev, Trade)
            data = {
                "e": "trade",
                "E": ev.exch_ns // MS,
                "T": ev.exch_ns // MS,
                "t": ev.trade_id,
                "p": px(ev.price_ticks),
                "q": qty(ev.qty_lots),
                "m": ev.aggressor < 0,
            }
            body = {"stream": f"{sym}@trade", "data": data}
        out.append(f"{ev.local_ns} {json.dumps(body, separators=(',', ':'))}")
    return out


def write_lines(path: Path, lines: Iterable[str]) -> Path:
    text = "".join(f"{line}\n" for line in lines).encode()
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text))
    else:
        path.write_bytes(text)
    return path


def synthetic(seconds: float, seed: int = 1) -> list[MarketEvent]:
    end_ns = T0_NS + int(seconds * 1e9)
    return list(
        itertools.takewhile(
            lambda e: e.exch_ns < end_ns, SyntheticMarket(INST, seed=seed, start_ns=T0_NS).events()
        )
    )


def read(paths: list[Path], inst: Instrument = INST) -> tuple[list[MarketEvent], ReplayReport]:
    report = ReplayReport()
    return list(replay_events(paths, inst, report)), report


def delta(first: int, last: int, prev: int, bids: tuple[tuple[int, int], ...] = ()) -> BookDelta:
    return BookDelta.of(
        exch_ns=first,
        local_ns=first,
        first_id=first,
        last_id=last,
        prev_id=prev,
        bids=bids,
        asks=((2000, 1),),
    )


def snapshot(uid: int) -> BookSnapshot:
    return BookSnapshot(
        exch_ns=uid, local_ns=uid, update_id=uid, bids=((1000, 5),), asks=((2000, 5),)
    )


# ---- exact decimal conversion -------------------------------------------------------------


def test_grid_converts_decimal_strings_exactly() -> None:
    ticks, lots = Grid(Decimal("0.1")), Grid(Decimal("0.001"))
    assert ticks.steps("61800.20") == 618002
    assert ticks.steps("0.1") == 1
    assert lots.steps("2.507") == 2507
    assert lots.steps("0.00000000") == 0
    assert Grid(Decimal("0.01")).steps("61837.63000000") == 6183763
    assert lots.steps("1E-3") == 1


def test_grid_refuses_values_off_the_grid() -> None:
    with pytest.raises(OffGridError):
        Grid(Decimal("0.1")).steps("61800.25")
    with pytest.raises(OffGridError):
        Grid(Decimal("0.1")).steps("abc")


def _depth_body(levels_json: str) -> bytes:
    return f'{{"stream":"x@depth","data":{{"E":1,"U":1,"u":2,"b":{levels_json},"a":[]}}}}'.encode()


def test_depth_levels_decode_to_exact_ticks_and_lots() -> None:
    d = DEPTH.decode(_depth_body('[["61800.20","1.234"],["61800.10","0.000"]]')).data
    ticks, lots = Grid(Decimal("0.1")), Grid(Decimal("0.001"))
    assert lots.levels(ticks, d.b) == ((618002, 1234), (618001, 0))
    assert [tuple(lv) for lv in d.b] == [("61800.20", "1.234"), ("61800.10", "0.000")]


@pytest.mark.parametrize("levels_json", ['[["1.0",2]]', '[["1.0","2","3"]]', '[["1.0"]]'])
def test_depth_levels_that_are_not_string_pairs_are_errors(levels_json: str) -> None:
    with pytest.raises(msgspec.ValidationError):
        DEPTH.decode(_depth_body(levels_json))


@given(
    st.integers(min_value=-(10**12), max_value=10**12),
    st.sampled_from(["0.1", "0.01", "0.25", "5"]),
)
def test_grid_round_trips_any_multiple(n: int, step: str) -> None:
    s = Decimal(step)
    assert Grid(s).steps(str(n * s)) == n


# ---- sequenced book building ----------------------------------------------------------------


def test_builder_buffers_early_diffs_and_starts_at_the_straddling_one() -> None:
    issues: list[str] = []
    b = SequencedBook(issues.append, spot=False)
    assert b.on_diff(delta(90, 99, 89)) == []
    assert b.on_diff(delta(100, 110, 99, ((1001, 3),))) == []
    out = b.on_snapshot(snapshot(105))
    assert [type(e) for e in out] == [BookSnapshot, BookDelta]
    assert str(b.state) == "synced"
    assert b.book.bid_ticks == 1001
    assert b.on_diff(delta(111, 120, 110)) != []
    assert issues == []


def test_spot_chain_needs_consecutive_ids() -> None:
    b = SequencedBook(lambda _m: None, spot=True)
    b.on_snapshot(snapshot(100))
    assert b.on_diff(delta(95, 100, 94)) == []  # contained in the snapshot
    assert b.on_diff(delta(101, 105, 100)) != []
    out = b.on_diff(delta(107, 110, 106))
    assert b.gaps == 1
    assert out[0] == BookSnapshot(exch_ns=107, local_ns=107, update_id=106, bids=(), asks=())


def test_gap_empties_the_book_until_the_next_snapshot() -> None:
    issues: list[str] = []
    b = SequencedBook(issues.append, spot=False)
    b.on_snapshot(snapshot(100))
    b.on_diff(delta(99, 101, 98))
    out = b.on_diff(delta(120, 130, 115))
    assert isinstance(out[0], BookSnapshot)
    assert not out[0].bids
    assert b.book.bid_ticks == 0
    assert b.state == SyncState.WAITING
    assert b.on_diff(delta(131, 140, 130)) == []
    assert "sequence gap" in issues[0]
    resynced = b.on_snapshot(snapshot(135))
    assert [type(e) for e in resynced] == [BookSnapshot, BookDelta]
    assert str(b.state) == "synced"


def test_stale_snapshot_is_reported_as_a_gap() -> None:
    b = SequencedBook(lambda _m: None, spot=False)
    b.on_snapshot(snapshot(100))
    b.on_diff(delta(150, 160, 149))
    assert b.gaps == 1
    assert b.book.bid_ticks == 0


def test_crossed_book_is_reported() -> None:
    issues: list[str] = []
    b = SequencedBook(issues.append, spot=False)
    b.on_snapshot(snapshot(100))
    b.on_diff(delta(100, 101, 99, ((2500, 1),)))
    assert b.crossed == 1
    assert "crossed" in issues[0]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.integers(990, 1010), st.integers(0, 4)), min_size=1, max_size=4),
        min_size=2,
        max_size=30,
    ),
    st.data(),
)
def test_rebuilt_book_equals_the_true_book(
    batches: list[list[tuple[int, int]]], data: st.DataObject
) -> None:
    # True book: bids only (asks far away); each batch is one diff with one id per level.
    truth: dict[int, int] = {}
    diffs: list[BookDelta] = []
    uid = 1000
    states: list[tuple[int, dict[int, int]]] = []
    for batch in batches:
        levels = dict(batch)
        first = uid + 1
        uid += len(levels)
        for p, q in levels.items():
            if q:
                truth[p] = q
            else:
                truth.pop(p, None)
        diffs.append(delta(first, uid, first - 1, tuple(levels.items())))
        states.append((uid, dict(truth)))
    # Snapshot taken somewhere inside the stream, received after the diffs up to a later point.
    k = data.draw(st.integers(0, len(diffs) - 1))
    snap_id, snap_book = states[k]
    arrived = data.draw(st.integers(k, len(diffs) - 1))
    b = SequencedBook(lambda _m: None, spot=True)
    for d in diffs[: arrived + 1]:
        b.on_diff(d)
    b.on_snapshot(
        BookSnapshot(
            exch_ns=0,
            local_ns=0,
            update_id=snap_id,
            bids=tuple(sorted(snap_book.items(), reverse=True)),
            asks=((2000, 1),),
        )
    )
    for d in diffs[arrived + 1 :]:
        b.on_diff(d)
    rebuilt = OrderBook()
    rebuilt.apply_snapshot(sorted(truth.items(), reverse=True), [(2000, 1)])
    assert b.book.levels(Side.BUY, 100) == rebuilt.levels(Side.BUY, 100)
    assert b.gaps == 0


# ---- capture files ----------------------------------------------------------------------------


def synthetic_capture(
    tmp_path: Path, name: str = "btcusdt_cap.gz", seconds: float = 20
) -> tuple[Path, list[MarketEvent]]:
    events = synthetic(seconds)
    # A collector subscribes first and fetches the snapshot a moment later: put two diffs
    # ahead of it, as in real captures.
    first_deltas = [i for i, e in enumerate(events) if isinstance(e, BookDelta)][:2]
    order = [
        *(events[i] for i in first_deltas),
        *(e for i, e in enumerate(events) if i not in first_deltas),
    ]
    snap = next(e for e in events if isinstance(e, BookSnapshot))
    order.remove(snap)
    order.insert(2, snap)
    return write_lines(tmp_path / name, capture_lines(order, INST)), events


@pytest.mark.parametrize("name", ["usdm_btcusdt.txt", "usdm_btcusdt.gz"])
def test_capture_round_trips_plain_and_gzip(tmp_path: Path, name: str) -> None:
    path, events = synthetic_capture(tmp_path, name)
    got, report = read([path])
    assert report.issue_count == 0
    assert report.gaps == 0

    def key(t: MarketEvent) -> tuple[int, ...]:
        assert isinstance(t, Trade)
        return (t.trade_id, t.price_ticks, t.qty_lots, t.aggressor, t.local_ns, t.exch_ns // MS)

    assert [key(e) for e in got if isinstance(e, Trade)] == [
        key(e) for e in events if isinstance(e, Trade)
    ]
    assert got[0] == next(e for e in events if isinstance(e, BookSnapshot))
    # Every bookTicker agrees with the book rebuilt from diffs at its id.
    r = check_files([path], INST)
    assert r["bbo_agreement"]["agree_fraction"] == 1.0
    assert r["bbo_agreement"]["comparable"] > 100


def test_capture_keeps_exchange_and_receive_times(tmp_path: Path) -> None:
    ev = Trade(
        exch_ns=T0_NS + 5_000_000_000,
        local_ns=T0_NS + 3_730_000_000,
        trade_id=1,
        price_ticks=618002,
        qty_lots=6,
        aggressor=Side.BUY,
    )
    path = write_lines(tmp_path / "btcusdt.txt", capture_lines([ev], INST))
    got, _ = read([path])
    assert got == [ev]


def test_garbage_line_is_reported_and_the_gap_resynced_nowhere(tmp_path: Path) -> None:
    path, _ = synthetic_capture(tmp_path, "btcusdt.txt")
    lines = path.read_text().splitlines()
    idx = next(i for i, line in enumerate(lines) if "depth" in line and i > 50)
    lines[idx] = "1700000000000000000 {this is not json"
    write_lines(path, lines)
    got, report = read([path])
    assert str(report.issues[0]).startswith(f"{path}:{idx + 1}: unreadable line")
    assert report.gaps == 1  # the lost diff breaks the chain: the book is emptied, not wrong
    empties = [e for e in got if isinstance(e, BookSnapshot) and not e.bids]
    assert len(empties) == 1
    assert not any(isinstance(e, BookDelta) for e in got[got.index(empties[0]) :])


def test_truncated_gzip_reports_the_last_good_line(tmp_path: Path) -> None:
    path, _ = synthetic_capture(tmp_path, "btcusdt.gz")
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    got, report = read([path])
    assert got
    assert any("truncated" in i.message for i in report.issues)


def test_empty_file_is_reported_and_skipped(tmp_path: Path) -> None:
    empty = tmp_path / "btcusdt_empty.txt"
    empty.write_bytes(b"")
    path, _ = synthetic_capture(tmp_path, "btcusdt.txt")
    got, report = read([empty, path])
    assert got
    assert report.issues[0].message == "empty file"
    with pytest.raises(ReplayError, match="empty"):
        read([empty])


def test_unknown_format_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    with pytest.raises(ReplayError, match=r"notes\.txt: unknown format"):
        read([path])


def test_stale_bbo_is_dropped_from_the_trading_stream() -> None:
    bbo = BestBidOffer(
        exch_ns=1, local_ns=1, update_id=50, bid_ticks=1, bid_lots=1, ask_ticks=2, ask_lots=1
    )
    events: list[MarketEvent] = [snapshot(100), bbo]
    assert list(drop_stale_bbo(events)) == [events[0]]


@pytest.mark.parametrize("content", [b"", b"\n\n", b"\x1f\x8b\x08\x00broken"])
def test_instrument_of_a_file_without_data_lines_says_so(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "btcusdt_20240808.gz"
    path.write_bytes(content)
    with pytest.raises(
        ReplayError, match=r"btcusdt_20240808\.gz: no data lines \(the file is empty"
    ):
        infer_instrument([path])


# ---- CSV formats ------------------------------------------------------------------------------


def test_binance_book_ticker_csv(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-bookTicker-2024-08-08.csv"
    path.write_text(
        "update_id,best_bid_price,best_bid_qty,best_ask_price,best_ask_qty,transaction_time,event_time\n"
        "5123107839020,61800.20,2.507,61800.30,2.510,1723161256313,1723161256314\n"
    )
    assert detect_format(path) is Format.BINANCE_BOOK_TICKER
    assert infer_instrument([path]).instrument.symbol == "BTCUSDT"
    got, _ = read([path])
    assert got == [
        BestBidOffer(
            exch_ns=1723161256313000000,
            local_ns=1723161256314000000,
            update_id=5123107839020,
            bid_ticks=618002,
            bid_lots=2507,
            ask_ticks=618003,
            ask_lots=2510,
        )
    ]


def test_binance_trades_csv_with_and_without_header(tmp_path: Path) -> None:
    futures = tmp_path / "um" / "BTCUSDT-trades-2024-08-08.csv"
    futures.parent.mkdir()
    futures.write_text(
        "id,price,qty,quote_qty,time,is_buyer_maker\n7,61800.30,0.006,370.8,1723161256322,false\n"
    )
    spot = tmp_path / "BTCUSDT-trades-2024-08-09.csv"
    spot.write_text("8,61800.20,0.012,741.6,1723161256323,true,true\n")
    got, _ = read([futures, spot])
    assert [(t.trade_id, t.aggressor, t.qty_lots) for t in got if isinstance(t, Trade)] == [
        (7, Side.BUY, 6),
        (8, Side.SELL, 12),
    ]


def test_binance_agg_trades_csv(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT-aggTrades-2024-08-08.csv"
    path.write_text(
        "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker\n"
        "3,61800.30,0.200,10,12,1723161256322,true\n"
    )
    got, _ = read([path])
    assert got == [
        Trade(
            exch_ns=1723161256322000000,
            local_ns=1723161256322000000,
            trade_id=3,
            price_ticks=618003,
            qty_lots=200,
            aggressor=Side.SELL,
        )
    ]


def test_tardis_book_and_trades(tmp_path: Path) -> None:
    head = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n"
    rows = [
        "binance-futures,BTCUSDT,1723161256001000,1723161256001500,true,bid,61800.2,1.0",
        "binance-futures,BTCUSDT,1723161256001000,1723161256001500,true,ask,61800.3,2.0",
        "binance-futures,BTCUSDT,1723161256002000,1723161256002500,false,bid,61800.2,0",
        "binance-futures,BTCUSDT,1723161256002000,1723161256002500,false,bid,61800.1,0.5",
        "binance-futures,BTCUSDT,1723161256003000,1723161256003500,false,garbage,x,y",
    ]
    book = tmp_path / "binance-futures_incremental_book_L2_2024-08-08_BTCUSDT.csv.gz"
    book.write_bytes(gzip.compress((head + "\n".join(rows) + "\n").encode()))
    trades = tmp_path / "binance-futures_trades_2024-08-08_BTCUSDT.csv"
    trades.write_text(
        "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
        "binance-futures,BTCUSDT,1723161256001800,1723161256001900,42,sell,61800.2,0.5\n"
    )
    inst = infer_instrument([book, trades]).instrument
    got, report = read([book, trades], inst)
    kinds = [type(e).__name__ for e in got]
    assert kinds == ["BookSnapshot", "BestBidOffer", "Trade", "BookDelta", "BestBidOffer"]
    assert got[-1] == BestBidOffer(
        exch_ns=1723161256002000000,
        local_ns=1723161256002500000,
        update_id=2,
        bid_ticks=618001,
        bid_lots=500,
        ask_ticks=618003,
        ask_lots=2000,
    )
    assert report.issue_count == 1
    assert report.issues[0].line == 6


# ---- the shared recordings ------------------------------------------------------------------


@needs_data
def test_shared_usdm_book_agrees_with_every_comparable_book_ticker() -> None:
    r = check_files([USDM], infer_instrument([USDM]).instrument)
    assert r["gaps"] == 0
    assert r["crossed"] == 0
    assert r["issues"] == 0
    assert r["messages"] == {"bookTicker": 66089, "depth": 6551, "snapshot": 1, "trade": 21313}
    assert r["bbo_agreement"]["comparable"] > 500
    assert r["bbo_agreement"]["agree_fraction"] == 1.0


@needs_data
def test_shared_spot_files_chain_across_the_day_boundary() -> None:
    paths = sorted((DATA / "binance-spot").glob("ethusdt_*.gz"))
    inst = infer_instrument(paths).instrument
    assert (inst.symbol, str(inst.kind)) == ("ETHUSDT", "spot")
    r = check_files(paths, inst)
    assert r["gaps"] == 0
    assert r["issues"] == 0
    assert r["bbo_agreement"]["agree_fraction"] == 1.0


def test_check_compares_nothing_to_the_unknown_book_between_a_gap_and_the_resync(
    tmp_path: Path,
) -> None:
    events = [e for e in synthetic(20) if not isinstance(e, BookSnapshot) or e.update_id]
    deltas = [i for i, e in enumerate(events) if isinstance(e, BookDelta)]
    lost, resync_at = deltas[len(deltas) // 3], deltas[len(deltas) // 2]
    book = OrderBook()
    for e in events[:resync_at]:
        if isinstance(e, BookSnapshot):
            book.apply_snapshot(e.bids, e.asks)
        elif isinstance(e, BookDelta):
            book.apply_delta(e)
    prior = events[resync_at - 1]
    last_id = max(e.last_id for e in events[:resync_at] if isinstance(e, BookDelta))
    fresh = BookSnapshot(
        exch_ns=prior.exch_ns,
        local_ns=prior.local_ns,
        update_id=last_id,
        bids=tuple(book.levels(Side.BUY, 10_000)),
        asks=tuple(book.levels(Side.SELL, 10_000)),
    )
    order = [*events[:lost], *events[lost + 1 : resync_at], fresh, *events[resync_at:]]
    path = write_lines(tmp_path / "gap_btcusdt.txt", capture_lines(order, INST))
    r = check_files([path], INST)
    assert r["gaps"] == 1
    assert r["snapshots"] == 2
    tickers_while_unknown = sum(isinstance(e, BestBidOffer) for e in events[lost + 1 : resync_at])
    assert tickers_while_unknown > 5
    a = r["bbo_agreement"]
    assert a["agree_fraction"] == 1.0
    assert a["comparable"] <= a["book_tickers"] - tickers_while_unknown
