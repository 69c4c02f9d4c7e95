"""Order request latency measured on live sessions, and the sim's ``measured`` model.

A live venue times each order request it sends (a placement or a cancel): the wall-clock time
it left (``sent_ns``), when the exchange's REST answer arrived (``answered_ns``), the
exchange's own time of handling it (``exchange_ns``: the order's ``updateTime`` in Binance's
answer, ms), the estimated offset of the exchange clock from ours then (``offset_ns``, from
ccxt's ``timeDifference``, measured at connect and on every resync) and, when the user stream
sent the order's update (``ORDER_TRADE_UPDATE`` with execution type NEW for a placement,
CANCELED for a cancel), when it arrived and the exchange's transaction time ``T`` in it.
Live sessions store these per request (table ``order_requests``). From them:

- entry (or cancel) latency = exchange time − (send time + offset): the request's way in;
- ack latency = answer time + offset − exchange time: the answer's way back;
- stream latency = stream arrival + offset − the update's transaction time.

Binance stamps in milliseconds and the offset is measured to within half a round trip, so
a one-way figure is good to a millisecond or two; the round trip (answer − send) needs no
offset. ``MeasuredLatency`` holds a session's entry, cancel and ack samples; the simulated
venue draws each request's latency from them (``sim.order_latency = "measured"``).
"""

from __future__ import annotations

import math
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

PLACE = "place"
CANCEL = "cancel"
_NS_PER_MS = 1_000_000
# Answered requests kept waiting for their user-stream update (a bound, not a timeout).
_AWAITING = 1_000


@dataclass(frozen=True, slots=True)
class RequestTiming:
    """One order request's times (ns, wall clock unless named exchange)."""

    client_id: str
    kind: str  # PLACE or CANCEL
    sent_ns: int
    answered_ns: int | None  # None: no answer (the connection failed or timed out)
    exchange_ns: int | None  # the exchange's time of handling it, from its answer
    offset_ns: int  # exchange clock − our clock, estimated
    outcome: str  # "ok", "refused" (answered with an error) or "no answer"
    stream_ns: int | None = None  # the order's user-stream update arrived
    stream_exchange_ns: int | None = None  # that update's transaction time


class RequestClock:
    """Times a live venue's order requests and hands each timing to ``sink`` once answered,
    and again (replacing it) when the user-stream update comes later than the answer.

    ``offset_ns`` reads the current exchange − local clock offset estimate.
    """

    def __init__(self, sink: Callable[[RequestTiming], None], offset_ns: Callable[[], int]):
        self._sink = sink
        self._offset_ns = offset_ns
        self._in_flight: dict[tuple[str, str], tuple[int, int] | None] = {}
        self._answered: OrderedDict[tuple[str, str], RequestTiming] = OrderedDict()

    def sent(self, client_id: str, kind: str) -> int:
        """The request leaves now; returns its send time."""
        self._in_flight[(client_id, kind)] = None
        return time.time_ns()

    def answered(
        self, client_id: str, kind: str, sent_ns: int, answer: Any, outcome: str = "ok"
    ) -> None:
        """Its answer (an order dict, or None when there was none or it was an error)."""
        now = time.time_ns()
        streamed = self._in_flight.pop((client_id, kind), None)
        stamp = None
        if isinstance(answer, dict):
            stamp = answer.get("lastUpdateTimestamp") or answer.get("timestamp")
        t = RequestTiming(
            client_id=client_id,
            kind=kind,
            sent_ns=sent_ns,
            answered_ns=None if outcome == "no answer" else now,
            exchange_ns=int(stamp) * _NS_PER_MS if stamp else None,
            offset_ns=self._offset_ns(),
            outcome=outcome,
            stream_ns=streamed[0] if streamed else None,
            stream_exchange_ns=streamed[1] if streamed else None,
        )
        self._sink(t)
        if streamed is None and outcome == "ok":
            self._answered[(client_id, kind)] = t
            if len(self._answered) > _AWAITING:
                self._answered.popitem(last=False)

    def streamed(self, client_id: str, kind: str, exchange_ms: int) -> None:
        """The user stream brought the request's update (``exchange_ms``: its ``T``)."""
        now, key = time.time_ns(), (client_id, kind)
        if key in self._in_flight:
            if self._in_flight[key] is None:
                self._in_flight[key] = (now, exchange_ms * _NS_PER_MS)
            return
        t = self._answered.pop(key, None)
        if t is not None:
            self._sink(replace(t, stream_ns=now, stream_exchange_ns=exchange_ms * _NS_PER_MS))


