"""``tradetui sandbox exchange``: a loopback Binance USD-M or COIN-M exchange for dry runs and
tests."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import typer

from tradetui.commands.common import PORT_RANGE, SEED_RANGE, cannot_listen, fail

if TYPE_CHECKING:
    from tradetui.core.instrument import Instrument
    from tradetui.sandbox.exchange import SandboxExchange

_DEFAULT_KEY = "sandbox-key"
_DEFAULT_SECRET = "sandbox-secret"
_DEFAULT_BNB_PRICE = 600.0


def sandbox_exchange(
    port: Annotated[
        int, typer.Option("--port", help="TCP port (0 picks a free one).", **PORT_RANGE)
    ] = 8765,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    market: Annotated[
        str, typer.Option("--market", help="synthetic, or replay:PATH of a recorded file.")
    ] = "synthetic",
    venue: Annotated[
        str,
        typer.Option(
            "--venue",
            help="Exchange played: usdm (Binance USD-M, /fapi), coinm (COIN-M inverse, /dapi) "
            "or spot; a ccxt id (binancecoinm) also works.",
        ),
    ] = "usdm",
    symbol: Annotated[
        str,
        typer.Option(
            "--symbol",
            help="Symbol traded, one the simulated listing has (BTCUSDT, BTCUSD_PERP, ...); "
            "default: the listing's first (BTC's).",
        ),
    ] = "",
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the synthetic market.", **SEED_RANGE)
    ] = 0,
    start_price: Annotated[
        float,
        typer.Option(
            "--start-price",
            help="Synthetic market: the symbol's price in its quote asset, to scale the "
            "built-in BTCUSDT calibration to another asset (0: the last price `markets sync` "
            "cached, else the listing's reference price).",
        ),
    ] = 0.0,
    api_key: Annotated[
        str, typer.Option("--api-key", envvar="TRADETUI_SANDBOX_API_KEY", help="Accepted key.")
    ] = _DEFAULT_KEY,
    api_secret: Annotated[
        str,
        typer.Option(
            "--api-secret", envvar="TRADETUI_SANDBOX_API_SECRET", help="Secret for signatures."
        ),
    ] = _DEFAULT_SECRET,
    balance: Annotated[
        float | None,
        typer.Option(
            "--balance",
            help="Starting wallet balance in the margin asset (default: 10000 USDT; 1 coin "
            "on COIN-M).",
        ),
    ] = None,
    hedge_mode: Annotated[
        bool,
        typer.Option(
            "--hedge-mode",
            help="Account setting: start in hedge mode (Binance's dualSidePosition=true; "
            "POST .../positionSide/dual switches it back).",
        ),
    ] = False,
    weight_limit: Annotated[
        int,
        typer.Option(
            "--weight-limit",
            help="Request weight per minute before a 429 (0: Binance's, 2400).",
            min=0,
        ),
    ] = 0,
    order_limit_10s: Annotated[
        int,
        typer.Option(
            "--order-limit-10s",
            help="New orders per 10 s before a 429 (0: Binance's, 300 on USD-M).",
            min=0,
        ),
    ] = 0,
    order_limit_1m: Annotated[
        int,
        typer.Option(
            "--order-limit-1m",
            help="New orders per minute before a 429 (0: Binance's, 1200).",
            min=0,
        ),
    ] = 0,
    skew_ms: Annotated[
        int, typer.Option("--skew-ms", help="Fault: server clock ahead (+) or behind (-), ms.")
    ] = 0,
    slow_ms: Annotated[
        int, typer.Option("--slow-ms", help="Fault: hold every REST answer this long, ms.")
    ] = 0,
    fail_status: Annotated[
        str,
        typer.Option(
            "--fail",
            help="Fault: answer the next COUNT requests with HTTP STATUS (429, 418, "
            "502...), as STATUS[:COUNT], COUNT -1 = always.",
        ),
    ] = "",
    lose: Annotated[
        str,
        typer.Option(
            "--lose",
            help="Fault: carry out the next COUNT order placements, then lose the answer: "
            "STATUS 5xx answers Binance's -1001 body, 0 closes the connection; as "
            "STATUS[:COUNT], COUNT -1 = always.",
        ),
    ] = "",
    reject: Annotated[
        str,
        typer.Option(
            "--reject",
            help="Fault: refuse the next COUNT new orders with a Binance code, as CODE[:COUNT] "
            "(2019 margin insufficient, 5022 post-only would cross).",
        ),
    ] = "",
    gap: Annotated[int, typer.Option("--gap", help="Fault: drop this many depth updates.")] = 0,
    duplicate: Annotated[
        int, typer.Option("--duplicate", help="Fault: send this many depth updates twice.")
    ] = 0,
    reorder: Annotated[
        int, typer.Option("--reorder", help="Fault: swap this many depth updates with the next.")
    ] = 0,
    user_duplicate: Annotated[
        int, typer.Option("--user-duplicate", help="Fault: send this many order updates twice.")
    ] = 0,
    user_reorder: Annotated[
        int,
        typer.Option("--user-reorder", help="Fault: swap this many order updates with the next."),
    ] = 0,
    drop_every_s: Annotated[
        float,
        typer.Option("--drop-every", help="Fault: close every websocket this often, seconds."),
    ] = 0.0,
    fee_burn: Annotated[
        bool,
        typer.Option(
            "--fee-burn",
            help="USD-M: BNB fee discount on (as POST /fapi/v1/feeBurn): fees are charged in "
            "BNB, 10% off, while the wallet holds enough BNB.",
        ),
    ] = False,
    bnb_balance: Annotated[
        float, typer.Option("--bnb-balance", help="USD-M: BNB in the futures wallet.", min=0)
    ] = 0.0,
    bnb_price: Annotated[
        float,
        typer.Option(
            "--bnb-price",
            help="USD-M: BNB's price in USDT, served as ticker BNBUSDT (0: 600 when "
            "--fee-burn or --bnb-balance is given).",
            min=0,
        ),
    ] = 0.0,
    legacy_ws: Annotated[
        bool,
        typer.Option(
            "--legacy-ws",
            help="USD-M: also serve every stream and the user stream on the legacy /ws and "
            "/stream bases (Binance before 2026-04-23); by default they carry /public streams "
            "only, as on Binance now.",
        ),
    ] = False,
    listen_key_ttl_s: Annotated[
        float,
        typer.Option(
            "--listen-key-ttl-s",
            help="Seconds a listenKey lives without keepalive (Binance: 3600); on expiry the "
            "user stream gets listenKeyExpired, then nothing, and a keepalive answers -1125.",
        ),
    ] = 3600.0,
    symbols: Annotated[
        int,
        typer.Option(
            "--symbols",
            help="USD-M or COIN-M: list this many symbols in all (synthetic ones beyond the "
            "built-in listing) and stream them all: bookTicker, aggTrade, trade, !bookTicker, "
            "!ticker@arr (0: the built-in listing).",
            min=0,
        ),
    ] = 0,
    bbo_hz: Annotated[
        float | None,
        typer.Option(
            "--bbo-hz",
            help="With --symbols: bookTicker updates/s of the busiest symbol (BTCUSDT USD-M "
            "runs ≈190); the k-th busiest runs at this / k^--rate-decay.",
            min=0,
        ),
    ] = None,
    trade_hz: Annotated[
        float | None,
        typer.Option(
            "--trade-hz", help="With --symbols: trades/s of the busiest symbol (≈62).", min=0
        ),
    ] = None,
    rate_decay: Annotated[
        float,
        typer.Option(
            "--rate-decay",
            help="With --symbols: how fast rates fall down the list (rate / rank^DECAY).",
            min=0,
        ),
    ] = 1.0,
) -> None:
    """Serve Binance USD-M (or COIN-M) REST and websockets on HOST:PORT until Ctrl+C (the key
    and secret are not shown). Faults can also be switched while it runs: POST
    /sandbox/faults?..."""
    from tradetui.core.types import MarketEvent
    from tradetui.market.calibration import CalibrationError
    from tradetui.market.feed import ReplayFeed, replay_paths
    from tradetui.market.files import ReplayError
    from tradetui.market.instruments import infer_instrument
    from tradetui.market.synthetic import SyntheticMarket
    from tradetui.sandbox.exchange import SandboxExchange, exchange_of
    from tradetui.sandbox.universe import UniverseSpec
    from tradetui.venues.sim_listing import priced_synthetic_params

    start_ns = time.time_ns()
    instrument: Instrument
    feed: Iterator[MarketEvent]
    try:
        paths = replay_paths(market)
    except ValueError as exc:
        fail(f"--market {market}: {exc}")
    if market == "synthetic":
        instrument = _listed(venue, symbol)
        try:
            params = priced_synthetic_params(instrument, start_price=start_price)
        except CalibrationError as exc:
            fail(str(exc).replace("market.start_price", "--start-price", 1))
        feed = SyntheticMarket(instrument, params, seed=seed, start_ns=start_ns).events()
    elif paths is not None:
        try:
            instrument = infer_instrument(paths, has_flags=False).instrument
            feed = ReplayFeed(paths, instrument, start_ns)
        except ReplayError as exc:
            fail(str(exc))
    else:
        fail(f"--market {market!r}: use synthetic or replay:PATH[,PATH...]")
    if balance is None:
        balance = 1.0 if instrument.inverse else 10_000.0
    if (fee_burn or bnb_balance or bnb_price) and exchange_of(instrument) != "binanceusdm":
        fail(
            "--fee-burn, --bnb-balance, --bnb-price: the BNB fee discount is Binance USD-M's; "
            "drop them for this market"
        )
    if (fee_burn or bnb_balance) and not bnb_price:
        bnb_price = _DEFAULT_BNB_PRICE
    rates = {k: v for k, v in (("bbo_hz", bbo_hz), ("trade_hz", trade_hz)) if v is not None}
    if symbols and exchange_of(instrument) not in ("binanceusdm", "binancecoinm"):
        fail(
            "--symbols: many symbols are served on Binance USD-M and COIN-M only; drop it or use "
            "--venue usdm or coinm"
        )
    if not listen_key_ttl_s > 0:
        fail(f"--listen-key-ttl-s {listen_key_ttl_s:g}: must be more than 0 seconds, e.g. 5")
    try:
        server = SandboxExchange(
            instrument,
            feed,
            api_key=api_key,
            api_secret=api_secret,
            host=host,
            port=port,
            initial_balance=Decimal(str(balance)),
            fee_burn=fee_burn,
            bnb_balance=Decimal(str(bnb_balance)),
            bnb_price=Decimal(str(bnb_price)),
            hedge_mode=hedge_mode,
            legacy_ws=legacy_ws,
            listen_key_ttl_s=listen_key_ttl_s,
            weight_limit=weight_limit,
            order_limit_10s=order_limit_10s,
            order_limit_1m=order_limit_1m,
            universe=UniverseSpec(symbols, decay=rate_decay, seed=seed, **rates),
        )
    except ValueError as exc:
        fail(f"--market {market}: {exc}")
    server.faults.skew_ms = skew_ms
    server.faults.delay_next(slow_ms / 1000, count=-1)
    spec: dict[str, str] = {
        name: str(value)
        for name, value in (
            ("gap", gap),
            ("duplicate", duplicate),
            ("reorder", reorder),
            ("user_duplicate", user_duplicate),
            ("user_reorder", user_reorder),
        )
        if value
    }
    if fail_status:
        spec["status"], spec["count"] = _code_count("--fail", fail_status)
    if lose:
        lost, spec["lost_count"] = _code_count("--lose", lose)
        if lost != "0" and not 500 <= int(lost) <= 599:
            fail(f"--lose {lose!r}: STATUS must be 0 (connection closed) or a 5xx, e.g. 503:1")
        spec["lost"], spec["lost_only"] = lost, f"POST {server.api}/v1/order"
    if reject:
        code, count = _code_count("--reject", reject)
        spec["reject"], spec["reject_count"] = str(-abs(int(code))), count

    async def serve() -> None:
        try:
            await server.start()
        except OSError as exc:
            cannot_listen(host, port, exc)
        try:
            await server.apply_faults(spec)
            dropper = asyncio.create_task(_drop_every(server, drop_every_s))
            typer.echo(
                f"sandbox exchange {server.exchange_id} {instrument.symbol} on {server.rest_url} "
                f"(market {market}); Ctrl+C stops",
            )
            try:
                await asyncio.Event().wait()
            finally:
                dropper.cancel()
        finally:
            await server.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    typer.echo("sandbox exchange stopped")


def _listed(venue: str, symbol: str) -> Instrument:
    """The simulated listing's instrument for ``--venue``/``--symbol``; exits with one line
    naming what the listing has when it has no such venue or symbol."""
    from tradetui.venues.catalog import VENUE_EXCHANGES
    from tradetui.venues.sim_listing import listing_entries, sim_instrument

    entries = listing_entries(venue)
    if not entries:
        fail(f"--venue {venue!r}: the sandbox plays {', '.join(VENUE_EXCHANGES)}")
    wanted = symbol or str(entries[0]["symbol"])
    instrument = sim_instrument(wanted, venue)
    if instrument is None:
        listed = ", ".join(str(e["symbol"]) for e in entries)
        fail(f"--symbol {wanted!r}: the simulated {venue} listing has {listed}")
    return instrument


def _code_count(flag: str, text: str) -> tuple[str, str]:
    """``CODE[:COUNT]`` → (code, count) as strings; exits with one line when malformed."""
    code, _, count = text.partition(":")
    try:
        int(code)
        int(count or "1")
    except ValueError:
        fail(f"{flag} {text!r}: expected CODE[:COUNT] with whole numbers, e.g. 429:3")
    return code, count or "1"


async def _drop_every(server: SandboxExchange, period_s: float) -> None:
    while period_s > 0:
        await asyncio.sleep(period_s)
        await server.drop_websockets()


def register(app: typer.Typer) -> None:
    """Add ``sandbox exchange``, ``sandbox telegram`` and ``sandbox archive`` to ``app``."""
    from tradetui.commands.download import sandbox_archive
    from tradetui.commands.telegram import sandbox_telegram

    sandbox_app = typer.Typer(help="Loopback exchanges for dry runs and tests.")
    sandbox_app.command("exchange")(sandbox_exchange)
    sandbox_app.command("telegram")(sandbox_telegram)
    sandbox_app.command("archive")(sandbox_archive)
    app.add_typer(sandbox_app, name="sandbox")
