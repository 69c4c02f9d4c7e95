"""``tradetui latency SESSION``: the order latencies a live session recorded (entry, cancel,
ack, user stream, round trip) as percentiles: what ``sim.order_latency = "measured"`` draws
from (venues/latency.py)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import typer

from tradetui.commands.common import (
    DbOpt,
    SessionArg,
    StoredConfigOpt,
    StoredNameOpt,
    fail,
)

QUANTILES = (50, 90, 99)


def latency(
    session: SessionArg,
    db: DbOpt = None,
    name: StoredNameOpt = None,
    config: StoredConfigOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Order entry, cancel and response latency of a live SESSION, as p50/p90/p99."""
    from tradetui.cli import _querying
    from tradetui.store.queries import resolve_session
    from tradetui.venues.latency import session_timings

    with _querying(config, db, name) as conn:
        sid = resolve_session(conn, session)
        timings = session_timings(conn, sid)
    if not timings:
        fail(
            f"session {sid}: no order request timings stored (they are recorded by live "
            "sessions); pick a live session from `tradetui sessions`"
        )
    result = latency_report(sid, timings)
    if json_out:
        typer.echo(json.dumps(result))
        return
    typer.echo(_text(result))


def latency_report(session_id: int, timings: list[Any]) -> dict[str, Any]:
    """Counts and percentiles (ms) of each leg; the ``measured`` model's source name."""
    from tradetui.venues.latency import (
        CANCEL,
        PLACE,
        ack_ns,
        entry_ns,
        percentile,
        round_trip_ns,
        stream_ns,
    )

    def leg(kind: str | None, of: Callable[[Any], int | None]) -> dict[str, Any]:
        values = [v for t in timings if kind is None or t.kind == kind if (v := of(t)) is not None]
        out: dict[str, Any] = {"n": len(values)}
        for q in QUANTILES:
            out[f"p{q}_ms"] = round(percentile(values, q) / 1e6, 3) if values else None
        return out

    outcomes: dict[str, int] = {}
    for t in timings:
        outcomes[t.outcome] = outcomes.get(t.outcome, 0) + 1
    return {
        "session": session_id,
        "requests": {
            "place": sum(t.kind == PLACE for t in timings),
            "cancel": sum(t.kind == CANCEL for t in timings),
        },
        "outcomes": outcomes,
        "clock_offset_ms": leg(None, lambda t: t.offset_ns),
        "entry": leg(PLACE, entry_ns),
        "cancel": leg(CANCEL, entry_ns),
        "ack": leg(None, ack_ns),
        "stream": leg(None, stream_ns),
        "round_trip_place": leg(PLACE, round_trip_ns),
        "round_trip_cancel": leg(CANCEL, round_trip_ns),
    }


_LEGS = (
    ("entry", "placement: send → exchange"),
    ("cancel", "cancel: send → exchange"),
    ("ack", "answer: exchange → us"),
    ("stream", "user stream: exchange → us"),
    ("round_trip_place", "placement round trip"),
    ("round_trip_cancel", "cancel round trip"),
    ("clock_offset_ms", "clock offset (exchange − ours)"),
)


def _text(r: dict[str, Any]) -> str:
    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v:,.3f}"

    req = r["requests"]
    lines = [
        f"session {r['session']}: {req['place']} placements, {req['cancel']} cancels ("
        + ", ".join(f"{n} {k}" for k, n in sorted(r["outcomes"].items()))
        + ")",
        f"{'ms':<32}{'n':>6}{'p50':>10}{'p90':>10}{'p99':>10}",
    ]
    for key, label in _LEGS:
        d = r[key]
        lines.append(
            f"{label:<32}{d['n']:>6}{ms(d['p50_ms']):>10}{ms(d['p90_ms']):>10}{ms(d['p99_ms']):>10}"
        )
    lines.append(
        f'backtest with it: [sim] order_latency = "measured", order_latency_from = '
        f'"FILE.db#{r["session"]}"'
    )
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add ``latency`` to ``app``."""
    app.command()(latency)
