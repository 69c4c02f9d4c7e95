"""Which instrument recorded files are of: venue and symbol from content and folders, the
catalog lookup, instruments from flags, and tardis rows of another symbol."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tradetui.core.instrument import InstrumentKind
from tradetui.market.files import ReplayError
from tradetui.market.instruments import InstrumentFlags, infer_instrument, split_symbol
from tradetui.market.replay import replay_events
from tradetui.venues.catalog import save_catalog
from tradetui.venues.sim_listing import sim_catalog

TARDIS_HEAD = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n"
BOOK_TICKER_ROW = "1,2682.17,159,2682.18,3794,1723161257450,1723161257457\n"


def tardis_trades(path: Path, exchange: str, *symbols: str) -> Path:
    rows = [
        f"{exchange},{s},172316125600{i}000,172316125600{i}500,{i},buy,2682.18,1"
        for i, s in enumerate(symbols, 1)
    ]
    path.write_text(TARDIS_HEAD + "\n".join(rows) + "\n")
    return path


@pytest.fixture
def catalogs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "catalogs"
    for venue in ("usdm", "coinm", "spot"):
        save_catalog(sim_catalog(venue), folder)
    monkeypatch.setenv("TRADETUI_CATALOG_DIR", str(folder))
    return folder


def test_tardis_delivery_files_are_coinm(tmp_path: Path, catalogs: Path) -> None:
    path = tardis_trades(tmp_path / "trades.csv", "binance-delivery", "ETHUSD_PERP")
    found = infer_instrument([path])
    assert (found.instrument.venue, found.instrument.inverse) == ("binancecoinm", True)
    assert found.source == "catalog"


def test_binance_cm_archive_folders_are_coinm(tmp_path: Path, catalogs: Path) -> None:
    folder = tmp_path / "data" / "futures" / "cm" / "daily" / "bookTicker"
    folder.mkdir(parents=True)
    path = folder / "ETHUSD_PERP-bookTicker-2024-08-08.csv"
    path.write_text("update_id,best_bid_price,best_bid_qty,best_ask_price\n" + BOOK_TICKER_ROW)
    inst = infer_instrument([path]).instrument
    assert (inst.symbol, inst.venue, inst.contract_size) == (
        "ETHUSD_PERP",
        "binancecoinm",
        Decimal(10),
    )


def test_a_symbol_listed_on_several_venues_needs_the_venue(tmp_path: Path, catalogs: Path) -> None:
    path = tmp_path / "x" / "ETHUSDT-trades-2024-08-08.csv"
    path.parent.mkdir()
    path.write_text("1,2682.18,0.5,1341.09,1723161257450,true\n")
    with pytest.raises(ReplayError, match=r"ETHUSDT is listed on spot, usdm; pass --venue"):
        infer_instrument([path])
    assert infer_instrument([path], InstrumentFlags(venue="spot")).instrument.kind is (
        InstrumentKind.SPOT
    )


def test_tardis_rows_of_another_symbol_are_refused_at_their_line(
    tmp_path: Path, catalogs: Path
) -> None:
    path = tardis_trades(tmp_path / "t.csv", "binance-delivery", "ETHUSD_PERP", "BTCUSD_PERP")
    inst = infer_instrument([path]).instrument
    with pytest.raises(ReplayError, match=rf"^{path}:3: the data is BTCUSD_PERP, not ETHUSD_PERP"):
        list(replay_events([path], inst))


def test_flags_override_one_field_of_the_catalog_instrument(tmp_path: Path, catalogs: Path) -> None:
    path = tardis_trades(tmp_path / "t.csv", "binance-delivery", "ETHUSD_PERP")
    found = infer_instrument([path], InstrumentFlags(contract_size=Decimal(20)))
    assert (found.source, found.instrument.contract_size, found.instrument.tick_size) == (
        "catalog+flags",
        Decimal(20),
        Decimal("0.01"),
    )
    assert not found.strict_grid


@pytest.mark.parametrize(
    ("symbol", "assets"),
    [
        ("ETHUSDT", ("ETH", "USDT")),
        ("BTCUSD_PERP", ("BTC", "USD")),
        ("ETHUSD_240927", ("ETH", "USD")),
        ("ETHBTC", ("ETH", "BTC")),
        ("USDT", None),
    ],
)
def test_symbols_split_into_base_and_quote(symbol: str, assets: tuple[str, str] | None) -> None:
    assert split_symbol(symbol) == assets


def test_a_delivery_contract_from_flags_is_a_dated_inverse_future(tmp_path: Path) -> None:
    path = tardis_trades(tmp_path / "t.csv", "binance-delivery", "ETHUSD_240927")
    flags = InstrumentFlags(
        tick_size=Decimal("0.01"), lot_size=Decimal(1), contract_size=Decimal(10)
    )
    found = infer_instrument([path], flags)
    inst = found.instrument
    assert (inst.kind, inst.inverse, inst.settle, inst.venue) == (
        InstrumentKind.FUTURE,
        True,
        "ETH",
        "binancecoinm",
    )
    assert found.strict_grid
