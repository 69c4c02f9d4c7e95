"""End to end on the virtual clock: synthetic market → sim venue → engine, seeded."""

from __future__ import annotations

from typing import Any

from tradetui.config import Settings
from tradetui.core.clock import VirtualClock
from tradetui.engine.engine import Command, CommandKind
from tradetui.engine.events import EngineState
from tradetui.engine.runner import run_virtual, settle
from tradetui.engine.summary import session_summary
from tradetui.session import build_paper_session

S = 1_000_000_000


def _run(seed: int, seconds: int, settings: Settings | None = None, flatten: bool = False) -> Any:
    session = build_paper_session(settings or Settings(), seed=seed, virtual=True)
    clock = session.clock
    assert isinstance(clock, VirtualClock)
    engine = session.engine
    engine.control(Command(CommandKind.START))
    run_virtual(engine, session.venue, clock, session.start_ns + seconds * S)
    engine.control(Command(CommandKind.FLATTEN if flatten else CommandKind.STOP))
    settle(engine, session.venue, clock, 60 * S)
    return session, session_summary(engine, seconds)


def test_seeded_run_trades_and_is_deterministic() -> None:
    _, a = _run(seed=3, seconds=120)
    _, b = _run(seed=3, seconds=120)
    for key in ("fills", "volume_quote", "pnl_total", "position_base", "orders_placed"):
        assert a[key] == b[key], key
    assert a["fills"] > 0
    assert a["volume_quote"] > 0
    assert a["state"] == "stopped"
    assert a["open_orders"] == 0


def test_different_seeds_give_different_markets() -> None:
    _, a = _run(seed=3, seconds=60)
    _, b = _run(seed=4, seconds=60)
    assert (a["pnl_total"], a["orders_placed"]) != (b["pnl_total"], b["orders_placed"])


def test_venue_and_engine_agree_on_position() -> None:
    session, _s = _run(seed=5, seconds=180)
    assert session.venue.position_lots == session.engine.ledger.position_lots
    assert session.venue.open_order_count == 0


def test_position_never_exceeds_limit_by_more_than_one_order() -> None:
    settings = Settings().replace("risk", max_position_base=0.02)
    _session, s = _run(seed=6, seconds=600, settings=settings)
    assert s["fills"] > 0
    assert s["max_abs_position_base"] <= 0.02 + 0.01 + 1e-12


def test_flatten_at_end_leaves_the_position_flat() -> None:
    session, _s = _run(seed=7, seconds=300, flatten=True)
    assert session.engine.state is EngineState.STOPPED
    assert session.engine.ledger.position_lots == 0
    assert session.venue.position_lots == 0


def test_pnl_split_adds_up() -> None:
    _, s = _run(seed=8, seconds=300)
    gross = s["pnl_realized"] + s["pnl_unrealized"]
    assert abs(s["spread_capture"] + s["inventory_pnl"] - gross) < 1e-9
    assert abs(gross - s["fees"] + s["rebates"] - s["pnl_total"]) < 1e-9
