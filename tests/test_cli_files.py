"""Recorded files of any instrument from the command line: the instrument from the recording,
the catalog or flags, COIN-M captures, and refusals that are one line and a non-zero exit."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.market.test_feed_recorder import ThreadedSandbox
from tests.sandbox.conftest import KEY, SECRET
from tradetui.cli import app
from tradetui.commands.record import LIVE_VENUES, live_instrument
from tradetui.core.instrument import Instrument
from tradetui.market.files import read_lines, recorded_instrument
from tradetui.market.recorder import CaptureEncoder, CaptureWriter, record_events
from tradetui.market.synthetic import SyntheticMarket
from tradetui.sandbox.client import loopback_client
from tradetui.venues.binance_stream import BinanceStreamFeed
from tradetui.venues.catalog import Catalog, load_catalog, save_catalog, sync_catalog
from tradetui.venues.sim_listing import sim_catalog, sim_instrument

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
COINM = DATA / "binance-coinm" / "ethusd_perp_20240808.gz"
needs_coinm = pytest.mark.skipif(
    not COINM.exists(), reason=f"shared COIN-M capture not found at {COINM}"
)
# Files here find their instrument in the simulated exchanges' catalog.
pytestmark = pytest.mark.usefixtures("simulated_catalogs")
ETHUSDT = sim_instrument("ETHUSDT", "usdm")
BTCUSD_PERP = sim_instrument("BTCUSD_PERP", "coinm")
T0_NS = 1_700_000_000 * 1_000_000_000
FIX = "--tick-size/--lot-size/--contract-size/--inverse"


def cli(args: list[str], catalogs: Path) -> tuple[int, str]:
    """Run the CLI with ``catalogs`` as the only instrument catalog cache."""
    res = CliRunner().invoke(app, args, env={"TRADETUI_CATALOG_DIR": str(catalogs)})
    return res.exit_code, res.output


def one_error_line(code: int, out: str) -> str:
    assert code == 2, out
    assert out.count("\n") == 1, out
    assert out.startswith("error: ")
    return out.removeprefix("error: ").rstrip("\n")


def without_instrument_line(src: Path, dst: Path, keep: int | None = None) -> Path:
    """``src`` as another collector writes it (no instrument line), first ``keep`` lines."""
    lines = [ln for ln in read_lines(src, lambda _n, _m: None) if b' {"tradetui":' not in ln]
    with gzip.open(dst, "wb") as f:
        f.write(b"".join(ln + b"\n" for ln in lines[:keep]))
    return dst


async def _sync(rest_url: str, exchange: str = "binanceusdm") -> Catalog:
    client = loopback_client(rest_url, KEY, SECRET, exchange=exchange)
    try:
        return await sync_catalog(client)
    finally:
        await client.close()


@pytest.fixture(scope="module")
def ethusdt(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the USD-M ETHUSDT recording of the sandbox, the catalog folder synced from it)."""
    assert ETHUSDT is not None
    root = tmp_path_factory.mktemp("ethusdt")
    catalogs = root / "catalogs"
    with ThreadedSandbox(ETHUSDT) as server:
        save_catalog(asyncio.run(_sync(server.rest_url)), catalogs)
        port = server.port
        args = ["record", "--venue", "usdm", "--symbol", "ETHUSDT", "--out", str(root / "rec")]
        args += ["--ws-url", f"ws://127.0.0.1:{port}", "--rest-url", server.rest_url]
        code, out = cli([*args, "--duration", "2"], catalogs)
    assert code == 0, out
    files = sorted((root / "rec").glob("binanceusdm_ethusdt_*.gz"))
    assert len(files) == 1
    return files[0], catalogs


