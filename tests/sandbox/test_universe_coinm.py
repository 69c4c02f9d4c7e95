"""Many symbols on a COIN-M sandbox: the synthetic listing entries are inverse perpetuals as
Binance's COIN-M exchangeInfo has them (``XXXUSD_PERP``, pair ``XXXUSD``, contracts of 10 USD,
margined in the coin), the real ccxt binancecoinm client loads them, their streams speak
COIN-M (``ps``, quantities in whole contracts, the 24 h volume in contracts and in the coin),
and ``tradetui screen --venue binancecoinm`` reports every one."""

from __future__ import annotations

import json
from decimal import Decimal

from tests.sandbox.conftest import KEY, SECRET, rest_client, still_market
from tests.sandbox.test_screener import screen_json
from tests.sandbox.test_universe import _Recorder
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.sandbox.universe import Universe, UniverseSpec, universe_entries
from tradetui.venues.catalog import catalog_from_markets
from tradetui.venues.sim_listing import listed_instrument, listing_entries

BTCUSD = listed_instrument("BTCUSD_PERP", "binancecoinm")
SYMBOLS = 60


async def test_ccxt_binancecoinm_loads_the_synthetic_inverse_perpetuals() -> None:
    server = SandboxExchange(
        BTCUSD,
        still_market(),
        api_key=KEY,
        api_secret=SECRET,
        initial_balance=Decimal(1),
        universe=UniverseSpec(SYMBOLS),
    )
    async with server, rest_client(server, "binancecoinm") as client:
        markets = await client.load_markets()
        catalog = catalog_from_markets("binancecoinm", markets, client.precisionMode, "sandbox")

    assert len(markets) == SYMBOLS
    synthetic = [m for m in markets.values() if m["id"] not in ("BTCUSD_PERP", "ETHUSD_PERP")]
    assert len(synthetic) == SYMBOLS - 2
    for m in synthetic:
        base = m["base"]
        assert m["id"] == f"{base}USD_PERP", m["id"]
        assert m["symbol"] == f"{base}/USD:{base}"
        assert (m["swap"], m["inverse"], m["linear"], m["settle"]) == (True, True, False, base)
        assert m["contractSize"] == 10.0
        assert m["info"]["pair"] == f"{base}USD"
        assert m["info"]["contractType"] == "PERPETUAL"
        assert m["info"]["marginAsset"] == base
        assert m["limits"]["amount"]["min"] == 1.0  # one contract
        assert m["limits"]["cost"]["min"] is None  # COIN-M lists no MIN_NOTIONAL
    assert catalog.skipped == {}
    assert len(catalog.instruments) == SYMBOLS
    for inst in catalog.instruments.values():
        assert inst.inverse
        assert inst.lot_size == 1
        assert inst.contract_size == (100 if inst.symbol == "BTCUSD_PERP" else 10)
        assert inst.margin_asset == inst.base


def test_coinm_streams_count_whole_contracts_and_the_24h_volume_in_contracts_and_coin() -> None:
    listed = listing_entries("binancecoinm")
    entries = listed + universe_entries(listed, UniverseSpec(20), inverse=True)
    u0 = Universe(BTCUSD, entries, UniverseSpec(20), _Recorder(set()), 0)  # type: ignore[arg-type]
    name = u0.symbols[-1]
    wanted = {f"{name.lower()}@trade", f"{name.lower()}@aggTrade", "!ticker@arr"}
    hub = _Recorder(wanted)
    u = Universe(BTCUSD, entries, UniverseSpec(20, trade_hz=400.0), hub, 0)  # type: ignore[arg-type]
    for step in range(1, 31):  # 3 s
        u.advance(step * 100_000_000, 0)

    sent = [json.loads(text) for text, _, _ in hub.sent]
    trades = [m for m in sent if isinstance(m, dict) and m["e"] in ("trade", "aggTrade")]
    assert trades
    assert all(m["q"].isdigit() and int(m["q"]) >= 1 for m in trades)  # whole contracts
    tickers = [t for m in sent if isinstance(m, list) for t in m]
    mine = [t for t in tickers if t["s"] == name]
    assert mine
    for t in mine:
        assert t["ps"] == name.removesuffix("_PERP")
        contracts, coin, vwap = float(t["v"]), float(t["q"]), float(t["w"])
        assert t["v"].isdigit()
        # v contracts of 10 USD are worth q coins at the average price w.
        assert abs(contracts * 10 / coin - vwap) <= 1e-6 * vwap + float(t["w"]) * 1e-3
    assert all("ps" in t for t in tickers)


async def test_screen_reports_every_symbol_of_a_coinm_sandbox() -> None:
    report = await screen_json(
        ["--venue", "coinm", "--symbols", str(SYMBOLS)], ["--venue", "binancecoinm"]
    )
    assert report["symbols"] == SYMBOLS
    rows = report["rows"]
    assert len(rows) == SYMBOLS
    assert all(r["symbol"].endswith("USD_PERP") for r in rows), [r["symbol"] for r in rows]
    for row in rows:
        for key in ("spread_ticks", "spread_bps", "vol_1m_bps", "trades_per_min", "mm_net_bps",
                    "quote_volume"):  # fmt: skip
            assert row[key] is not None, row
