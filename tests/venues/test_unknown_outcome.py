"""Answers that leave a request's outcome unknown map to VenueUnavailableError, never to a
refusal: Binance's 5xx bodies as ccxt 4.5 raises them, bodiless 5xx and lost connections."""

from __future__ import annotations

import json

import aiohttp
import ccxt
import pytest

from tradetui.core.types import RejectCode
from tradetui.sandbox.exchange import UNKNOWN_STATUS_MSGS
from tradetui.venues.errors import RefusedError, VenueUnavailableError, map_error

# Where the answer came from changes ccxt's table (binance overrides codes per market type).
URLS = (
    "https://fapi.binance.com/fapi/v1/order",
    "https://dapi.binance.com/dapi/v1/order",
    "http://127.0.0.1:8765/fapi/v1/order",
)


def raised_by_ccxt(status: int, body: str, url: str) -> Exception:
    """What ccxt's binanceusdm raises for this HTTP answer."""
    exchange = ccxt.binanceusdm()
    try:
        parsed = json.loads(body) if body else None
        exchange.handle_errors(status, "x", url, "POST", {}, body, parsed, {}, "")
        exchange.handle_http_status_code(status, "x", url, "POST", body)
    except Exception as exc:
        return exc
    raise AssertionError(f"ccxt raised nothing for HTTP {status} {body!r}")


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("code", sorted(UNKNOWN_STATUS_MSGS))
def test_binance_execution_status_unknown_codes_map_to_an_unknown_outcome(
    code: int, url: str
) -> None:
    body = json.dumps({"code": code, "msg": UNKNOWN_STATUS_MSGS[code]})

    err = map_error(raised_by_ccxt(503, body, url), str)

    assert type(err) is VenueUnavailableError
    assert str(code) in str(err)


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_without_a_body_maps_to_an_unknown_outcome(status: int) -> None:
    assert type(map_error(raised_by_ccxt(status, "", URLS[0]), str)) is VenueUnavailableError


def test_a_connection_cut_while_the_answer_is_read_maps_to_an_unknown_outcome() -> None:
    # ccxt turns aiohttp's payload errors into a bare ExchangeError, chained to the cause.
    exc = ccxt.ExchangeError("binanceusdm POST https://fapi.binance.com")
    exc.__cause__ = aiohttp.ClientPayloadError("Response payload is not completed")

    assert type(map_error(exc, str)) is VenueUnavailableError


def test_a_server_disconnect_maps_to_an_unknown_outcome() -> None:
    exc = ccxt.ExchangeNotAvailable("binanceusdm POST ... Server disconnected")
    assert type(map_error(exc, str)) is VenueUnavailableError


def test_a_definite_refusal_in_a_4xx_stays_a_refusal() -> None:
    body = json.dumps({"code": -2019, "msg": "Margin is insufficient."})

    err = map_error(raised_by_ccxt(400, body, URLS[0]), str)

    assert isinstance(err, RefusedError)
    assert err.code is RejectCode.INSUFFICIENT_MARGIN
