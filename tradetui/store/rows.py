"""Row kinds the writer knows, each one idempotent SQL statement.

A row is ``(kind, params)``: plain ints, strings and floats, so it can go to SQLite or, when
SQLite fails, to the JSON-lines journal and back without loss. Re-applying a row is harmless
(unique keys plus INSERT OR IGNORE), which makes journal replay safe after a crash.
"""

from __future__ import annotations

from enum import IntEnum

Param = int | str | float | None
Row = tuple[int, tuple[Param, ...]]


class Kind(IntEnum):
    """Row kinds, numbered in the order a batch may write them (an order before its status)."""

    FILL = 0
    ORDER_NEW = 1
    ORDER_STATUS = 2
    ORDER_EVENT = 3
    MARK = 4
    SNAPSHOT = 5
    EVENT = 6
    SESSION_END = 7
    # A fill made while no session ran (its order and the session end are unrelated rows).
    RECOVERED_FILL = 8
    # An order request's times (live sessions; a later row for it replaces the earlier).
    ORDER_REQUEST = 9


SQL: dict[int, str] = {
    Kind.FILL: (
        "INSERT OR IGNORE INTO fills (session_id, seq, venue, trade_id, client_id, side, "
        "price_ticks, qty_lots, leaves_lots, fee_quote, fee_asset, is_maker, exch_ns, local_ns, "
        "mid_half_ticks, position_lots, charged_asset, charged_fee, charged_rate, wall_ns) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    ),
    Kind.ORDER_NEW: (
        "INSERT OR IGNORE INTO orders (session_id, client_id, side, price_ticks, qty_lots, "
        "order_type, post_only, reduce_only, created_ns, status, updated_ns) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?)"
    ),
    Kind.ORDER_STATUS: (
        "UPDATE orders SET status = ?, updated_ns = ? WHERE session_id = ? AND client_id = ?"
    ),
    Kind.ORDER_EVENT: (
        "INSERT OR IGNORE INTO order_events (session_id, seq, ts_ns, client_id, status, reason) "
        "VALUES (?,?,?,?,?,?)"
    ),
    Kind.MARK: (
        "INSERT OR IGNORE INTO marks (session_id, seq, ts_ns, mid_half_ticks) VALUES (?,?,?,?)"
    ),
    Kind.SNAPSHOT: (
        "INSERT OR IGNORE INTO snapshots (session_id, seq, ts_ns, position_lots, mid_half_ticks, "
        "realized_quote, unrealized_quote, fees_quote, rebates_quote, total_quote) "
        "VALUES (?,?,?,?,?,?,?,?,?,?)"
    ),
    Kind.EVENT: (
        "INSERT OR IGNORE INTO events (session_id, seq, ts_ns, kind, state, detail) "
        "VALUES (?,?,?,?,?,?)"
    ),
    Kind.RECOVERED_FILL: (
        "INSERT OR IGNORE INTO fills (session_id, seq, venue, trade_id, client_id, side, "
        "price_ticks, qty_lots, leaves_lots, fee_quote, fee_asset, is_maker, exch_ns, local_ns, "
        "mid_half_ticks, position_lots, charged_asset, charged_fee, charged_rate, wall_ns, "
        "recovered) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,1)"
    ),
    Kind.ORDER_REQUEST: (
        "INSERT OR REPLACE INTO order_requests (session_id, client_id, kind, sent_ns, "
        "answered_ns, exchange_ns, offset_ns, outcome, stream_ns, stream_exchange_ns) "
        "VALUES (?,?,?,?,?,?,?,?,?,?)"
    ),
    Kind.SESSION_END: (
        "UPDATE sessions SET ended_ns = ?, end_state = ?, summary_json = ?, market_ended_ns = ? "
        "WHERE id = ?"
    ),
}
