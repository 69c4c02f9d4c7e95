"""Command line: ``tradetui ...``. Heavy modules are imported inside commands so --help is fast."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tradetui.commands.common import (
    EXIT_REFUSED,
    MAX_DURATION_S,
    SEED_RANGE,
    SESSION_RANGE,
    DbOpt,
    duration_s,
    fail,
    parse_speed,
    print_table,
    session_exit_code,
)
from tradetui.core.money import dumps

if TYPE_CHECKING:
    import sqlite3

    from tradetui.config import Settings
    from tradetui.host import StoreOptions

app = typer.Typer(
    name="tradetui",
    help="Terminal trading console for crypto market makers (paper trading out of the box).",
    no_args_is_help=False,
    add_completion=False,
    pretty_exceptions_enable=False,
)
verify_app = typer.Typer(help="Check the strategy code against published results.")
config_app = typer.Typer(help="Inspect and check configuration.")
app.add_typer(verify_app, name="verify")
app.add_typer(config_app, name="config")

log = logging.getLogger("tradetui")

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config (default: ./config.toml, then user dir)."),
]


NameOpt = Annotated[
    str | None,
    typer.Option(
        "--name",
        help="Instance name: sets the control socket and the default database (default: "
        "mode-venue-symbol, e.g. paper-usdm-btcusdt).",
    ),
]


def _load(config: Path | None) -> Settings:
    from tradetui.config import ConfigError, load_settings

    try:
        return load_settings(config)
    except ConfigError as exc:
        fail(str(exc))


NoMouseOpt = Annotated[
    bool, typer.Option("--no-mouse", help="Console: no mouse tracking (slow SSH links).")
]
VenueOpt = Annotated[
    str | None,
    typer.Option(
        "--venue",
        help="Paper market's exchange: usdm, coinm, spot or a ccxt id (into market.source, "
        "e.g. --market live --venue usdm).",
    ),
]
SymbolOpt = Annotated[
    str | None,
    typer.Option("--symbol", help="Paper market's symbol, e.g. ETHUSDT (into market.source)."),
]
StartOpt = Annotated[
    bool | None,
    typer.Option(
        "--start/--no-start",
        help="Console: start quoting at once, or wait for s (default: start when paper, "
        "wait when live).",
    ),
]


@app.callback(invoke_without_command=True)
def main_callback(
    ctx: typer.Context,
    config: ConfigOpt = None,
    db: DbOpt = None,
    no_mouse: NoMouseOpt = False,
    start: StartOpt = None,
    market: Annotated[
        str | None,
        typer.Option(
            "--market",
            help="Console market: synthetic[:[VENUE:]SYMBOL], replay:PATH[,PATH...] or "
            "live[:[VENUE:]SYMBOL] (the exchange's real market, paper orders).",
        ),
    ] = None,
    speed: Annotated[str, typer.Option(help="Console market speed: 1, N or max.")] = "1",
    loop: Annotated[
        bool | None, typer.Option("--loop/--no-loop", help="Replay: start over at the end.")
    ] = None,
    venue: VenueOpt = None,
    symbol: SymbolOpt = None,
    name: NameOpt = None,
) -> None:
    """Without a command: open the console (paper trading the simulated exchange unless the
    config says live)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(
            run,
            config=config,
            db=db,
            no_mouse=no_mouse,
            start=start,
            market=market,
            speed=speed,
            loop=loop,
            venue=venue,
            symbol=symbol,
            name=name,
        )
        return
    given = [
        name
        for name, value, default in (
            ("--config", config, None),
            ("--db", db, None),
            ("--no-mouse", no_mouse, False),
            ("--start/--no-start", start, None),
            ("--market", market, None),
            ("--speed", speed, "1"),
            ("--loop/--no-loop", loop, None),
            ("--venue", venue, None),
            ("--symbol", symbol, None),
            ("--name", name, None),
        )
        if value != default
    ]
    if given:
        fail(
            f"{given[0]} before {ctx.invoked_subcommand!r} is a console option; options of "
            f"a command go after it (see tradetui {ctx.invoked_subcommand} --help)"
        )


