"""Market constraints from ccxt, capability checks, error mapping and log redaction."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt_async
import pytest

from tradetui.core.types import RejectCode
from tradetui.venues.errors import (
    AuthFailedError,
    ClockSkewError,
    IpBannedError,
    RateLimitedError,
    RefusedError,
    SetupError,
    VenueUnavailableError,
    map_error,
)
from tradetui.venues.markets import find_market, instrument_from_market, missing_capabilities
from tradetui.venues.redact import REDACTED, redact_every_record

TICK_SIZE_MODE = 4
DECIMAL_PLACES_MODE = 2


def market(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "symbol": "BTC/USDT:USDT",
        "id": "BTCUSDT",
        "base": "BTC",
        "quote": "USDT",
        "swap": True,
        "linear": True,
        "spot": False,
        "precision": {"price": 0.1, "amount": 0.001},
        "limits": {"amount": {"min": 0.001}, "cost": {"min": 100.0}},
        "maker": 0.0002,
        "taker": 0.0005,
    }
    base.update(changes)
    return base


def test_instrument_carries_the_exchange_grids_minimums_and_fees() -> None:
    inst = instrument_from_market(market(), TICK_SIZE_MODE)

    assert (inst.symbol, inst.base, inst.quote) == ("BTCUSDT", "BTC", "USDT")
    assert (inst.tick_size, inst.lot_size) == (Decimal("0.1"), Decimal("0.001"))
    assert (inst.min_qty, inst.min_notional) == (Decimal("0.001"), Decimal("100"))
    assert (inst.maker_fee_rate, inst.taker_fee_rate) == (0.0002, 0.0005)


def test_an_inverse_contract_carries_its_contract_size_and_coin_settlement() -> None:
    inst = instrument_from_market(
        market(
            symbol="BTC/USD:BTC",
            id="BTCUSD_PERP",
            quote="USD",
            settle="BTC",
            linear=False,
            inverse=True,
            contract=True,
            contractSize=100.0,
            precision={"price": 0.1, "amount": 1},
            limits={"amount": {"min": 1.0, "max": 1_000_000}, "cost": {"min": None}},
        ),
        TICK_SIZE_MODE,
        "binancecoinm",
    )

    assert (inst.symbol, inst.inverse, inst.contract_size) == ("BTCUSD_PERP", True, Decimal(100))
    assert (inst.settle, inst.venue, inst.min_notional) == ("BTC", "binancecoinm", Decimal(0))
    assert inst.max_qty == Decimal(1_000_000)


def test_a_contract_without_a_contract_size_is_refused_naming_it() -> None:
    with pytest.raises(SetupError, match="contract size"):
        instrument_from_market(market(contract=True), TICK_SIZE_MODE)


def test_decimal_places_precision_becomes_a_grid() -> None:
    inst = instrument_from_market(market(precision={"price": 2, "amount": 3}), DECIMAL_PLACES_MODE)

    assert (inst.tick_size, inst.lot_size) == (Decimal("0.01"), Decimal("0.001"))


def test_a_market_without_min_notional_is_refused_naming_it() -> None:
    with pytest.raises(SetupError, match="does not say the min notional of BTC/USDT:USDT"):
        instrument_from_market(
            market(limits={"amount": {"min": 0.001}, "cost": {"min": None}}), TICK_SIZE_MODE
        )


def test_significant_digits_precision_is_refused_as_no_grid() -> None:
    with pytest.raises(SetupError, match="tick size, step size"):
        instrument_from_market(market(), 3)


def test_market_found_by_exchange_id_prefers_the_perpetual() -> None:
    markets = {
        "BTC/USDT": market(symbol="BTC/USDT", swap=False, spot=True),
        "BTC/USDT:USDT": market(),
    }

    assert find_market(markets, "BTCUSDT", "x")["symbol"] == "BTC/USDT:USDT"
    assert find_market(markets, "BTC/USDT", "x")["symbol"] == "BTC/USDT"


def test_missing_capabilities_are_named_with_what_they_are_for() -> None:
    has = dict.fromkeys(
        ("watchOrderBook", "createPostOnlyOrder", "watchMyTrades", "fetchMyTrades"), True
    )
    has |= {"fetchOpenOrders": True, "cancelOrder": True}

    assert missing_capabilities(has) == [
        "watchOrders (order updates on the user stream)",
        "fetchPositions (positions)",
    ]


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (ccxt_async.DDoSProtection("binanceusdm 418 I'm a Teapot {}"), IpBannedError),
        (ccxt_async.DDoSProtection("binanceusdm 429 Too Many Requests"), RateLimitedError),
        (ccxt_async.InvalidNonce('{"code":-1021}'), ClockSkewError),
        (ccxt_async.RequestTimeout("timed out"), VenueUnavailableError),
        (ccxt_async.ExchangeNotAvailable("502"), VenueUnavailableError),
        (ccxt_async.AuthenticationError('{"code":-2015}'), AuthFailedError),
        (ccxt_async.InsufficientFunds("margin"), RefusedError),
    ],
)
def test_ccxt_errors_map_to_our_types(exc: Exception, kind: type) -> None:
    assert type(map_error(exc, str)) is kind


def test_refusals_carry_our_reject_code() -> None:
    post_only = map_error(ccxt_async.InvalidOrder('{"code":-5022,"msg":"x"}'), str)
    margin = map_error(ccxt_async.InsufficientFunds("no code here"), str)

    assert isinstance(post_only, RefusedError)
    assert isinstance(margin, RefusedError)
    assert post_only.code is RejectCode.POST_ONLY_WOULD_CROSS
    assert margin.code is RejectCode.INSUFFICIENT_MARGIN


@pytest.mark.parametrize(
    ("binance", "ours"),
    [
        (-4014, RejectCode.OFF_TICK),
        (-4023, RejectCode.OFF_STEP),
        (-4004, RejectCode.BELOW_MIN_QTY),
        (-4005, RejectCode.ABOVE_MAX_QTY),
        (-4002, RejectCode.ABOVE_MAX_PRICE),
        (-4013, RejectCode.BELOW_MIN_PRICE),
        (-4016, RejectCode.ABOVE_PRICE_BAND),
        (-4024, RejectCode.BELOW_PRICE_BAND),
        (-4164, RejectCode.BELOW_MIN_NOTIONAL),
    ],
)
def test_binance_order_filter_codes_are_refusals_with_our_code(
    binance: int, ours: RejectCode
) -> None:
    mapped = map_error(ccxt_async.BadRequest(f'binanceusdm {{"code": {binance}, "msg": "m"}}'), str)

    assert isinstance(mapped, RefusedError)
    assert mapped.code is ours


def test_mapped_messages_are_one_redacted_line() -> None:
    exc = ccxt_async.ExchangeNotAvailable("GET http://h/x?a=1&signature=abcdef0123\n502 Bad")

    err = map_error(exc, lambda t: t.replace("abcdef0123", REDACTED))

    assert str(err) == f"GET http://h/x?a=1&signature={REDACTED} 502 Bad"


def test_every_record_of_every_logger_is_redacted(caplog: pytest.LogCaptureFixture) -> None:
    factory = logging.getLogRecordFactory()
    try:
        redact_every_record("my-api-secret")
        caplog.set_level(logging.INFO)
        logging.getLogger("asyncio").error("url ws://h/private/ws?listenKey=%s", "A" * 40)
        logging.getLogger("somewhere").info(
            "secret is %s; sig signature=%s", "my-api-secret", "ab12"
        )

        assert "A" * 40 not in caplog.text
        assert "my-api-secret" not in caplog.text
        assert "ab12" not in caplog.text
        assert caplog.text.count(REDACTED) == 3
    finally:
        logging.setLogRecordFactory(factory)


def test_client_urls_proxy_and_clock_options_follow_the_settings() -> None:
    from tradetui.venues.clients import make_client

    client = make_client(
        "binanceusdm",
        rest_url="http://127.0.0.1:8765",
        ws_url="ws://127.0.0.1:8766",
        recv_window_ms=3000,
        proxy="http://127.0.0.1:3128",
        timeout_ms=700,
    )

    assert client.urls["api"]["fapiPrivate"].startswith("http://127.0.0.1:8765/fapi/")
    assert client.urls["api"]["ws"]["linear"].startswith("ws://127.0.0.1:8766/")
    assert (client.https_proxy, client.wss_proxy) == ("http://127.0.0.1:3128",) * 2
    assert client.options["recvWindow"] == 3000
    assert client.timeout == 700
    assert client.enableRateLimit


def test_unknown_exchange_id_is_refused_by_name() -> None:
    from tradetui.venues.clients import make_client

    with pytest.raises(SetupError, match="'nosuchx' is not a ccxt exchange"):
        make_client("nosuchx")
