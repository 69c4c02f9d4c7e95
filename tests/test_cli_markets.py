"""`tradetui markets sync|list|show`: fetched from the loopback sandbox, read offline."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import os
import re
import socket
import threading
import time
import types
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from tests.conftest import scratch_app
from tradetui.commands import markets
from tradetui.core.instrument import Instrument
from tradetui.market.synthetic import SyntheticMarket
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.venues.catalog import (
    cache_loaded_markets,
    catalog_from_markets,
    load_catalog,
    save_catalog,
)
from tradetui.venues.sim_listing import listing_entries, sim_catalog, sim_instrument

APP = scratch_app(markets.register)


def cli(*args: str) -> Result:
    return CliRunner().invoke(APP, ["markets", *args])


def one_error_line(r: Result) -> str:
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in r.output
    return lines[0]


@pytest.fixture
def catalog_folder() -> Path:
    return Path(os.environ["TRADETUI_CATALOG_DIR"])


@pytest.fixture
def cached(catalog_folder: Path) -> Path:
    """The simulated exchanges' three catalogs in the cache."""
    for venue in ("usdm", "coinm", "spot"):
        save_catalog(sim_catalog(venue), catalog_folder)
    return catalog_folder


@pytest.fixture
def sandbox_url() -> Iterator[str]:
    """A loopback Binance USD-M sandbox on a synthetic market, served from its own thread
    (the command under test runs its own event loop)."""
    with serving("BTCUSDT", "usdm") as url:
        yield url


@contextlib.contextmanager
def serving(symbol: str, venue: str) -> Iterator[str]:
    """The loopback sandbox of ``venue`` trading ``symbol`` from its own thread; its URL."""
    inst = sim_instrument(symbol, venue)
    assert inst is not None
    market = SyntheticMarket(inst, seed=0, start_ns=time.time_ns()).events()
    server = SandboxExchange(inst, market, api_key="k", api_secret="s")
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = asyncio.Event()

    async def serve() -> None:
        async with server:
            started.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert started.wait(30)
    try:
        yield server.rest_url
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)


def test_sync_caches_what_the_sandbox_lists_with_its_grids(
    sandbox_url: str, catalog_folder: Path
) -> None:
    r = cli("sync", "--venue", "usdm", "--rest-url", sandbox_url)

    assert r.exit_code == 0, r.output
    with urllib.request.urlopen(f"{sandbox_url}/fapi/v1/exchangeInfo") as answer:
        listed = {s["symbol"]: s for s in json.load(answer)["symbols"]}
    cat = load_catalog("usdm", catalog_folder)
    assert cat is not None
    assert set(cat.instruments) == set(listed)
    assert cat.source == sandbox_url
    for symbol, entry in listed.items():
        filters = {f["filterType"]: f for f in entry["filters"]}
        inst = cat.instruments[symbol]
        assert inst.tick_size == Decimal(filters["PRICE_FILTER"]["tickSize"])
        assert inst.lot_size == Decimal(filters["LOT_SIZE"]["stepSize"])
        assert inst.venue == "binanceusdm"
    n = len(listed)
    assert f"binanceusdm: {n} instrument{'s' if n != 1 else ''}, 0 skipped → " in r.stdout
    assert str(catalog_folder / "binanceusdm.json") in r.stdout


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sync_failure_names_the_venue_keeps_the_cache_and_exits_1(cached: Path) -> None:
    before = (cached / "binancecoinm.json").read_bytes()

    r = cli("sync", "--venue", "coinm", "--rest-url", f"http://127.0.0.1:{_closed_port()}")

    assert r.exit_code == 1
    assert one_error_line(r).startswith("error: binancecoinm: cannot fetch markets (")
    assert (cached / "binancecoinm.json").read_bytes() == before


def test_sync_refuses_a_venue_that_is_no_ccxt_exchange() -> None:
    r = cli("sync", "--venue", "nosuchx")

    assert r.exit_code == 2
    assert "--venue nosuchx: not a ccxt exchange" in one_error_line(r)


def test_list_fits_80_columns_and_says_how_old_each_catalog_is(cached: Path) -> None:
    r = cli("list")

    assert r.exit_code == 0, r.output
    lines = r.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert re.fullmatch(
        r"binancecoinm: 2 instruments, fetched \d+ (s|min|h) ago from built-in simulated exchange",
        lines[1],
    )
    rows = {tuple(line.split()[:3]): line.split() for line in lines[4:]}
    assert rows[("BTCUSD_PERP", "coinm", "inv")] == [
        "BTCUSD_PERP", "coinm", "inv", "perp", "0.1", "1", "1", "-", "100", "BTC"
    ]  # fmt: skip
    assert rows[("ETHUSDT", "usdm", "lin")][4:] == ["0.01", "0.001", "0.001", "20", "1", "USDT"]
    spot = ["0.01", "0.00000001", "0.00001", "5", "-", "USDT"]
    assert rows[("BTCUSDT", "spot", "spot")][3:] == spot