@pytest.fixture(scope="module")
def coinm_sandbox(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(a COIN-M BTCUSD_PERP recording of the sandbox without our instrument line, the catalog
    folder synced from that sandbox: BTCUSD_PERP and ETHUSD_PERP as it lists them)."""
    assert BTCUSD_PERP is not None
    root = tmp_path_factory.mktemp("coinm-sandbox")
    catalogs = root / "catalogs"
    with ThreadedSandbox(BTCUSD_PERP) as server:
        save_catalog(asyncio.run(_sync(server.rest_url, "binancecoinm")), catalogs)
        port = server.port
        args = ["record", "--venue", "coinm", "--symbol", "BTCUSD_PERP", "--out", str(root / "rec")]
        args += ["--ws-url", f"ws://127.0.0.1:{port}", "--rest-url", server.rest_url]
        code, out = cli([*args, "--duration", "3"], catalogs)
    assert code == 0, out
    files = sorted((root / "rec").glob("binancecoinm_btcusd_perp_*.gz"))
    assert len(files) == 1
    return without_instrument_line(files[0], root / "btcusd_perp_sandbox.gz"), catalogs


def coinm_capture(out: Path, inst: Instrument) -> Path:
    """A synthetic COIN-M market recorded in the capture format, as Binance's COIN-M streams."""
    encoder = CaptureEncoder(inst)
    market = SyntheticMarket(inst, seed=7, start_ns=T0_NS).events()
    with CaptureWriter(out, "coinm", encoder.snapshot, instrument=inst) as writer:
        record_events(market, encoder, writer, T0_NS + 20 * 1_000_000_000)
    return writer.files[0]


@pytest.fixture(scope="module")
def btcusd_perp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A COIN-M BTCUSD_PERP capture without our instrument line (as a Binance collector's)."""
    assert BTCUSD_PERP is not None
    root = tmp_path_factory.mktemp("coinm")
    ours = coinm_capture(root, BTCUSD_PERP)
    return without_instrument_line(ours, root / "btcusd_perp_capture.gz")


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    folder = tmp_path / "no-catalog"
    folder.mkdir()
    return folder


# ---- the instrument: catalog, recording, flags ------------------------------------------------


def test_usdm_ethusdt_capture_checks_and_backtests_with_only_the_sandbox_catalog(
    ethusdt: tuple[Path, Path], tmp_path: Path
) -> None:
    recording, catalogs = ethusdt
    foreign = without_instrument_line(recording, tmp_path / "ethusdt_capture.gz")
    code, out = cli(["data", "check", str(foreign), "--json"], catalogs)
    assert code == 0, out
    r = json.loads(out)
    assert r["instrument"]["source"] == "catalog"
    assert (r["symbol"], r["instrument"]["venue"]) == ("ETHUSDT", "binanceusdm")
    assert r["bbo_agreement"]["agree_fraction"] == 1.0
    assert r["bbo_agreement"]["comparable"] > 100
    code, out = cli(["backtest", str(foreign), "--json", "--no-cache"], catalogs)
    assert code == 0, out
    bt = json.loads(out)
    assert (bt["symbol"], bt["instrument_source"]) == ("ETHUSDT", "catalog")
    assert bt["market_events"] > 100


def test_our_recording_backtests_with_an_empty_catalog_folder(
    ethusdt: tuple[Path, Path], empty: Path
) -> None:
    recording, catalogs = ethusdt
    synced = load_catalog("usdm", catalogs)
    assert synced is not None
    assert recorded_instrument(recording) == synced.get("ETHUSDT")
    code, out = cli(["data", "check", str(recording), "--json"], empty)
    assert code == 0, out
    assert json.loads(out)["instrument"]["source"] == "recording"
    code, out = cli(["backtest", str(recording), "--json", "--no-cache"], empty)
    assert code == 0, out
    assert json.loads(out)["instrument_source"] == "recording"


def test_flags_alone_describe_the_instrument(ethusdt: tuple[Path, Path], empty: Path) -> None:
    foreign = without_instrument_line(ethusdt[0], empty.parent / "flags.gz")
    flags = ["--tick-size", "0.01", "--lot-size", "0.001"]
    code, out = cli(["data", "check", str(foreign), "--json", *flags], empty)
    assert code == 0, out
    r = json.loads(out)
    assert r["instrument"]["source"] == "flags"
    spec = r["instrument"]
    assert (spec["base"], spec["quote"], spec["venue"], spec["inverse"]) == (
        "ETH",
        "USDT",
        "binanceusdm",
        False,
    )
    assert r["bbo_agreement"]["agree_fraction"] == 1.0


# ---- COIN-M captures ------------------------------------------------------------------------


def test_recording_coinm_subscribes_coinm_streams_and_the_dapi_snapshot() -> None:
    inst = live_instrument("coinm", "BTCUSD_PERP")
    ws, rest = LIVE_VENUES["binancecoinm"]
    feed = BinanceStreamFeed(inst, ws_url=ws, rest_url=rest)
    assert feed.url == (
        "wss://dstream.binance.com/stream?streams="
        "btcusd_perp@depth@0ms/btcusd_perp@bookTicker/btcusd_perp@trade"
    )
    assert (
        feed.snapshot_url == "https://dapi.binance.com/dapi/v1/depth?symbol=BTCUSD_PERP&limit=1000"
    )


def test_record_coinm_asks_the_dapi_depth_endpoint(tmp_path: Path) -> None:
    args = ["record", "--venue", "coinm", "--symbol", "BTCUSD_PERP", "--out", str(tmp_path)]
    res = CliRunner().invoke(app, [*args, "--rest-url", "http://127.0.0.1:9"])
    msg = one_error_line(res.exit_code, res.output)
    assert msg.startswith("--rest-url: cannot reach http://127.0.0.1:9/dapi/v1/depth")


def test_coinm_recording_uses_coinm_stream_names_and_snapshot(btcusd_perp: Path) -> None:
    lines = list(itertools.islice(read_lines(btcusd_perp, lambda _n, _m: None), 400))
    body = lines[0].split(b" ", 1)[1]
    assert body.startswith(b'{"lastUpdateId"')
    assert b'"symbol":"BTCUSD_PERP","pair":"BTCUSD"' in body
    streams = {m.group(1) for ln in lines if (m := re.search(rb'"stream":"([^"]+)"', ln))}
    assert streams == {b"btcusd_perp@depth@0ms", b"btcusd_perp@bookTicker", b"btcusd_perp@trade"}
    assert all(b'"ps":"BTCUSD"' in ln for ln in lines if b"@depth" in ln)


def test_coinm_capture_is_recognised_and_checked_with_the_catalog(btcusd_perp: Path) -> None:
    catalogs = btcusd_perp.parent / "catalogs"
    save_catalog(sim_catalog("coinm"), catalogs)
    code, out = cli(["data", "check", str(btcusd_perp), "--json"], catalogs)
    assert code == 0, out
    r = json.loads(out)
    assert (r["symbol"], r["instrument"]["inverse"], r["instrument"]["contract_size"]) == (
        "BTCUSD_PERP",
        True,
        "100",
    )
    assert r["bbo_agreement"]["agree_fraction"] == 1.0
    # Default settings: one contract a side, limits that price contracts as inverse.
    code, out = cli(["backtest", str(btcusd_perp), "--json", "--no-cache"], catalogs)
    assert code == 0, out
    bt = json.loads(out)
    assert (bt["symbol"], bt["instrument_source"]) == ("BTCUSD_PERP", "catalog")
    assert bt["fills"] > 0
    assert bt["settle_asset"] == "BTC"


def test_coinm_flags_take_inverse_from_the_venue(btcusd_perp: Path, empty: Path) -> None:
    flags = ["--tick-size", "0.1", "--lot-size", "1", "--contract-size", "100"]
    code, out = cli(["data", "check", str(btcusd_perp), "--json", *flags], empty)
    assert code == 0, out
    spec = json.loads(out)["instrument"]
    assert (spec["inverse"], spec["settle"], spec["venue"]) == (True, "BTC", "binancecoinm")


def test_coinm_sandbox_recording_checks_and_backtests_with_only_the_sandbox_catalog(
    coinm_sandbox: tuple[Path, Path],
) -> None:
    recording, catalogs = coinm_sandbox
    assert {c.exchange for c in [load_catalog("coinm", catalogs)] if c} == {"binancecoinm"}
    code, out = cli(["data", "check", str(recording), "--json"], catalogs)
    assert code == 0, out
    r = json.loads(out)
    assert r["instrument"]["source"] == "catalog"
    assert (r["symbol"], r["instrument"]["inverse"]) == ("BTCUSD_PERP", True)
    assert r["bbo_agreement"]["agree_fraction"] == 1.0
    assert r["bbo_agreement"]["comparable"] > 10
    code, out = cli(["backtest", str(recording), "--json", "--no-cache"], catalogs)
    assert code == 0, out
    bt = json.loads(out)
    assert (bt["symbol"], bt["instrument_source"], bt["settle_asset"]) == (
        "BTCUSD_PERP",
        "catalog",
        "BTC",
    )
    assert bt["market_events"] > 100


@needs_coinm
def test_shared_coinm_capture_checks_and_backtests_with_the_sandbox_catalog(
    coinm_sandbox: tuple[Path, Path],
) -> None:
    _, catalogs = coinm_sandbox
    code, out = cli(["data", "check", str(COINM), "--json"], catalogs)
    assert code == 0, out
    r = json.loads(out)
    assert r["symbol"] == "ETHUSD_PERP"
    assert r["snapshots"] == 1  # line 27, after 26 buffered diffs
    assert r["gaps"] == 0
    assert r["bbo_agreement"]["agree_fraction"] == 1.0
    assert r["bbo_agreement"]["comparable"] > 1000
    code, out = cli(["backtest", str(COINM), "--json"], catalogs)
    assert code == 0, out
    bt = json.loads(out)
    assert (bt["symbol"], bt["instrument_source"]) == ("ETHUSD_PERP", "catalog")
    assert bt["fills"] > 0
    assert bt["settle_asset"] == "ETH"


# ---- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [["data", "check"], ["backtest", "--json"]])
def test_no_instrument_says_which_command_or_flag_fixes_it(
    ethusdt: tuple[Path, Path], btcusd_perp: Path, empty: Path, command: list[str]
) -> None:
    foreign = without_instrument_line(ethusdt[0], empty.parent / "ethusdt_x.gz")
    msg = one_error_line(*cli([*command, str(foreign)], empty))
    assert msg == (
        f"{foreign}: no instrument for usdm:ETHUSDT; run `tradetui markets sync --venue usdm` "
        f"or pass {FIX}"
    )
    msg = one_error_line(*cli([*command, str(btcusd_perp)], empty))
    assert msg == (
        f"{btcusd_perp}: no instrument for coinm:BTCUSD_PERP; run `tradetui markets sync "
        f"--venue coinm` or pass {FIX}"
    )


def test_paper_replay_without_an_instrument_names_the_sync(
    ethusdt: tuple[Path, Path], empty: Path
) -> None:
    foreign = without_instrument_line(ethusdt[0], empty.parent / "ethusdt_paper.gz")
    args = ["run", "--headless", "--market", f"replay:{foreign}", "--db", str(empty / "p.db")]
    code, out = cli(args, empty)
    msg = one_error_line(code, out)
    assert msg.endswith(
        f"{foreign}: no instrument for usdm:ETHUSDT; run `tradetui markets sync --venue usdm`"
    )


def test_inverse_flags_without_a_contract_size_are_refused(btcusd_perp: Path, empty: Path) -> None:
    flags = ["--tick-size", "0.1", "--lot-size", "1"]
    msg = one_error_line(*cli(["data", "check", str(btcusd_perp), *flags], empty))
    assert msg.startswith("--contract-size: needed for the inverse BTCUSD_PERP")


@pytest.mark.parametrize(
    ("flags", "value"),
    [
        (["--tick-size", "0.1", "--lot-size", "0.001"], "not a multiple of 0.1"),
        (["--lot-size", "0.01"], "not a multiple of 0.01"),
    ],
)
def test_flags_that_contradict_the_data_are_refused_at_the_line(
    ethusdt: tuple[Path, Path], flags: list[str], value: str
) -> None:
    recording, catalogs = ethusdt
    for command in (["data", "check"], ["backtest", "--json", "--no-cache"]):
        msg = one_error_line(*cli([*command, str(recording), *flags], catalogs))
        assert re.fullmatch(
            rf"{re.escape(str(recording))}:\d+: [0-9.]+ is {value}; the --tick-size/"
            r"--lot-size given contradict the data",
            msg,
        ), msg


def test_data_of_another_symbol_is_refused_not_skipped(
    ethusdt: tuple[Path, Path], btcusd_perp: Path, tmp_path: Path
) -> None:
    # The COIN-M book taken as USD-M BTCUSDT used to end in 0 fills and "0 issues".
    catalogs = tmp_path / "catalogs"
    for venue in ("usdm", "coinm"):
        save_catalog(sim_catalog(venue), catalogs)
    for command in (["data", "check"], ["backtest", "--json"]):
        msg = one_error_line(
            *cli([*command, str(btcusd_perp), "--symbol", "ETHUSD_PERP"], catalogs)
        )
        assert msg == (
            f"{btcusd_perp}:1: the data is BTCUSD_PERP, not ETHUSD_PERP; pass --symbol "
            "BTCUSD_PERP (or give only files of one market)"
        )
        msg = one_error_line(
            *cli([*command, str(btcusd_perp), "--venue", "usdm", "--symbol", "BTCUSDT"], catalogs)
        )
        assert msg == (
            f"{btcusd_perp}: the data is coinm (its messages show it), not --venue usdm; "
            "leave --venue out"
        )
    recording, _ = ethusdt
    msg = one_error_line(*cli(["data", "check", str(recording), "--symbol", "BTCUSDT"], catalogs))
    assert msg == (
        f"{recording}: recorded ETHUSDT (its instrument line), not --symbol BTCUSDT; leave "
        "--symbol out or give files of BTCUSDT"
    )


def test_a_run_over_no_market_data_is_an_error(ethusdt: tuple[Path, Path], tmp_path: Path) -> None:
    recording, catalogs = ethusdt
    snapshot_only = without_instrument_line(recording, tmp_path / "ethusdt_head.gz", keep=1)
    for command in (["data", "check"], ["backtest", "--json"]):
        msg = one_error_line(*cli([*command, str(snapshot_only)], catalogs))
        assert msg.startswith(f"no market data in {snapshot_only} (read: snapshot 1; 0 issue(s)")


def test_a_damaged_instrument_line_is_refused_at_line_one(
    ethusdt: tuple[Path, Path], tmp_path: Path
) -> None:
    lines = list(read_lines(ethusdt[0], lambda _n, _m: None))
    stamp = lines[0].split(b" ", 1)[0]
    lines[0] = stamp + b' {"tradetui":{"instrument":{"symbol":"ETHUSDT"}}}'
    damaged = tmp_path / "damaged.gz"
    damaged.write_bytes(gzip.compress(b"".join(ln + b"\n" for ln in lines)))
    msg = one_error_line(*cli(["data", "check", str(damaged)], ethusdt[1]))
    assert msg == (
        f"{damaged}:1: damaged instrument line (instrument spec: tick_size is missing); "
        "delete that line to read the file with the catalog or flags"
    )
