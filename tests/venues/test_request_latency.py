"""Order request timings of a live venue (venues/latency.py): the stream update matched to
its request whichever comes first, the clock offset removed, and bad sources refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradetui.config import ConfigError, Settings
from tradetui.session import sim_latency
from tradetui.venues.latency import (
    CANCEL,
    PLACE,
    LatencySourceError,
    RequestClock,
    RequestTiming,
    ack_ns,
    entry_ns,
    load_measured,
    round_trip_ns,
    stream_ns,
)

MS = 1_000_000
OFFSET = 700 * MS  # the exchange clock ahead of ours


def test_entry_ack_and_stream_legs_remove_the_clock_offset() -> None:
    # Sent at 1,000 ms on our clock (1,700 on the exchange's), handled at exchange 1,750 ms,
    # answered at our 1,060 ms (exchange 1,760); the stream update stamped 1,751 came at 1,058.
    t = RequestTiming(
        client_id="a", kind=PLACE, sent_ns=1_000 * MS, answered_ns=1_060 * MS,
        exchange_ns=1_750 * MS, offset_ns=OFFSET, outcome="ok", stream_ns=1_058 * MS,
        stream_exchange_ns=1_751 * MS,
    )  # fmt: skip
    assert entry_ns(t) == 50 * MS
    assert ack_ns(t) == 10 * MS
    assert stream_ns(t) == 7 * MS
    assert round_trip_ns(t) == 60 * MS


def test_the_stream_update_joins_its_request_before_or_after_the_answer() -> None:
    got: list[RequestTiming] = []
    clock = RequestClock(got.append, lambda: OFFSET)
    # The stream's NEW before the REST answer: one row, with both.
    sent = clock.sent("a", PLACE)
    clock.streamed("a", PLACE, 5_000)
    clock.answered("a", PLACE, sent, {"timestamp": 4_999})
    assert len(got) == 1
    assert got[0].exchange_ns == 4_999 * MS
    assert got[0].stream_exchange_ns == 5_000 * MS
    assert got[0].offset_ns == OFFSET
    # The stream's CANCELED after the answer: the row again, completed (it replaces the first).
    sent = clock.sent("a", CANCEL)
    clock.answered("a", CANCEL, sent, {"timestamp": 1, "lastUpdateTimestamp": 6_000})
    assert got[-1].exchange_ns == 6_000 * MS
    assert got[-1].stream_ns is None
    clock.streamed("a", CANCEL, 6_001)
    assert len(got) == 3
    assert got[-1].stream_exchange_ns == 6_001 * MS
    assert got[-1].sent_ns == got[-2].sent_ns
    # Updates of requests not ours (or already completed) are ignored.
    clock.streamed("b", PLACE, 7_000)
    clock.streamed("a", CANCEL, 7_000)
    assert len(got) == 3
    # No answer: no answer time, no exchange time.
    sent = clock.sent("c", PLACE)
    clock.answered("c", PLACE, sent, None, "no answer")
    unanswered = got[-1]
    assert unanswered.answered_ns is None
    assert unanswered.exchange_ns is None
    assert entry_ns(unanswered) is None
    assert ack_ns(unanswered) is None


def test_a_bad_latency_source_is_one_line_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(LatencySourceError, match="no database file"):
        load_measured(str(tmp_path / "none.db"))
    measured = Settings().replace("sim", order_latency="measured")
    with pytest.raises(ConfigError, match=r"needs sim\.order_latency_from"):
        sim_latency(measured)
    bad = measured.replace("sim", order_latency_from=str(tmp_path / "none.db#x"))
    with pytest.raises(ConfigError, match=r"^sim.order_latency_from: .*none.db#x: no database"):
        sim_latency(bad)