def test_list_search_matches_symbol_base_or_quote_in_any_case(cached: Path) -> None:
    eth = json.loads(cli("list", "--search", "eth", "--json").stdout)
    usd_coinm = json.loads(cli("list", "--search", "Usd", "--venue", "coinm", "--json").stdout)

    assert sorted((i["venue"], i["symbol"]) for i in eth) == [
        ("binance", "ETHUSDT"),
        ("binancecoinm", "ETHUSD_PERP"),
        ("binanceusdm", "ETHUSDT"),
    ]
    assert sorted(i["symbol"] for i in usd_coinm) == ["BTCUSD_PERP", "ETHUSD_PERP"]
    none = cli("list", "--search", "doge")
    assert none.exit_code == 0
    assert "no instrument matches 'doge'" in none.stdout


def test_show_names_the_units_of_an_inverse_contract(cached: Path) -> None:
    r = cli("show", "btcusd_perp")

    assert r.exit_code == 0, r.output
    out = r.stdout
    assert out.startswith("BTCUSD_PERP on binancecoinm, fetched ")
    assert "contract size   100 USD per contract" in out
    assert "sizes in        contracts of 100 USD" in out
    assert "min qty         1 contract\n" in out
    assert "min notional    none" in out
    assert "settle          BTC (PnL and fees in BTC)" in out


def test_show_json_is_the_instrument_spec(cached: Path) -> None:
    r = cli("show", "ETHUSD_PERP", "--json")

    assert r.exit_code == 0, r.output
    assert Instrument.from_spec(json.loads(r.stdout)) == sim_instrument("ETHUSD_PERP", "coinm")


def test_show_takes_usdm_first_and_names_the_other_venues(cached: Path) -> None:
    usdm = cli("show", "BTCUSDT")
    spot = cli("show", "BTCUSDT", "--venue", "spot")

    assert "type            linear perpetual" in usdm.stdout
    assert "also listed on spot (pick one with --venue)" in usdm.stdout
    assert "type            spot" in spot.stdout
    assert "lot step        0.00000001 BTC" in spot.stdout


def test_no_catalog_is_one_line_naming_the_sync_command() -> None:
    one = cli("list", "--venue", "usdm")
    any_ = cli("show", "BTCUSDT")

    assert one.exit_code == 2
    assert one_error_line(one) == (
        "error: no instrument catalog for binanceusdm yet; run `tradetui markets sync --venue usdm`"
    )
    assert any_.exit_code == 2
    assert one_error_line(any_) == "error: no instrument catalog yet; run `tradetui markets sync`"


def test_unknown_symbol_is_one_line_with_close_matches(cached: Path) -> None:
    r = cli("show", "ETHUSDX", "--venue", "usdm")

    assert r.exit_code == 2
    assert one_error_line(r) == (
        "error: no instrument 'ETHUSDX' in the cached catalog (binanceusdm); close matches: "
        "ETHUSDT; run `tradetui markets sync` if it was listed since"
    )


def test_a_damaged_cache_is_the_catalog_error_line(catalog_folder: Path) -> None:
    (catalog_folder / "binanceusdm.json").write_text('{"version": 1, "exchange": "x"}')

    r = cli("list")

    assert r.exit_code == 2
    line = one_error_line(r)
    assert "binanceusdm.json: damaged catalog" in line
    assert line.endswith("run `tradetui markets sync` to rebuild it")


def _parsed_usdm_markets() -> dict[str, dict[str, Any]]:
    import ccxt

    client = ccxt.binanceusdm()
    return {m["symbol"]: m for m in map(client.parse_market, listing_entries("usdm"))}


def test_sync_groups_skipped_markets_by_reason() -> None:
    markets_ = _parsed_usdm_markets()
    for name in ("XUSDT", "YUSDT"):
        bad = copy.deepcopy(markets_["BTC/USDT:USDT"])
        bad["precision"]["price"], bad["id"], bad["symbol"] = None, name, f"{name}:USDT"
        markets_[name] = bad
    gone = copy.deepcopy(markets_["ETH/USDT:USDT"])
    gone["active"], gone["id"] = False, "ZUSDT"
    markets_["ZUSDT"] = gone

    cat = catalog_from_markets("binanceusdm", markets_, 4, "http://x")
    text = markets.format_sync(markets.sync_report(cat, "/c/binanceusdm.json"))

    assert text.splitlines() == [
        "binanceusdm: 2 instruments, 3 skipped → /c/binanceusdm.json",
        "  skipped 2: the exchange does not say the tick size",
        "  skipped 1: not trading",
    ]


