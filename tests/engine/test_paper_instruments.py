"""Paper trading any listed instrument: from the catalog cache, else the simulated listing."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import statistics
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.instruments import btcusdt_perpetual, cache_unpriced_solusdt
from tradetui.cli import app
from tradetui.config import ConfigError, Settings, live_source, synthetic_source
from tradetui.core.clock import VirtualClock
from tradetui.core.types import BestBidOffer, Trade
from tradetui.engine.engine import Command, CommandKind
from tradetui.engine.runner import run_virtual, settle
from tradetui.engine.summary import session_summary
from tradetui.market.calibration import params_to_json
from tradetui.market.synthetic import SyntheticMarket, SyntheticParams
from tradetui.session import PaperSession, build_paper_session, sim_instrument, synthetic_params
from tradetui.venues.catalog import save_catalog
from tradetui.venues.sim_listing import sim_catalog

S = 1_000_000_000
T0 = 1_700_000_040 * S


def _settings(**market: Any) -> Settings:
    return Settings().replace("market", **market)


def _run(settings: Settings, seconds: int = 120) -> tuple[PaperSession, dict[str, Any]]:
    session = build_paper_session(settings, seed=3, virtual=True, start_ns=T0)
    clock = session.clock
    assert isinstance(clock, VirtualClock)
    session.engine.control(Command(CommandKind.START))
    run_virtual(session.engine, session.venue, clock, T0 + seconds * S)
    session.engine.control(Command(CommandKind.FLATTEN))
    settle(session.engine, session.venue, clock, 60 * S)
    return session, session_summary(session.engine, seconds)


def _market(settings: Settings, n: int = 20_000) -> list[Any]:
    inst = sim_instrument(settings)
    params = synthetic_params(settings, inst)
    return list(itertools.islice(SyntheticMarket(inst, params, seed=3, start_ns=T0).events(), n))


def test_the_default_console_market_is_the_btcusdt_market_of_before() -> None:
    before = SyntheticMarket(btcusdt_perpetual(), seed=3, start_ns=T0).events()

    assert _market(Settings()) == list(itertools.islice(before, 20_000))
    _, ours = _run(Settings())
    session = build_paper_session(
        Settings(),
        seed=3,
        virtual=True,
        start_ns=T0,
        events=SyntheticMarket(btcusdt_perpetual(), seed=3, start_ns=T0).events(),
    )
    assert session.venue.instrument.symbol == "BTCUSDT"
    clock = session.clock
    assert isinstance(clock, VirtualClock)
    session.engine.control(Command(CommandKind.START))
    run_virtual(session.engine, session.venue, clock, T0 + 120 * S)
    session.engine.control(Command(CommandKind.FLATTEN))
    settle(session.engine, session.venue, clock, 60 * S)
    theirs = session_summary(session.engine, 120)
    assert ours["fills"] > 0
    for key in ("fills", "orders_placed", "pnl_total", "volume_quote"):
        assert ours[key] == theirs[key], key


def test_ethusdt_from_the_catalog_trades_on_the_cached_grid_at_the_start_price(
    tmp_path: Path,
) -> None:
    cat = sim_catalog("usdm")
    # A cached listing that differs from the simulated one, so the cache is seen to win.
    eth = dataclasses.replace(cat.instruments["ETHUSDT"], tick_size=Decimal("0.05"))
    save_catalog(dataclasses.replace(cat, instruments={**cat.instruments, "ETHUSDT": eth}))
    settings = _settings(source="synthetic:ETHUSDT", start_price=2600.0)

    session, summary = _run(settings.replace("strategy", order_size=0.1))

    assert session.venue.instrument.tick_size == Decimal("0.05")
    assert summary["fills"] > 0
    bbos = [e for e in _market(settings) if isinstance(e, BestBidOffer)]
    mids = [(b.bid_ticks + b.ask_ticks) * 0.05 / 2 for b in bbos]
    assert min(mids) > 2500
    assert max(mids) < 2700


def test_btcusd_perp_from_the_listing_counts_sizes_in_contracts() -> None:
    settings = _settings(source="synthetic:coinm:BTCUSD_PERP")
    inst = sim_instrument(settings)
    trades = [e for e in _market(settings) if isinstance(e, Trade)]

    assert (inst.symbol, inst.inverse, inst.contract_size) == ("BTCUSD_PERP", True, Decimal(100))
    # The BTCUSDT median print of 0.016 BTC is about 989 USD: ten contracts of 100 USD.
    assert 5 <= statistics.median(t.qty_lots for t in trades) <= 20
    # Default settings: one contract a side, limits that price contracts as inverse.
    session, summary = _run(settings)
    assert summary["fills"] > 0
    assert session.engine.ledger.position_lots == 0


def test_a_venue_named_in_the_source_picks_that_venues_instrument() -> None:
    spot = sim_instrument(_settings(source="synthetic:spot:BTCUSDT"))
    usdm = sim_instrument(_settings(source="synthetic"))

    assert (spot.venue, spot.kind.value) == ("binance", "spot")
    assert (usdm.venue, usdm.kind.value) == ("binanceusdm", "perpetual")


def test_another_base_asset_with_no_price_known_is_refused_in_one_line() -> None:
    cache_unpriced_solusdt(Path(os.environ["TRADETUI_CATALOG_DIR"]))
    with pytest.raises(ConfigError) as err:
        build_paper_session(_settings(source="synthetic:SOLUSDT"), virtual=True)

    text = str(err.value)
    assert text.startswith("market.start_price: the synthetic market is calibrated to BTCUSDT")
    assert "bench/calibrate_synthetic.py FILE --out params.json" in text
    assert text.endswith("; `tradetui markets sync --venue usdm` caches it")
    assert "\n" not in text


def _mid(settings: Settings) -> float:
    inst = sim_instrument(settings)
    bbo = next(e for e in _market(settings, 2_000) if isinstance(e, BestBidOffer))
    return float(inst.price(bbo.bid_ticks + bbo.ask_ticks)) / 2


@pytest.mark.parametrize(
    ("source", "price"), [("synthetic:ETHUSDT", 2_684.0), ("synthetic:coinm:ETHUSD_PERP", 2_681.0)]
)
def test_another_base_asset_starts_at_the_simulated_listings_price(
    source: str, price: float, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", "tradetui.venues.sim_listing")
    assert _mid(_settings(source=source)) == pytest.approx(price, rel=0.002)
    assert "the simulated exchange's reference price" in caplog.text


def test_another_base_asset_starts_at_the_price_the_sync_cached() -> None:
    cat = sim_catalog("coinm")
    save_catalog(
        dataclasses.replace(cat, prices={"ETHUSD_PERP": "3120.55"}),
        Path(os.environ["TRADETUI_CATALOG_DIR"]),
    )

    assert _mid(_settings(source="synthetic:coinm:ETHUSD_PERP")) == pytest.approx(
        3120.55, rel=0.002
    )
    # A price in the config wins over both.
    stated = _settings(source="synthetic:coinm:ETHUSD_PERP", start_price=1_900.0)
    assert _mid(stated) == pytest.approx(1_900.0, rel=0.002)


def test_a_calibration_file_drives_the_synthetic_market(tmp_path: Path) -> None:
    eth = sim_instrument(_settings(source="synthetic:coinm:ETHUSD_PERP", start_price=2600.0))
    measured = dataclasses.replace(
        SyntheticParams(),
        venue="binancecoinm",
        symbol="ETHUSD_PERP",
        base="ETH",
        quote="USD",
        inverse=True,
        contract_size=10.0,
        start_price_quote=2650.0,
        mid_std_1s_quote=0.4,
    )
    path = tmp_path / "eth.json"
    path.write_text(json.dumps(params_to_json(measured)))
    settings = _settings(source="synthetic:coinm:ETHUSD_PERP", synthetic_params=str(path))

    first = _market(settings, 2)[0]

    assert synthetic_params(settings, eth) == measured
    assert first.bids[0][0] * float(eth.tick_size) == pytest.approx(2650.0, abs=0.1)


def test_unknown_paper_symbol_is_one_line_naming_markets_sync() -> None:
    r = CliRunner().invoke(
        app, ["run", "--headless", "--speed", "max", "--market", "synthetic:usdm:DOGEUSDT"]
    )

    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: market.source: no instrument 'DOGEUSDT' on binanceusdm ")
    assert "run `tradetui markets sync --venue usdm`" in lines[0]


def test_a_malformed_synthetic_source_is_refused_by_the_config() -> None:
    with pytest.raises(ConfigError, match=r"market.source: must be 'synthetic', 'synthetic:"):
        _settings(source="synthetic:coinm:")


@pytest.mark.parametrize(
    ("source", "parts"),
    [
        ("synthetic:BTCUSD_PERP", ("", "BTCUSD_PERP")),
        ("synthetic:coinm:BTCUSD_PERP", ("coinm", "BTCUSD_PERP")),
        # ccxt's unified names hold a colon of their own (BASE/QUOTE:SETTLE).
        ("synthetic:BTC/USD:BTC", ("", "BTC/USD:BTC")),
        ("synthetic:coinm:BTC/USD:BTC", ("coinm", "BTC/USD:BTC")),
        ("live:usdm:ETH/USDT:USDT", ("usdm", "ETH/USDT:USDT")),
    ],
)
def test_a_unified_symbol_keeps_its_settle_part(source: str, parts: tuple[str, str]) -> None:
    assert (synthetic_source(source) or live_source(source)) == parts


def test_a_unified_linear_symbol_paper_trades_its_instrument() -> None:
    r = CliRunner().invoke(
        app,
        [
            "run",
            "--headless",
            "--json",
            "--speed",
            "max",
            "--duration",
            "2",
            "--market",
            "synthetic:usdm:ETH/USDT:USDT",
        ],
        env={"TRADETUI_MARKET__START_PRICE": "2680"},
    )

    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    assert (summary["symbol"], summary["settle_asset"]) == ("ETHUSDT", "USDT")


def test_btcusd_perp_from_the_catalog_takes_the_cached_terms() -> None:
    cat = sim_catalog("coinm")
    cached = dataclasses.replace(cat.instruments["BTCUSD_PERP"], min_qty=Decimal(2))
    save_catalog(dataclasses.replace(cat, instruments={"BTCUSD_PERP": cached}))

    inst = sim_instrument(_settings(source="synthetic:coinm:BTCUSD_PERP"))
    other = sim_instrument(_settings(source="synthetic:coinm:ETHUSD_PERP", start_price=2600.0))

    assert (inst.min_qty, inst.min_qty_lots, inst.inverse) == (Decimal(2), 2, True)
    # A symbol the cache lacks still comes from the simulated exchange's listing.
    assert other == dataclasses.replace(
        cat.instruments["ETHUSD_PERP"],
        maker_fee_rate=other.maker_fee_rate,
        taker_fee_rate=other.taker_fee_rate,
    )
