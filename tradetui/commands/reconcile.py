"""``tradetui reconcile SESSION``: a stored paper or live session against a backtest of the
market it recorded, with its own settings and seed (docs/reconcile.md)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from tradetui.commands.common import (
    DbOpt,
    SessionArg,
    StoredConfigOpt,
    StoredNameOpt,
    fail,
)


def reconcile(
    session: SessionArg,
    db: DbOpt = None,
    name: StoredNameOpt = None,
    config: StoredConfigOpt = None,
    time_ms: Annotated[
        float,
        typer.Option(min=0.0, help="Fills this close in exchange time (ms) can match."),
    ] = 50.0,
    price_ticks: Annotated[
        int, typer.Option(min=0, help="Fills this close in price (ticks) can match.")
    ] = 0,
    orders: Annotated[
        bool,
        typer.Option(
            "--orders",
            help="Replay the session's own orders at their times instead of re-running the "
            "strategy (the fill model alone).",
        ),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Backtest the market SESSION recorded with its settings; compare the fills one by one."""
    from tradetui.backtest.reconcile import (
        FillPoint,
        ReconcileError,
        Tolerance,
        compare_fills,
        format_reconcile,
        order_figures,
        order_script,
        reconcile_report,
        replay_orders,
        session_plan,
    )
    from tradetui.backtest.run import run_backtest
    from tradetui.cli import _querying
    from tradetui.config import ConfigError
    from tradetui.core.money import dumps
    from tradetui.core.types import PlaceOrder
    from tradetui.market.cache import load_events
    from tradetui.market.files import ReplayError, no_market_data
    from tradetui.market.replay import has_market_data
    from tradetui.session import feed_latency, sim_models
    from tradetui.store.queries import resolve_session, session_report

    with _querying(config, db, name) as conn:
        sid = resolve_session(conn, session)
        try:
            plan = session_plan(conn, sid)
        except ReconcileError as exc:
            fail(str(exc))
        stored: dict[str, Any] = session_report(conn, sid)
        stored["orders_placed"] = conn.execute(
            "SELECT count(*) FROM orders WHERE session_id = ?", (sid,)
        ).fetchone()[0]
        script = order_script(conn, sid) if orders else []
    files = list(plan.recording)
    try:
        events, data, _cached = load_events(files, plan.instrument)
        if not has_market_data(events):
            raise no_market_data(files, data)
    except ReplayError as exc:
        fail(str(exc))
    if orders:
        fills = replay_orders(plan, events, script)
        figures = order_figures(plan.instrument, fills, stored["mark"] / plan.instrument.tick)
        figures["orders_placed"] = len([1 for _, i in script if isinstance(i, PlaceOrder)])
        models = sim_models(plan.settings, feed_latency(plan.settings).describe(), plan.seed)
    else:
        try:
            result = run_backtest(
                plan.settings,
                plan.instrument,
                events,
                seed=plan.seed,
                feed_offset_ns=plan.feed_offset_ns,
                start_ns=plan.market_started_ns,
                stop_ns=plan.trading_ended_ns,
                received=plan.received,
            )
        except ConfigError as exc:
            fail(f"session {sid}: {exc}")
        figures = result.summary  # the session summary the lifecycle made at the run's end
        fills = [fr.fill for fr in result.fills]
        models = result.models
    backtest = [
        FillPoint(f.exch_ns, f.side, f.price_ticks, f.qty_lots)
        for f in sorted(fills, key=lambda f: f.exch_ns)
    ]
    tol = Tolerance(round(time_ms * 1_000_000), price_ticks)
    r = reconcile_report(plan, compare_fills(plan.fills, backtest, tol), tol, stored, figures)
    r["replayed"] = "the session's orders" if orders else "the strategy"
    r["backtest_models"] = models
    if json_out:
        typer.echo(dumps(r))
    else:
        typer.echo(format_reconcile(r))


def register(app: typer.Typer) -> None:
    """Add ``reconcile`` to ``app``."""
    app.command()(reconcile)