def _ticker_prices(url: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{url}/fapi/v2/ticker/price") as answer:
        return {row["symbol"]: float(row["price"]) for row in json.load(answer)}


def test_sync_caches_each_symbols_last_price_and_show_prints_it(
    sandbox_url: str, catalog_folder: Path
) -> None:
    r = cli("sync", "--venue", "usdm", "--rest-url", sandbox_url)
    after = _ticker_prices(sandbox_url)

    assert r.exit_code == 0, r.output
    assert "no last prices" not in r.stdout
    cat = load_catalog("usdm", catalog_folder)
    assert cat is not None
    assert set(cat.prices) == set(cat.instruments)
    for symbol in cat.instruments:
        cached = cat.price(symbol)
        assert cached is not None
        assert cached == pytest.approx(after[symbol], rel=0.01)  # the market moved since
    assert time.time_ns() - cat.prices_ns < 60e9
    shown = cli("show", "ETHUSDT")
    assert re.search(r"last price +[0-9.]+ USDT \(at the sync, \d+ s ago\)", shown.stdout)


def test_sync_without_prices_still_caches_the_instruments(
    sandbox_url: str, catalog_folder: Path
) -> None:
    fault = urllib.request.Request(
        f"{sandbox_url}/sandbox/faults?status=503&count=-1&only=GET%20/fapi/v2/ticker/price",
        method="POST",
    )
    urllib.request.urlopen(fault).close()

    r = cli("sync", "--venue", "usdm", "--rest-url", sandbox_url)

    assert r.exit_code == 0, r.output
    assert "  no last prices (" in r.stdout
    assert "Internal error; unable to process your request" in r.stdout
    cat = load_catalog("usdm", catalog_folder)
    assert cat is not None
    assert cat.instruments
    assert not cat.prices
    assert "last price" not in cli("show", "ETHUSDT").stdout


def test_a_sessions_refresh_keeps_the_synced_prices(catalog_folder: Path) -> None:
    synced = catalog_from_markets("binanceusdm", _parsed_usdm_markets(), 4, "http://x")
    synced.prices, synced.prices_ns = {"ETHUSDT": "2500.5"}, 123
    save_catalog(synced, catalog_folder)

    loaded = types.SimpleNamespace(  # what a live session's ccxt client holds after load_markets
        id="binanceusdm",
        precisionMode=4,
        markets=_parsed_usdm_markets(),
        urls={"api": {"fapiPublic": "http://y/fapi/v1"}},
    )
    assert cache_loaded_markets(loaded, catalog_folder) is not None
    cat = load_catalog("usdm", catalog_folder)
    assert cat is not None
    assert (cat.source, cat.price("ETHUSDT"), cat.prices_ns) == ("http://y", 2500.5, 123)


def test_sync_of_spot_reads_the_spot_listing_alone(catalog_folder: Path) -> None:
    # ccxt's Binance spot client also loads USD-M and COIN-M markets by default: against
    # Binance those would share the spot ids (BTCUSDT); against the spot sandbox, a 404.
    with serving("ETHUSDT", "spot") as url:
        r = cli("sync", "--venue", "spot", "--rest-url", url)

    assert r.exit_code == 0, r.output
    cat = load_catalog("spot", catalog_folder)
    assert cat is not None
    assert {i.kind.value for i in cat.instruments.values()} == {"spot"}
    assert set(cat.instruments) == {str(e["symbol"]) for e in listing_entries("spot")}
    assert set(cat.prices) == set(cat.instruments)


@pytest.mark.parametrize(
    ("name", "venue", "symbol"),
    [
        ("BTC/USD:BTC", "coinm", "BTCUSD_PERP"),
        ("eth/usd:eth", "coinm", "ETHUSD_PERP"),
        ("ETH/USDT:USDT", "usdm", "ETHUSDT"),
        ("ETH/USDT", "spot", "ETHUSDT"),
        ("BTC-USDT", "usdm", "BTCUSDT"),
        ("BTCUSD_PERP", "coinm", "BTCUSD_PERP"),
    ],
)
def test_the_catalog_finds_an_instrument_by_its_ccxt_unified_name(
    name: str, venue: str, symbol: str
) -> None:
    inst = sim_catalog(venue).get(name)
    assert inst is not None
    assert inst.symbol == symbol


@pytest.mark.parametrize(("name", "venue"), [("BTC/USD:BTC-250328", "coinm"), ("ETH/USDT", "usdm")])
def test_a_unified_name_of_another_contract_is_not_taken_for_the_perpetual(
    name: str, venue: str
) -> None:
    assert sim_catalog(venue).get(name) is None
