"""Fees charged in BNB (Binance USD-M's BNB fee discount), through the real ccxt clients: the
sandbox charges them as Binance does, and the live venue keeps them as charged and values them
at BNB's price read from the exchange, never guessing one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import ccxt.async_support as ccxt_async
import pytest

from tests.instruments import btcusdt_perpetual
from tests.sandbox.conftest import BID_TICKS, KEY, SECRET, ManualFeed
from tests.sandbox.test_live_stream import bid, close_venue, fills, open_venue, place
from tradetui.core.types import Side
from tradetui.sandbox.client import loopback_client
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.venues.live import LiveOptions, LiveVenue

BNB_PRICE = Decimal("600")
# 10 lots at BID_TICKS: 0.01 BTC at 60,000 = 600 USDT; maker 0.02% = 0.12 USDT, in BNB 10%
# off at 600 USDT: 0.00018 BNB, worth 0.108 USDT.
FEE_USDT = 0.12
FEE_BNB = "0.00018000"


def bnb_sandbox(feed: ManualFeed, *, fee_burn: bool, bnb: str = "1") -> SandboxExchange:
    return SandboxExchange(
        btcusdt_perpetual(),
        feed,
        api_key=KEY,
        api_secret=SECRET,
        fee_burn=fee_burn,
        bnb_balance=Decimal(bnb),
        bnb_price=BNB_PRICE,
    )


@pytest.fixture
async def burning(feed: ManualFeed) -> AsyncIterator[SandboxExchange]:
    async with bnb_sandbox(feed, fee_burn=True) as server:
        yield server


def print_through_bid(feed: ManualFeed, sandbox: SandboxExchange) -> None:
    feed.trade(BID_TICKS - 1, 600, Side.SELL)
    sandbox.advance()


async def test_sandbox_charges_in_bnb_while_on_and_funded_else_in_usdt(feed: ManualFeed) -> None:
    async with bnb_sandbox(feed, fee_burn=True, bnb="0.0002") as server:
        client = loopback_client(server.rest_url, KEY, SECRET)
        try:
            assert (await client.fapiPrivateGetFeeBurn())["feeBurn"] is True
            for _ in range(2):  # the second finds 0.00002 BNB left: charged in USDT, full rate
                await client.create_order(
                    "BTC/USDT:USDT", "limit", "buy", 0.01, 60_000.0, {"postOnly": True}
                )
                print_through_bid(feed, server)
            trades = await client.fetch_my_trades("BTC/USDT:USDT")
            balance = await client.fetch_balance()
        finally:
            await client.close()
    stated = [(t["info"]["commissionAsset"], t["info"]["commission"]) for t in trades]
    assert stated == [("BNB", FEE_BNB), ("USDT", "0.12000000")]
    assert balance["BNB"]["total"] == pytest.approx(0.00002)
    assert balance["USDT"]["total"] == pytest.approx(10_000 - FEE_USDT)


async def test_sandbox_fee_burn_toggle_answers_as_binance(feed: ManualFeed) -> None:
    async with bnb_sandbox(feed, fee_burn=False) as server:
        client = loopback_client(server.rest_url, KEY, SECRET)
        try:
            answer = await client.fapiPrivatePostFeeBurn({"feeBurn": "true"})
            assert answer == {"code": 200, "msg": "success"}
            assert (await client.fapiPrivateGetFeeBurn())["feeBurn"] is True
            with pytest.raises(ccxt_async.BadRequest, match="-1130"):
                await client.fapiPrivatePostFeeBurn({"feeBurn": "yes"})
            price = await client.fapiPublicGetTickerPrice({"symbol": "BNBUSDT"})
            assert price["price"] == "600"
        finally:
            await client.close()


async def test_bnb_fee_on_the_stream_is_kept_as_charged_and_valued_at_bnb_price(
    burning: SandboxExchange, feed: ManualFeed
) -> None:
    venue, rec = await open_venue(burning)
    try:
        assert ("GET", "/fapi/v1/ticker/price") in burning.requests
        await place(venue, rec, bid("b-1"))
        print_through_bid(feed, burning)
        await rec.until(lambda: bool(fills(rec)))
    finally:
        await close_venue(venue)
    (fill,) = fills(rec)
    assert (fill.fee_asset, fill.fee_charged, fill.fee_rate) == ("BNB", FEE_BNB, 600.0)
    assert fill.fee == pytest.approx(FEE_USDT * 0.9, rel=1e-12)


async def test_bnb_fee_read_by_rest_is_valued_the_same(
    burning: SandboxExchange, feed: ManualFeed
) -> None:
    options = LiveOptions(fill_poll_s=0.01, user_stream=False)
    venue, rec = await open_venue(burning, options)
    try:
        await place(venue, rec, bid("b-2"))
        print_through_bid(feed, burning)
        await rec.until(lambda: bool(fills(rec)))  # polled: userTrades' commission
    finally:
        await close_venue(venue)
    (fill,) = fills(rec)
    assert (fill.fee_asset, fill.fee_charged, fill.fee_rate) == ("BNB", FEE_BNB, 600.0)
    assert fill.fee == pytest.approx(FEE_USDT * 0.9, rel=1e-12)


async def test_discount_switched_on_mid_session_is_not_guessed_then_valued(
    feed: ManualFeed, caplog: pytest.LogCaptureFixture
) -> None:
    async with bnb_sandbox(feed, fee_burn=False) as server:
        venue, rec = await open_venue(server)
        try:
            client = loopback_client(server.rest_url, KEY, SECRET)
            try:
                await client.fapiPrivatePostFeeBurn({"feeBurn": "true"})
            finally:
                await client.close()
            await place(venue, rec, bid("b-3"))
            print_through_bid(feed, server)
            await rec.until(lambda: len(fills(rec)) == 1)
            # The first BNB fee had no rate: kept, counted 0, said once; BNB is priced now.
            await rec.until(lambda: "BNB" in _rates(venue))
            await place(venue, rec, bid("b-4"))
            print_through_bid(feed, server)
            await rec.until(lambda: len(fills(rec)) == 2)
        finally:
            await close_venue(venue)
    first, second = fills(rec)
    assert (first.fee_asset, first.fee_charged, first.fee_rate, first.fee) == (
        "BNB",
        FEE_BNB,
        0.0,
        0.0,
    )
    assert "no BNB/USDT rate is known" in caplog.text
    assert (second.fee_asset, second.fee_rate) == ("BNB", 600.0)
    assert second.fee == pytest.approx(FEE_USDT * 0.9, rel=1e-12)


def _rates(venue: LiveVenue) -> dict[str, float]:
    rates = venue._fee_rates
    return rates.rates if rates is not None else {}
