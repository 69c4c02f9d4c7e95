"""A COIN-M day from the loopback archive: the shared ETHUSD_PERP capture published as Binance
publishes COIN-M archives (``futures/cm``; trades with ``base_qty``, the coin value, where
USD-M has ``quote_qty``), downloaded with ``data download --venue coinm`` and backtested in
contracts and ETH."""

from __future__ import annotations

import io
import json
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradetui.cli import app
from tradetui.sandbox.archive import ArchiveServer, publish_capture

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
COINM = DATA / "binance-coinm" / "ethusd_perp_20240808.gz"
pytestmark = [
    pytest.mark.usefixtures("simulated_catalogs"),
    pytest.mark.skipif(not COINM.exists(), reason=f"shared capture not found at {COINM}"),
]
DAY = "ETHUSD_PERP-{}-2024-08-08.zip"
NEXT_BOOK = "ETHUSD_PERP-bookTicker-2024-08-09.zip"  # the capture runs past midnight


def _rows(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as z:
        (name,) = z.namelist()
        return io.TextIOWrapper(z.open(name), "utf-8").read().splitlines()


def test_a_coinm_day_downloads_and_backtests_in_contracts_and_eth(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    published = {f.name for f in publish_capture(COINM, root, "coinm")}
    assert published == {DAY.format("bookTicker"), DAY.format("trades"), NEXT_BOOK}
    dest = tmp_path / "data"
    with ArchiveServer(root) as server:
        for days in (["2024-08-08"], ["2024-08-09", "--kind", "bookTicker"]):
            res = CliRunner().invoke(
                app,
                [
                    *("data", "download", "--venue", "coinm", "--symbol", "ETHUSD_PERP"),
                    *("--base-url", server.url, "--dest", str(dest), "--from", *days),
                ],
            )
            assert res.exit_code == 0, res.output
    trades = dest / "data/futures/cm/daily/trades/ETHUSD_PERP" / DAY.format("trades")
    rows = _rows(trades)
    # Binance's COIN-M trades: qty in contracts, base_qty its coin value (10 USD / price each).
    assert rows[0] == "id,price,qty,base_qty,time,is_buyer_maker"
    _id, price, qty, base_qty, _t, _m = rows[1].split(",")
    assert Decimal(base_qty) == (Decimal(qty) * 10 / Decimal(price)).quantize(Decimal("1e-8"))
    files = sorted(dest.rglob("*.zip"))
    res = CliRunner().invoke(app, ["backtest", *map(str, files), "--json", "--no-cache"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.output)
    assert (r["symbol"], r["size_unit"], r["settle_asset"]) == ("ETHUSD_PERP", "contracts", "ETH")
    assert r["instrument_source"] == "catalog"
    # Every bookTicker and trade of the capture was published and replayed.
    assert r["data"]["messages"] == {"bookTicker": 15_812, "trade": 1_732}
    assert r["data"]["issues"] == 0
    assert r["fills"] > 0


def test_a_symbol_with_no_archive_names_the_listed_ones_close_to_it(tmp_path: Path) -> None:
    # BTCUSD is no COIN-M symbol (the perpetual is BTCUSD_PERP): every file answers 404, and
    # the error line says which listed symbols are close (the catalog's, synced or simulated).
    root = tmp_path / "archive"
    publish_capture(COINM, root, "coinm")
    with ArchiveServer(root) as server:
        res = CliRunner().invoke(
            app,
            [
                *("data", "download", "--venue", "coinm", "--symbol", "BTCUSD"),
                *("--from", "2024-08-08", "--base-url", server.url, "--dest", str(tmp_path)),
            ],
        )
    assert res.exit_code == 1
    (error,) = [ln for ln in res.output.splitlines() if ln.startswith("error: ")]
    assert error.startswith("error: 2 of 2 file(s) not downloaded; first: BTCUSD-bookTicker-")
    assert error.endswith(
        "; no file of BTCUSD is published: is the symbol right? binancecoinm lists BTCUSD_PERP"
    )
