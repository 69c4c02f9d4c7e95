"""A live session refreshes the instrument catalog from the markets it loads anyway."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from tests.sandbox.test_live_stream import open_venue
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.venues.catalog import load_catalog


async def test_connecting_writes_the_exchanges_markets_to_the_catalog(
    live_sandbox: SandboxExchange,
) -> None:
    venue, _ = await open_venue(live_sandbox)
    try:
        requests = list(live_sandbox.requests)
        cat = load_catalog("binanceusdm")
    finally:
        await venue.close()

    assert cat is not None
    assert cat.source == live_sandbox.rest_url
    assert cat.instruments["BTCUSDT"] == venue.instrument
    # The catalog costs no request of its own: exchangeInfo is fetched once, by load_markets.
    assert requests.count(("GET", "/fapi/v1/exchangeInfo")) == 1


async def test_an_unwritable_catalog_is_a_warning_and_the_session_still_connects(
    live_sandbox: SandboxExchange,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("TRADETUI_CATALOG_DIR", str(blocker / "markets"))
    caplog.set_level(logging.WARNING)

    venue, _ = await open_venue(live_sandbox)
    await venue.close()

    assert venue.instrument.symbol == "BTCUSDT"
    assert "instrument catalog not refreshed" in caplog.text
    assert "set TRADETUI_CATALOG_DIR to a writable folder" in caplog.text
    assert not Path(os.environ["TRADETUI_CATALOG_DIR"]).exists()