@app.command()
def run(
    headless: Annotated[
        bool, typer.Option("--headless", help="Run without the console (logs to stderr).")
    ] = False,
    config: ConfigOpt = None,
    duration: Annotated[
        float | None,
        typer.Option(help="Stop after this many seconds of market time (default: until Ctrl+C)."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Synthetic market seed (default: market.seed).", **SEED_RANGE)
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the summary as one JSON object.")
    ] = False,
    speed: Annotated[
        str, typer.Option(help="Market speed: 1 = real time, N = N× faster, max = unpaced.")
    ] = "1",
    flatten_on_exit: Annotated[
        bool, typer.Option("--flatten-on-exit", help="Flatten the position when stopping.")
    ] = False,
    db: DbOpt = None,
    no_mouse: NoMouseOpt = False,
    start: StartOpt = None,
    market: Annotated[
        str | None,
        typer.Option(
            "--market",
            help="synthetic[:[VENUE:]SYMBOL] (e.g. synthetic:coinm:BTCUSD_PERP), "
            "replay:PATH[,PATH...] to trade recorded files from now, or live[:[VENUE:]SYMBOL] "
            "for paper orders on the exchange's real book and trades (default: market.source).",
        ),
    ] = None,
    loop: Annotated[
        bool | None,
        typer.Option("--loop/--no-loop", help="Replay: start over when the files end."),
    ] = None,
    venue: VenueOpt = None,
    symbol: SymbolOpt = None,
    name: NameOpt = None,
) -> None:
    """Trade (console, or --headless) and summarize: paper on the built-in simulated exchange,
    or live when venue.exchange names a ccxt exchange."""
    if duration is not None and not 0 < duration <= MAX_DURATION_S:
        fail(f"--duration: must be > 0 and at most {MAX_DURATION_S} seconds (got {duration})")
    settings = _with_market(_load(config), market, loop, venue, symbol)
    pace = parse_speed(speed)
    live = settings.venue.exchange != "sim"
    if live and pace != 1.0:
        fail(f"--speed {speed}: a live session ({settings.venue.exchange}) runs in real time")
    if live and market is not None:
        fail("--market: a live session trades the exchange's own market; drop --market")
    from tradetui.session import on_live_market

    source = on_live_market(settings)  # live, or paper on the live market
    if source is not None and pace != 1.0:
        fail(
            f"--speed {speed}: the live market ({source}) comes in real time; "
            "drop --speed, or trade a recording with --market replay:PATH"
        )
    _check_telegram(settings)
    from tradetui.control import ControlError, check_socket_path, claimed, socket_path

    name = _instance_name(settings, name)
    control = socket_path(settings.engine.control_socket, name)
    # Checked and held (until the run is over) before the store opens: a refused start stores
    # nothing.
    try:
        check_socket_path(control)
        with claimed(control):
            _run_claimed(
                settings, headless, duration, seed, json_out, pace, flatten_on_exit,
                _store_options(settings, db, name), control, no_mouse,
                start if start is not None else not live,
            )  # fmt: skip
    except ControlError as exc:
        fail(str(exc), EXIT_REFUSED)


def _run_claimed(
    settings: Settings,
    headless: bool,
    duration: float | None,
    seed: int | None,
    json_out: bool,
    pace: float | None,
    flatten_on_exit: bool,
    store: StoreOptions,
    control: Path,
    no_mouse: bool,
    start: bool,
) -> None:
    """`tradetui run` once the instance is ours (its lock held): the session's lifecycle with
    the console or the headless face."""
    from tradetui.config import ConfigError
    from tradetui.control import ControlError
    from tradetui.engine.summary import format_book_summary, format_summary
    from tradetui.lifecycle import Face, HeadlessFace, Lifecycle, RunPlan
    from tradetui.session import on_live_market
    from tradetui.store.schema import StoreError

    refused: tuple[type[Exception], ...] = (ControlError,)
    if on_live_market(settings) is not None:  # an exchange can refuse it (ccxt is loaded)
        from tradetui.venues.errors import VenueError

        refused += (VenueError,)
    face: Face
    if headless:
        logging.basicConfig(
            level=logging.INFO,
            stream=sys.stderr,
            format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        )
        face = HeadlessFace(duration, flatten_on_exit=flatten_on_exit)
    else:
        from tradetui.tui.app import ConsoleFace

        face = ConsoleFace(no_mouse=no_mouse, autostart=start)
    lifecycle = Lifecycle(settings, RunPlan(seed=seed, speed=pace, store=store, control=control))
    try:
        summary = asyncio.run(lifecycle.run(face))
    except refused as exc:
        fail(str(exc), EXIT_REFUSED)
    except (ConfigError, ValueError, StoreError) as exc:
        fail(str(exc))
    if json_out:
        typer.echo(dumps(summary))
    else:
        typer.echo(
            format_book_summary(summary) if "markets" in summary else format_summary(summary)
        )
    damaged = lifecycle.damage()
    if damaged:  # a replayed file cut short: traded and stored up to the cut, then the error
        fail(damaged)
    _exit_for(summary)


def _exit_for(summary: dict[str, Any]) -> None:
    """Exit non-zero when the session did not end cleanly (README, "Exit codes")."""
    code = session_exit_code(summary)
    if code:
        raise typer.Exit(code)


def _check_telegram(settings: Settings) -> None:
    """Refuse to start when telegram.enabled but its token or chats are missing."""
    if settings.telegram.enabled:
        from tradetui.alerts.setup import check_setup
        from tradetui.config import ConfigError

        try:
            check_setup(settings.telegram)
        except ConfigError as exc:
            fail(str(exc))


def _with_market(
    settings: Settings,
    market: str | None,
    loop: bool | None,
    venue: str | None = None,
    symbol: str | None = None,
) -> Settings:
    """``settings`` with --market/--loop applied to the [market] section (--loop sets
    market.replay_end = "loop"; --no-loop turns a configured "loop" into "stop"), and
    --venue/--symbol to the VENUE:SYMBOL of its synthetic or live source."""
    from tradetui.config import ConfigError, live_source, synthetic_source

    changes: dict[str, Any] = {}
    if market is not None:
        changes["source"] = market
    if loop:
        changes["replay_end"] = "loop"
    elif loop is not None and settings.market.replay_end == "loop":
        changes["replay_end"] = "stop"
    try:
        settings = settings.replace("market", **changes) if changes else settings
    except ConfigError as exc:
        fail(str(exc).replace("market.source", "--market", 1))
    if venue is None and symbol is None:
        return settings
    if symbol is not None and "," in symbol:
        return _with_markets(settings, venue, symbol)
    flag = "--venue" if venue is not None else "--symbol"
    if settings.venue.exchange != "sim":
        fail(
            f"{flag}: a live session trades venue.exchange and venue.symbol; set them in the "
            "config instead"
        )
    source = settings.market.source
    kind = source.partition(":")[0]
    parts = synthetic_source(source) or live_source(source)
    if parts is None:
        fail(
            f"{flag}: a replay trades the instrument of its files; drop {flag}, or pick "
            "--market synthetic or --market live"
        )
    where = venue if venue is not None else parts[0]
    what = symbol if symbol is not None else parts[1] or settings.venue.symbol
    composed = f"{kind}:{where}:{what}" if where else f"{kind}:{what}"
    try:
        return settings.replace("market", source=composed)
    except ConfigError as exc:
        fail(f"{flag}: {exc}")


def _with_markets(settings: Settings, venue: str | None, symbols: str) -> Settings:
    """``settings`` trading every symbol of ``--symbol A,B`` (on --venue, else the market
    source's venue), each a market of its own ([[markets]], docs/multi-market.md)."""
    from tradetui.config import ConfigError, markets_from_table, with_markets

    names = [s.strip() for s in symbols.split(",")]
    if not all(names):
        fail(f"--symbol {symbols}: an empty symbol; write --symbol BTCUSDT,ETHUSDT")
    table = [{"symbol": n, **({"venue": venue} if venue else {})} for n in names]
    try:
        entries = markets_from_table(table, settings.market.source, "--symbol")
        return with_markets(settings, entries)
    except ConfigError as exc:
        fail(str(exc))


def _mode(settings: Settings) -> str:
    return "paper" if settings.venue.exchange == "sim" else "live"


def _instance_name(settings: Settings, name: str | None) -> str:
    """--name checked, else the run's default name: mode, venue and symbol (paper: of the
    instrument the market source names; on an exchange's live market, ``paper-live-usdm-...``)."""
    from tradetui.config import ConfigError
    from tradetui.control import ControlError, check_name, default_name
    from tradetui.venues.lookup import short_venue

    try:
        if name is not None:
            return check_name(name)
        v = settings.venue
        if v.exchange != "sim":
            return default_name("live", short_venue(v.exchange), v.symbol)
        if settings.markets:  # several markets: paper-book-btcusdt-ethusdt
            return default_name("paper", "book", "-".join(m.symbol for m in settings.markets))
        from tradetui.session import live_market, market_source, sim_instrument

        if market_source(settings) == "live":  # paper on the exchange's live market
            exchange, symbol = live_market(settings)
            return default_name("paper", f"live-{short_venue(exchange)}", symbol)
        inst = sim_instrument(settings)
        return default_name("paper", short_venue(inst.venue), inst.symbol)
    except (ControlError, ConfigError) as exc:
        fail(str(exc))


def _db_path(settings: Settings, db: Path | None, name: str | None) -> Path:
    """--db, else the instance's database: ``<store.dir>/<name>.db``."""
    from tradetui.store.paths import default_db_path

    if db is not None:
        return db
    return default_db_path(_instance_name(settings, name), settings.store.dir)


def _store_options(settings: Settings, db: Path | None, name: str) -> StoreOptions:
    from tradetui.host import store_options

    return store_options(settings, _db_path(settings, db, name), _mode(settings))


@contextlib.contextmanager
def _querying(
    config: Path | None, db: Path | None, name: str | None
) -> Iterator[sqlite3.Connection]:
    """The database opened read-only for a query command; closed after, and any database or
    store error on the way is the command's one error line."""
    import sqlite3

    from tradetui.store.schema import StoreError, db_error, open_readonly

    path = _db_path(_load(config), db, name)
    try:
        conn = open_readonly(path)
    except StoreError as exc:
        fail(str(exc))
    try:
        yield conn
    except StoreError as exc:
        fail(str(exc))
    except sqlite3.DatabaseError as exc:  # a damaged page found by the query itself
        fail(str(db_error(path, exc)))
    finally:
        conn.close()


def _parse_since(text: str) -> int:
    """``--since`` in ns: an ISO time (UTC unless it has an offset) or an age (90s, 15m, 2h, 1d)."""
    import time as _time
    from datetime import UTC, datetime

    age = duration_s(text)
    if age is not None:
        ns = _time.time_ns() - int(age * 1e9)
    else:
        try:
            when = datetime.fromisoformat(text.strip())
        except ValueError:
            fail(
                "--since: expected an ISO time like 2024-05-01T12:00 or an age like 15m "
                f"(got {text!r})"
            )
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        ns = int(when.timestamp() * 1e9)
    if not 0 <= ns <= 2**63 - 1:  # stored times are int64 nanoseconds since 1970
        fail(
            f"--since: {text!r} is outside 1970-01-01 .. 2262-04-11, the times fills are "
            "stored in; give a date in that range or a shorter age"
        )
    return ns


@app.command()
def sessions(
    db: DbOpt = None,
    name: NameOpt = None,
    config: ConfigOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
    since: Annotated[
        str | None,
        typer.Option(
            help="Only sessions running at or after: ISO time (UTC) or age (15m, 2h), wall clock."
        ),
    ] = None,
) -> None:
    """List stored sessions, newest first, by wall-clock time (--json adds the market time a
    fast or replayed run traded; an unclean end means the run was killed)."""
    from tradetui.store.queries import list_sessions

    since_ns = _parse_since(since) if since is not None else None
    with _querying(config, db, name) as conn:
        rows = list_sessions(conn, since_ns)
    if json_out:
        typer.echo(dumps(rows))
        return
    for r in rows:
        r["length"] = _length(r["started"], r["ended"])
        r["volume"] = f"{r['volume_quote']:,.2f} {r['quote_asset']}"
    cols = ["id", "mode", "symbol", "started", "length", "end_state", "fills", "volume"]
    if any(r["book"] is not None for r in rows):  # several markets in one run: its first id
        for r in rows:
            r["book"] = "" if r["book"] is None else r["book"]
        cols.append("book")
    print_table("sessions", rows, cols)


def _length(started: str, ended: str) -> str:
    """``1h02m``, ``2m00s`` or ``-`` (still running or killed) between two ISO times."""
    from datetime import datetime

    if not ended:
        return "-"
    s = int((datetime.fromisoformat(ended) - datetime.fromisoformat(started)).total_seconds())
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


@app.command()
def fills(
    db: DbOpt = None,
    name: NameOpt = None,
    config: ConfigOpt = None,
    session: Annotated[
        int | None, typer.Option(help="Only this session id.", **SESSION_RANGE)
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="Only fills recorded at or after: ISO time (UTC) or age (15m, 2h), wall clock."
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    json_out: Annotated[
        bool,
        typer.Option("--json", help="Print JSON (as every command's --json; = --format json)."),
    ] = False,
) -> None:
    """List stored fills with exact prices and sizes."""
    import csv

    from tradetui.store.queries import list_fills, resolve_session

    if fmt not in ("table", "csv", "json"):
        fail(f"--format: expected table, csv or json (got {fmt!r})")
    if json_out and fmt not in ("table", "json"):
        fail(f"--json and --format {fmt}: give one of them")
    fmt = "json" if json_out else fmt
    since_ns = _parse_since(since) if since is not None else None
    with _querying(config, db, name) as conn:
        sid = resolve_session(conn, session) if session is not None else None
        rows = list_fills(conn, sid, since_ns)
    if fmt == "json":
        typer.echo(dumps(rows))
    elif fmt == "csv":
        out = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["session"])
        out.writeheader()
        out.writerows(rows)
    else:
        for r in rows:
            r["size"] = f"{r['qty']} {r['size_unit']}".rstrip()
            r["fee "] = f"{r['fee']} {r['fee_asset']}"  # positive paid, negative a rebate
            r["charged"] = f"{r['charged_fee']} {r['charged_asset']}".strip()
            r["liq"], r["trade"] = r["liquidity"], r["trade_id"]
        cols = ["session", "time", "side", "price", "size", "fee "]
        if any(r["charged_asset"] for r in rows):
            cols.append("charged")  # a fee charged in another asset (BNB), as charged
        cols += ["liq", "trade"]
        title = f"fills ({len(rows)})"
        if len({r["session"] for r in rows}) == 1:  # one session: said once, in the title
            cols.remove("session")
            title += f" of session {rows[0]['session']}"
        print_table(title, rows, cols)


@app.command()
def report(
    db: DbOpt = None,
    name: NameOpt = None,
    config: ConfigOpt = None,
    session: Annotated[
        int | None, typer.Option(help="Session id (default: the newest).", **SESSION_RANGE)
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    book: Annotated[
        bool,
        typer.Option(
            "--book", help="Every market of the session's several-market run, and their total."
        ),
    ] = False,
) -> None:
    """PnL, fees, markouts, drawdown and inventory of one stored session."""
    from tradetui.store.queries import book_sessions, resolve_session, session_report

    with _querying(config, db, name) as conn:
        sid = resolve_session(conn, session)
        if book:
            markets = [session_report(conn, one) for one in book_sessions(conn, sid)]
    if book:
        _book_report(markets, json_out)
        return
    with _querying(config, db, name) as conn:
        result = session_report(conn, sid)
    if json_out:
        typer.echo(dumps(result))
        return
    from tradetui.store.format import format_report

    typer.echo(format_report(result))


def _book_report(markets: list[dict[str, Any]], json_out: bool) -> None:
    """Each market's stored report, then the book's total in USD."""
    from tradetui.engine.summary import book_total
    from tradetui.store.format import format_report

    total = book_total(markets)
    if json_out:
        typer.echo(dumps({"markets": markets, "total": total}))
        return
    for one in markets:
        typer.echo(format_report(one) + "\n")
    typer.echo(
        f"book total: {total['markets']} markets, {total['fills']} fills, volume "
        f"{total['volume_usd']:,.2f} USD, PnL {total['pnl_usd']:+,.4f} USD, fees "
        f"{total['fees_usd']:,.4f} USD"
    )


@app.command()
def history(
    db: DbOpt = None,
    name: NameOpt = None,
    config: ConfigOpt = None,
    since: Annotated[
        str | None,
        typer.Option(help="Only sessions started at or after: ISO time (UTC) or age (7d, 12h)."),
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
) -> None:
    """Stored sessions per UTC day: fills, volume, PnL, fees paid and rebates (read-only)."""
    from tradetui.store.queries import daily_history

    since_ns = _parse_since(since) if since is not None else None
    with _querying(config, db, name) as conn:
        rows = daily_history(conn, since_ns)
    if json_out:
        typer.echo(dumps(rows))
        return
    if not rows:
        typer.echo("no sessions stored" + (f" since {since}" if since else ""))
        return
    from tradetui.core.units import money_decimals

    for r in rows:
        d = money_decimals(r["settle_asset"], r["quote_asset"])
        r["symbols "] = ",".join(r["symbols"])
        r["volume"] = f"{r['volume_quote']:,.2f}"
        r["PnL"] = f"{r['pnl_total']:+,.{d}f}"
        r["fees paid"] = f"{r['fees']:,.{d}f}"  # amounts >= 0 (docs/units.md)
        r["rebates "] = f"{r['rebates']:,.{d}f}"
        # Volume in quote, money in the settlement asset: 'USDT', or 'BTC/USD' for COIN-M.
        same = r["settle_asset"] == r["quote_asset"]
        r["asset"] = r["quote_asset"] if same else f"{r['settle_asset']}/{r['quote_asset']}"
    cols = ["day", "sessions", "symbols ", "fills", "volume", "PnL", "fees paid", "rebates "]
    print_table(
        "history per UTC day (volume in quote, money in settlement)", rows, [*cols, "asset"]
    )


@verify_app.command("as-paper")
def verify_as_paper(
    gamma: Annotated[float, typer.Option(help="Risk aversion γ of the paper's setting.")] = 0.1,
    paths: Annotated[int, typer.Option(help="Number of simulated paths.")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed.", **SEED_RANGE)] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Run Avellaneda & Stoikov (2008)'s simulation through our strategy code."""
    if not gamma > 0:
        fail(f"--gamma: must be > 0 (got {gamma}); the paper uses 0.01, 0.1 and 0.5")
    if paths < 1:
        fail(f"--paths: must be >= 1 (got {paths})")
    from tradetui.verify.as_paper import format_as_paper, run_as_paper

    result = run_as_paper(gamma, paths=paths, seed=seed)
    typer.echo(json.dumps(result) if json_out else format_as_paper(result))


@config_app.command("example")
def config_example() -> None:
    """Print a complete example config with every key, its default, unit and meaning."""
    from tradetui.config import render_example

    typer.echo(render_example(), nl=False)


@config_app.command("check")
def config_check(config: ConfigOpt = None) -> None:
    """Validate the config file and environment overrides."""
    from tradetui.config import ConfigError, find_config

    settings = _load(config)
    if settings.ml.enabled:  # the model is part of the setup: load and verify it as a run would
        from tradetui.ml.filter import MlFilter

        try:
            MlFilter.from_settings(settings.ml)
        except ConfigError as exc:
            fail(str(exc))
    found = find_config(config)
    if settings.venue.exchange != "sim":
        from tradetui.credentials import load_keys

        v = settings.venue
        try:
            load_keys(v)
        except ConfigError as exc:
            fail(str(exc))
        where = v.secrets_file or f"{v.api_key_env}/{v.api_secret_env}"
        target = v.rest_url or f"{v.exchange}'s own endpoints"
        typer.echo(f"live: {v.exchange} {v.symbol} on {target}; API keys present ({where})")
    typer.echo(f"ok: {found if found else 'defaults (no config file found)'}")


def main() -> None:
    """The console script: a bad argument is one ``error:`` line and exit 2 (no usage box)."""
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # the parser's errors: bad value, unknown option...
        message = " ".join(exc.format_message().split())
        ctx = getattr(exc, "ctx", None)
        hint = f"; see `{ctx.command_path} --help`" if ctx is not None else ""
        typer.echo(f"error: {message}{hint}", err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


def _help_without_python_types() -> None:
    """Typer 0.29's help names each parameter's Python type: a flag reads ``--json <bool>``
    (``--help <bool>`` too), a list argument ``<list[Path]>`` and the usage line
    ``{files}...``. A flag takes no value, so it shows none; a repeated option the type of
    one value; an argument its name in capitals, as click's own help does (``FILES...``)."""
    from typer.core import TyperArgument, TyperOption

    option_type = TyperOption.display_type_rich

    def option_value(self: TyperOption, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None
        text = option_type(self, ctx)
        # A repeated option takes one value each time: `<str>`, not `<list[str]>`.
        return text.replace("<list[", "<").replace("]>", ">") if text else text

    def usage_name(self: TyperArgument) -> str:
        name = self.display_name_raw.upper()
        return (name if self.required else f"[{name}]") + ("..." if self.nargs != 1 else "")

    TyperOption.display_type_rich = option_value  # type: ignore[method-assign]
    TyperArgument.display_type_rich = lambda self, ctx: None  # type: ignore[method-assign]
    TyperArgument._usage_display_name = usage_name  # type: ignore[method-assign]


def _register_command_modules() -> None:
    from tradetui.commands import (
        control,
        data,
        latency,
        markets,
        ml,
        ml_evaluate,
        optimize,
        reconcile,
        sandbox,
        screen,
        telegram,
    )

    control.register(app)
    data.register(app)
    latency.register(app)
    markets.register(app)
    ml.register(app)
    ml_evaluate.register(app)
    optimize.register(app)
    reconcile.register(app)
    sandbox.register(app)
    screen.register(app)
    telegram.register(app)


_help_without_python_types()
_register_command_modules()
