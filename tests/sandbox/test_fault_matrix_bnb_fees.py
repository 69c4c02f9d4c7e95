"""Issue 18's fault matrix, fees charged in BNB: with Binance USD-M's BNB fee discount on and
BNB in the futures wallet, every commission comes in BNB. The session must still pass the four
invariants, store each fee as charged (asset BNB, the exchange's amount) and count in its
summary exactly those amounts valued at BNB's price."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

import pytest

from tests.sandbox.matrix import (
    KEY,
    SECRET,
    assert_invariants,
    exchange_view,
    finish,
    headless,
    sandbox_process,
    session_env,
    spawn_tradetui,
)
from tradetui.sandbox.client import loopback_client

QUOTING = {"TRADETUI_STRATEGY__MAX_SPREAD_TICKS": "4", "TRADETUI_QUOTING__MIN_AGE_MS": "0"}
BNB_PRICE = 612.5


async def test_fees_charged_in_bnb_are_stored_as_charged_and_valued_at_bnb_price(
    tmp_path: Path,
) -> None:
    db = tmp_path / "live.db"
    flags = ("--fee-burn", "--bnb-balance", "3", "--bnb-price", str(BNB_PRICE))
    async with sandbox_process(*flags) as url:
        run = await headless(3, db, session_env(url, tmp_path, **QUOTING))
        view = await exchange_view(url)
        client = loopback_client(url, KEY, SECRET)
        try:
            trades = await client.fetch_my_trades("BTC/USDT:USDT")
        finally:
            await client.close()

    assert run.code == 0, run.err[-3000:]
    assert run.summary["fills"] > 0, run.err[-3000:]
    assert_invariants(run, view, [db])
    assert "BNB fee discount is on" in run.err

    # The exchange charged every fee in BNB (the wallet had plenty).
    charged = {str(t["id"]): t["info"]["commission"] for t in trades}
    assert {t["info"]["commissionAsset"] for t in trades} == {"BNB"}

    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT trade_id, fee_quote, fee_asset, charged_asset, charged_fee, charged_rate "
            "FROM fills"
        ).fetchall()
    assert rows
    for trade_id, fee_quote, fee_asset, charged_asset, charged_fee, rate in rows:
        assert (fee_asset, charged_asset) == ("USDT", "BNB")
        assert charged_fee == charged[trade_id]  # exactly as the exchange stated it
        assert rate == BNB_PRICE
        assert fee_quote == pytest.approx(float(charged_fee) * BNB_PRICE, rel=1e-12)

    bnb_total = sum(float(c) for c in charged.values())
    summary = run.summary
    assert summary["fees_charged"] == {"BNB": pytest.approx(bnb_total, rel=1e-12)}
    assert summary["fees_unvalued"] == {}
    # Each valued fee is money in USDT, exact to 8 decimals (docs/units.md): half a unit of
    # the 8th decimal per fill at most.
    valued = summary["fees"] - summary["rebates"]
    assert valued == pytest.approx(bnb_total * BNB_PRICE, abs=len(rows) * 5e-9)

    # The stored session's report and the fills export show the fees as charged.
    env = {"TRADETUI_ENGINE__CONTROL_SOCKET": str(tmp_path / "ctl.sock")}
    report = await finish(await spawn_tradetui("report", "--db", str(db), "--json", env=env))
    assert report.code == 0, report.err
    assert report.summary["fees_charged"] == {"BNB": pytest.approx(bnb_total, rel=1e-12)}
    assert report.summary["fees_unvalued"] == {}
    export = await finish(
        await spawn_tradetui("fills", "--db", str(db), "--format", "json", env=env)
    )
    assert export.code == 0, export.err
    listed = {f["trade_id"]: (f["charged_fee"], f["charged_asset"]) for f in json.loads(export.out)}
    assert listed == {t: (c, "BNB") for t, c in charged.items()}
