"""Trading Binance COIN-M live against the sandbox: LiveVenue, then the whole session (engine,
LiveVenue, BinanceStreamFeed) with real ccxt + ccxt.pro binancecoinm clients.

The risk guard's limits are in base units and quote (USDT-sized defaults; another part of
issue 17 makes them unit-aware), so the session here sets them for contracts of 100 USD.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from tests.sandbox.conftest import BID_TICKS, COINM_BALANCE_BTC, ManualFeed
from tests.sandbox.live_harness import live_settings, running_live
from tests.sandbox.test_live_stream import (
    FAST,
    Recorder,
    bid,
    close_venue,
    fills,
    open_venue,
    place,
)
from tradetui.core.types import AccountSnapshot, RequestAccount, Side
from tradetui.engine.engine import CommandKind
from tradetui.engine.events import EngineState
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.venues.live import LiveOptions, LiveVenue
from tradetui.venues.orders import BinanceFuturesOrders, UnifiedOrders

# Binance's basic tier on COIN-M (PROTOCOLS.md), what the sandbox charges; ccxt's own table
# for binancecoinm says 1 bps maker.
MAKER, TAKER = 0.0002, 0.0005


async def open_coinm(
    sandbox: SandboxExchange, options: LiveOptions = FAST
) -> tuple[LiveVenue, Recorder]:
    """A connected LiveVenue on the COIN-M sandbox's BTCUSD_PERP (binancecoinm clients)."""
    return await open_venue(sandbox, options, symbol="BTCUSD_PERP", exchange="binancecoinm")


def coin(contracts: int, price: float) -> float:
    """BTC worth of ``contracts`` of 100 USD at ``price``."""
    return contracts * 100 / price


async def test_live_venue_reads_the_contract_as_inverse_and_the_balance_in_the_coin(
    coinm_live: SandboxExchange,
) -> None:
    venue, _ = await open_coinm(coinm_live)
    try:
        inst = venue.instrument
        assert (inst.symbol, inst.venue, inst.inverse) == ("BTCUSD_PERP", "binancecoinm", True)
        assert (inst.contract_size, inst.lot_size, inst.settle) == (Decimal(100), Decimal(1), "BTC")
        assert venue.symbol == "BTC/USD:BTC"
        assert venue.equity_margin == pytest.approx(COINM_BALANCE_BTC)
        assert venue.stream_up
        # Quoting uses the account's own commission rates, not ccxt's table.
        assert (inst.maker_fee_rate, inst.taker_fee_rate) == (MAKER, TAKER)
        assert ("GET", "/dapi/v1/commissionRate") in coinm_live.requests
    finally:
        await close_venue(venue)


@pytest.mark.parametrize("native", [True, False], ids=["dapi-orders", "unified-orders"])
async def test_live_venue_fill_counts_contracts_and_pays_its_fee_in_the_coin(
    coinm_live: SandboxExchange, feed: ManualFeed, native: bool
) -> None:
    venue, rec = await open_coinm(coinm_live, dataclasses.replace(FAST, native_orders=native))
    try:
        route = venue._route()
        await place(venue, rec, bid("c-1", lots=10))
        feed.trade(BID_TICKS - 1, 600, Side.SELL)
        coinm_live.advance()
        await rec.until(lambda: len(fills(rec)) == 1)
        venue.submit(RequestAccount())
        await rec.until(lambda: bool(rec.of(AccountSnapshot)))
    finally:
        await close_venue(venue)

    fill = fills(rec)[0]
    assert (fill.price_ticks, fill.qty_lots, fill.leaves_lots) == (BID_TICKS, 10, 0)
    assert fill.fee == round(coin(10, 60_000.0) * MAKER, 8)
    snap = rec.of(AccountSnapshot)[0]
    assert (snap.position_lots, snap.entry_price_ticks) == (10, BID_TICKS)
    assert isinstance(route, BinanceFuturesOrders if native else UnifiedOrders)
    assert ("POST", "/dapi/v1/order") in coinm_live.requests
    assert not [path for _, path in coinm_live.requests if path.startswith("/fapi")]


async def test_live_session_on_coinm_quotes_fills_in_the_coin_and_flattens(
    coinm_live: SandboxExchange, feed: ManualFeed
) -> None:
    settings = live_settings(
        coinm_live,
        venue={"exchange": "binancecoinm", "symbol": "BTCUSD_PERP"},
        strategy={"order_contracts": 2},
    )
    async with running_live(coinm_live, feed, settings) as live:
        engine = live.engine
        assert engine.instrument.inverse
        await live.until(lambda: engine.book.valid)
        ok, _ = await live.command(CommandKind.START, reason="test")
        assert ok
        await live.until(lambda: len(live.quotes()) == 2)
        resting = coinm_live.account.open_orders
        assert [o.orig_lots for o in resting] == [2, 2]

        bid_ticks = live.quotes()[int(Side.BUY)]
        feed.trade(bid_ticks - 1, 5_000, Side.SELL)
        coinm_live.advance()
        await live.until(lambda: engine.ledger.position_lots == 2)
        # Commission in BTC as Binance reports it, to 8 decimals.
        assert engine.ledger.fees == round(coin(2, bid_ticks / 10) * MAKER, 8)

        await live.command(CommandKind.STOP, reason="test stop")
        await live.until(lambda: engine.state is EngineState.STOPPED)
        await live.command(CommandKind.FLATTEN, reason="test flatten")
        await live.until(
            lambda: engine.state is EngineState.STOPPED and engine.ledger.position_lots == 0
        )

    assert coinm_live.account.ledger.position_lots == 0
    assert coinm_live.account.open_orders == []
    # The exchange's wallet moved by exactly the fees and PnL the engine booked, in BTC.
    wallet_change = coinm_live.account.wallet_settle() - COINM_BALANCE_BTC
    assert wallet_change == pytest.approx(engine.ledger.total_settle(0.0), abs=1e-12)
    assert not [path for _, path in coinm_live.requests if path.startswith("/fapi")]


async def test_unreadable_commission_rates_keep_the_tables_and_the_venue_connects(
    coinm_live: SandboxExchange,
) -> None:
    coinm_live.faults.fail_next(503, -1, 0, "GET /dapi/v1/commissionRate")
    venue, _ = await open_coinm(coinm_live)
    try:
        assert venue.stream_up
        assert venue.instrument.maker_fee_rate == 0.0001  # ccxt's binancecoinm table
    finally:
        await close_venue(venue)
