"""``tradetui sandbox exchange`` runs standalone, serves ccxt and stops cleanly on Ctrl+C."""

from __future__ import annotations

import asyncio
import re
import signal

import ccxt.async_support as ccxt_async
import pytest

from tests.sandbox.conftest import SYMBOL
from tradetui.sandbox.client import loopback_client
from tradetui.sandbox.process import sandbox_url, spawn_sandbox


async def start(*flags: str) -> asyncio.subprocess.Process:
    return await spawn_sandbox(
        "--api-key",
        "cli-key-7f3a",
        "--api-secret",
        "cli-secret-9c2e",
        *flags,
        stderr=asyncio.subprocess.PIPE,
    )


async def base_url(proc: asyncio.subprocess.Process) -> str:
    return await sandbox_url(proc)


async def test_command_serves_ccxt_until_interrupted() -> None:
    proc = await start()
    assert proc.stdout is not None
    try:
        banner = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        url = re.search(r"http://127\.0\.0\.1:\d+", banner)
        assert url is not None, banner
        client = loopback_client(url.group(0), "cli-key-7f3a", "cli-secret-9c2e")
        try:
            markets = await client.load_markets()
            balance = await client.fetch_balance()
        finally:
            await client.close()
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = await asyncio.wait_for(proc.communicate(), 30)

    assert SYMBOL in markets
    assert balance["USDT"]["total"] == 10_000.0
    assert proc.returncode == 0
    assert b"stopped" in out
    assert b"cli-secret-9c2e" not in banner.encode() + out


async def test_skew_flag_makes_signed_calls_invalid_nonce() -> None:
    proc = await start("--skew-ms", "60000")
    try:
        client = loopback_client(await base_url(proc), "cli-key-7f3a", "cli-secret-9c2e")
        try:
            with pytest.raises(ccxt_async.InvalidNonce):
                await client.fetch_balance()
        finally:
            await client.close()
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), 30)

    assert proc.returncode == 0


async def test_fault_flags_apply_from_the_start() -> None:
    proc = await start("--fail", "418:1", "--reject", "2019:1")
    try:
        client = loopback_client(await base_url(proc), "cli-key-7f3a", "cli-secret-9c2e")
        try:
            with pytest.raises(ccxt_async.DDoSProtection, match="418"):
                await client.fetch_time()
            await client.load_markets()
            with pytest.raises(ccxt_async.InsufficientFunds):
                await client.create_order(SYMBOL, "limit", "buy", 0.01, 50_000.0)
        finally:
            await client.close()
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), 30)


async def test_faults_switch_on_while_running_through_the_fault_api() -> None:
    import aiohttp

    proc = await start()
    try:
        url = await base_url(proc)
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{url}/sandbox/faults?status=429&count=1") as resp:
                state = await resp.json()
            async with http.post(f"{url}/sandbox/faults?bogus=1") as bad:
                refused = (bad.status, await bad.json())
        client = loopback_client(url, "cli-key-7f3a", "cli-secret-9c2e")
        try:
            with pytest.raises(ccxt_async.DDoSProtection, match="429"):
                await client.fetch_time()
        finally:
            await client.close()
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), 30)

    assert (state["status"], state["count"]) == (429, 1)
    assert refused[0] == 400
    assert "unknown fault 'bogus'" in refused[1]["error"]


async def test_malformed_fault_flag_is_one_line_and_exit_2() -> None:
    proc = await start("--fail", "teapot")
    _, err = await asyncio.wait_for(proc.communicate(), 30)

    assert proc.returncode == 2
    assert b"--fail 'teapot': expected CODE[:COUNT]" in err


async def test_lose_flag_carries_the_placement_out_and_loses_its_answer() -> None:
    proc = await start("--lose", "503:1")
    try:
        client = loopback_client(await base_url(proc), "cli-key-7f3a", "cli-secret-9c2e")
        try:
            with pytest.raises(ccxt_async.OperationFailed, match="-1001"):
                await client.create_order(
                    SYMBOL, "limit", "buy", 0.01, 50_000.0, {"clientOrderId": "cli-lost-1"}
                )
            found = await client.fetch_order(None, SYMBOL, {"clientOrderId": "cli-lost-1"})
        finally:
            await client.close()
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.communicate(), 30)

    assert found["status"] == "open"
