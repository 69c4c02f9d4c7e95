"""Captures written by other collectors: the same Binance messages with spaces in the JSON,
keys in another order, or raw ``/ws/<stream>`` payloads without the combined-stream wrapper.
They must replay to exactly the events of the capture as Binance sent it, venue and symbol
found the same way."""

from __future__ import annotations

import gzip
import itertools
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.coinm import shared_data
from tradetui.market import decode
from tradetui.market.files import ReplayReport
from tradetui.market.instruments import infer_instrument
from tradetui.market.replay import replay_events

DATA = shared_data()
FILES = {
    "usdm": DATA / "binance-usdm" / "btcusdt_20240808.gz",
    "coinm": DATA / "binance-coinm" / "ethusd_perp_20240808.gz",
    "spot": DATA / "binance-spot" / "ethusdt_20240808.gz",
}
LINES = 4_000  # the COIN-M file's snapshot is on line 27, spot bookTickers carry no time

Rewrite = Callable[[dict[str, object]], dict[str, object]]


def _spaced(obj: dict[str, object]) -> dict[str, object]:
    return obj  # json.dumps' default separators put the spaces in


def _data_first(obj: dict[str, object]) -> dict[str, object]:
    return {"data": obj["data"], "stream": obj["stream"]} if "stream" in obj else obj


def _raw(obj: dict[str, object]) -> dict[str, object]:
    data = obj.get("data")
    return data if isinstance(data, dict) else obj


def _write(src: Path, out: Path, rewrite: Rewrite | None) -> Path:
    with gzip.open(src, "rt") as f, gzip.open(out, "wt") as g:
        for line in itertools.islice(f, LINES):
            stamp, _, body = line.rstrip("\n").partition(" ")
            if rewrite is not None:
                body = json.dumps(rewrite(json.loads(body)))  # spaces after ':' and ','
            g.write(f"{stamp} {body}\n")
    return out


@pytest.mark.skipif(not DATA.is_dir(), reason=f"shared recordings not found at {DATA}")
@pytest.mark.parametrize("venue", sorted(FILES))
@pytest.mark.parametrize(
    "rewrite", [_spaced, _data_first, _raw], ids=["spaced", "data-first", "raw"]
)
def test_another_collectors_capture_replays_as_binances_own(
    tmp_path: Path, simulated_catalogs: Path, venue: str, rewrite: Rewrite
) -> None:
    ours = _write(FILES[venue], tmp_path / "binance.gz", None)
    theirs = _write(FILES[venue], tmp_path / "other.gz", rewrite)
    want = infer_instrument([ours]).instrument
    got = infer_instrument([theirs]).instrument
    assert (got.symbol, got.venue) == (want.symbol, want.venue)
    report_ours, report_theirs = ReplayReport(), ReplayReport()
    expected = list(replay_events([ours], want, report_ours))
    assert len(expected) > 1_000
    assert list(replay_events([theirs], got, report_theirs)) == expected
    assert report_theirs.messages == report_ours.messages
    assert report_theirs.issue_count == report_ours.issue_count == 0


@pytest.mark.parametrize(
    ("body", "stream"),
    [
        (b'{"e": "depthUpdate", "s": "BTCUSDT", "U": 1}', "btcusdt@depth"),
        (b'{"e":"aggTrade","s":"ETHUSD_PERP","a":5}', "ethusd_perp@aggTrade"),
        (b'{"u":4,"s":"ETHUSDT","b":"1","B":"2","a":"3","A":"4"}', "ethusdt@bookTicker"),
        (b'{"e":"markPriceUpdate","s":"BTCUSDT","p":"1"}', "btcusdt@markPriceUpdate"),
    ],
)
def test_a_raw_payload_gets_the_stream_name_binance_would_give_it(body: bytes, stream: str) -> None:
    again = decode.canonical(body)
    assert again is not None
    assert decode.stream_name(again) == stream
    assert json.loads(again)["data"] == json.loads(body)


@pytest.mark.parametrize(
    "body", [b"not json", b"[1, 2]", b'{"result": null, "id": 1}', b'{"s": "BTCUSDT"}']
)
def test_what_is_no_market_message_stays_unreadable(body: bytes) -> None:
    assert decode.canonical(body) is None


def test_a_snapshot_keeps_its_update_id_first() -> None:
    again = decode.canonical(b'{"E": 5, "lastUpdateId": 7, "bids": [], "asks": []}')
    assert again == b'{"lastUpdateId":7,"E":5,"bids":[],"asks":[]}'
