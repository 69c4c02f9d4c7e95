"""Sandbox exchange on loopback with the real ccxt client (prints one JSON object).

Measures, on the synthetic market advancing on the wall clock: REST round trips through ccxt
(post-only create_order, cancel_order), and websocket recovery — every connection dropped,
then the time until ccxt.pro's ``watch_order_book`` returns a book again, verified against a
fresh REST snapshot (best bid and ask agree, or the book has moved past the snapshot id).

    python bench/sandbox_loopback.py [--orders 200] [--drops 20] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import ccxt.async_support as ccxt_async

from tradetui.market.synthetic import SyntheticMarket
from tradetui.sandbox.client import loopback_client, loopback_pro_client
from tradetui.sandbox.exchange import SandboxExchange
from tradetui.venues.sim_listing import listed_instrument

KEY, SECRET = "bench-key", "bench-secret"
SYMBOL = "BTC/USDT:USDT"


def pct(xs: list[float], q: float) -> float:
    """The q-quantile of ``xs`` (nearest rank), in the units of ``xs``."""
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))]


async def rest_round_trips(server: SandboxExchange, n: int) -> tuple[list[float], list[float]]:
    """(create, cancel) round trips in ms."""
    client = loopback_client(server.rest_url, KEY, SECRET)
    creates: list[float] = []
    cancels: list[float] = []
    try:
        await client.load_markets()
        for i in range(n):
            book = await client.fetch_order_book(SYMBOL, 5)
            price = book["bids"][0][0] - 20.0
            t = time.perf_counter()
            order = await client.create_order(
                SYMBOL,
                "limit",
                "buy",
                0.01,
                price,
                params={"postOnly": True, "clientOrderId": f"b{i}"},
            )
            creates.append((time.perf_counter() - t) * 1e3)
            t = time.perf_counter()
            try:
                await client.cancel_order(order["id"], SYMBOL)
            except ccxt_async.OrderNotFound:
                continue
            cancels.append((time.perf_counter() - t) * 1e3)
    finally:
        await client.close()
    return creates, cancels


async def recoveries(server: SandboxExchange, n: int) -> list[float]:
    """Dropped websocket → verified book again, in ms, over ``n`` drops."""
    pro = loopback_pro_client(server.rest_url, KEY, SECRET)
    rest = loopback_client(server.rest_url, KEY, SECRET)
    out: list[float] = []
    try:
        await pro.load_markets()
        await rest.load_markets()
        await pro.watch_order_book(SYMBOL)
        for _ in range(n):
            await server.drop_websockets()
            t = time.perf_counter()
            while True:
                try:
                    book = await asyncio.wait_for(pro.watch_order_book(SYMBOL), 5)
                except (ccxt_async.NetworkError, ccxt_async.ChecksumError):
                    continue
                snap = await rest.fetch_order_book(SYMBOL, 5)
                same_touch = (
                    book["bids"][0] == snap["bids"][0] and book["asks"][0] == snap["asks"][0]
                )
                if same_touch or book["nonce"] >= snap["nonce"]:
                    break
            out.append((time.perf_counter() - t) * 1e3)
            await asyncio.sleep(0.2)
    finally:
        await pro.close()
        await rest.close()
    return out


async def run(orders: int, drops: int, seed: int) -> dict[str, object]:
    inst = listed_instrument("BTCUSDT", "usdm")
    server = SandboxExchange(
        inst,
        SyntheticMarket(inst, seed=seed, start_ns=time.time_ns()).events(),
        api_key=KEY,
        api_secret=SECRET,
    )
    async with server:
        creates, cancels = await rest_round_trips(server, orders)
        recovered = await recoveries(server, drops)
    return {
        "bench": "sandbox_loopback",
        "orders": orders,
        "create_order_ms_p50": round(statistics.median(creates), 2),
        "create_order_ms_p99": round(pct(creates, 0.99), 2),
        "cancel_order_ms_p50": round(statistics.median(cancels), 2) if cancels else None,
        "cancel_order_ms_p99": round(pct(cancels, 0.99), 2) if cancels else None,
        "ws_drops": drops,
        "ws_recovery_ms_p50": round(statistics.median(recovered), 1),
        "ws_recovery_ms_max": round(max(recovered), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=200)
    ap.add_argument("--drops", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    print(json.dumps(asyncio.run(run(args.orders, args.drops, args.seed))))


if __name__ == "__main__":
    main()
