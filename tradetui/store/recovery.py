"""Where a live start looks for fills made while tradetui was down (docs/shutdown.md).

The store knows the last fill it holds of a venue and symbol: its exchange time and the
position after it. Our trades since then (less a margin, since fills reach the store in the
order the engine saw them, not strictly in exchange time) are asked of the exchange at start;
those not stored yet are stored once, flagged ``recovered``, with the session that found them.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path

# Trades this long before the last stored fill are asked for again (each is stored once).
MARGIN_MS = 60_000
_NS_PER_MS = 1_000_000


@dataclass(frozen=True, slots=True)
class RecoveryAnchor:
    """From when (exchange time, ms) to ask for our trades, the trade ids stored since then,
    and the store's position after its last fill there (lots; 0 with no fill stored)."""

    since_ms: int
    known: frozenset[str]
    position_lots: int


def recovery_anchor(path: Path, venue: str, symbol: str, session_id: int) -> RecoveryAnchor | None:
    """The anchor of a start of ``session_id`` on ``venue``/``symbol``: the last stored fill,
    else the start of the latest earlier session there; None when none traded there before."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        last = conn.execute(
            "SELECT f.exch_ns, f.position_lots FROM fills f JOIN sessions s ON s.id = f.session_id "
            "WHERE f.venue = ? AND s.symbol = ? ORDER BY f.exch_ns DESC LIMIT 1",
            (venue, symbol),
        ).fetchone()
        if last is not None:
            anchor_ns, position = int(last[0]), int(last[1])
        else:
            started = conn.execute(
                # The session clock's start: a live session's is the exchange's time.
                "SELECT max(coalesce(market_started_ns, started_ns)) FROM sessions "
                "WHERE venue = ? AND symbol = ? AND id != ?",
                (venue, symbol, session_id),
            ).fetchone()[0]
            if started is None:
                return None
            anchor_ns, position = int(started), 0
        since_ms = anchor_ns // _NS_PER_MS - MARGIN_MS
        known = frozenset(
            str(t)
            for (t,) in conn.execute(
                "SELECT trade_id FROM fills WHERE venue = ? AND exch_ns >= ?",
                (venue, since_ms * _NS_PER_MS),
            )
        )
    return RecoveryAnchor(since_ms, known, position)