def entry_ns(t: RequestTiming) -> int | None:
    """The request's way in (exchange time − send time, offset removed)."""
    if t.exchange_ns is None:
        return None
    return t.exchange_ns - (t.sent_ns + t.offset_ns)


def ack_ns(t: RequestTiming) -> int | None:
    """The answer's way back (answer time, offset applied, − exchange time)."""
    if t.exchange_ns is None or t.answered_ns is None:
        return None
    return t.answered_ns + t.offset_ns - t.exchange_ns


def stream_ns(t: RequestTiming) -> int | None:
    """The user-stream update's way back."""
    if t.stream_ns is None or t.stream_exchange_ns is None:
        return None
    return t.stream_ns + t.offset_ns - t.stream_exchange_ns


def round_trip_ns(t: RequestTiming) -> int | None:
    """Send to answer (no clock offset involved)."""
    return None if t.answered_ns is None else t.answered_ns - t.sent_ns


class LatencySourceError(ValueError):
    """Order timings that cannot be read (one line naming the source and the fix)."""


@dataclass(frozen=True, slots=True)
class MeasuredLatency:
    """Entry, cancel and ack latency samples (ns, each ≥ 0) and where they come from."""

    source: str
    entry_ns: tuple[int, ...]
    cancel_ns: tuple[int, ...]
    ack_ns: tuple[int, ...]

    @classmethod
    def of(cls, source: str, timings: Sequence[RequestTiming]) -> MeasuredLatency:
        """The samples of answered requests the exchange stamped; a one-way figure below 0
        (clock offset error larger than the latency) counts as 0."""
        ok = [t for t in timings if t.outcome == "ok" and t.exchange_ns is not None]

        def pick(kind: str | None, leg: Callable[[RequestTiming], int | None]) -> tuple[int, ...]:
            values = (leg(t) for t in ok if kind is None or t.kind == kind)
            return tuple(max(v, 0) for v in values if v is not None)

        return cls(source, pick(PLACE, entry_ns), pick(CANCEL, entry_ns), pick(None, ack_ns))

    def describe(self) -> str:
        def p50(xs: tuple[int, ...]) -> str:
            return f"{percentile(xs, 50) / 1e6:.3g} ms" if xs else "-"

        return (
            f"measured ({self.source}: {len(self.entry_ns)} places, {len(self.cancel_ns)} "
            f"cancels; p50 entry {p50(self.entry_ns)}, cancel {p50(self.cancel_ns)}, ack "
            f"{p50(self.ack_ns)})"
        )


def percentile(values: Sequence[int] | Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation (numpy's default)."""
    xs = sorted(values)
    if not xs:
        return math.nan
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


_COLUMNS = (
    "client_id, kind, sent_ns, answered_ns, exchange_ns, offset_ns, outcome, stream_ns, "
    "stream_exchange_ns"
)


def session_timings(conn: sqlite3.Connection, session_id: int) -> list[RequestTiming]:
    """The order request timings stored for a session, in send order."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM order_requests WHERE session_id = ? ORDER BY sent_ns",
        (session_id,),
    ).fetchall()
    return [RequestTiming(*row) for row in rows]


@lru_cache(maxsize=8)
def load_measured(spec: str) -> MeasuredLatency:
    """``FILE.db#SESSION`` (or ``FILE.db``: its newest session with timed orders) as samples
    (read once per process: a sweep's runs share them); raises LatencySourceError."""
    from tradetui.store.schema import StoreError, open_readonly

    fix = "give a live session's database as FILE.db#SESSION (`tradetui sessions` lists them)"
    path_text, _, session_text = spec.rpartition("#") if "#" in spec else (spec, "", "")
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise LatencySourceError(f"{spec}: no database file {path}; {fix}")
    try:
        conn = open_readonly(path)
    except StoreError as exc:
        raise LatencySourceError(f"{spec}: {exc}") from None
    try:
        if session_text:
            if not session_text.isdigit():
                raise LatencySourceError(f"{spec}: session {session_text!r} is not a number; {fix}")
            sid = int(session_text)
        else:
            row = conn.execute("SELECT max(session_id) FROM order_requests").fetchone()
            if row[0] is None:
                raise LatencySourceError(f"{spec}: no session with timed orders; {fix}")
            sid = int(row[0])
        measured = MeasuredLatency.of(f"{path.name}#{sid}", session_timings(conn, sid))
    finally:
        conn.close()
    if not measured.entry_ns or not measured.ack_ns:
        raise LatencySourceError(
            f"{spec}: session {sid} has no placement the exchange answered with its time; {fix}"
        )
    return measured
