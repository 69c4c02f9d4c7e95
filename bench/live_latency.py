"""Live decision latency against the sandbox exchange (prints one JSON object).

A live session — engine, LiveVenue on the real ccxt.pro client, BinanceStreamFeed, and the
SQLite store with its writer thread as ``tradetui run --headless`` has it (``--no-store``
leaves it out) — trades the synthetic market of a `tradetui sandbox exchange` process on
loopback (a separate process, so its work does not share our event loop). Quoting follows
every tick (tolerance 0, no minimum age), so most decisions replace both quotes: place bid,
cancel bid, place ask, cancel ask. For every order placed on a depth message (BookDelta),
spans from the moment the feed read that websocket frame (its ``local_ns``):

- ``to_submit``: the engine has decided and handed the order to the venue;
- ``to_ccxt``: the venue's task calls ccxt (Binance USD-M's order endpoint, or the unified
  ``create_order`` elsewhere), at least one event-loop hop later;
- ``to_http``: ccxt hands the signed request to its HTTP transport (``fetch``). With request
  pacing on (``venue.rate_limit``, the default) this includes its wait, so it is measured
  both ways;
- ``to_wire``: the request's bytes are written to the socket (the asyncio transport's
  ``write``), i.e. the request is sent; the rest is the kernel's loopback.

``*_first_order`` keep the first order of each decision only, ``*_later_orders`` the others:
a later order's request is built after the requests before it in that decision (about 0.5 ms
each on a cold interpreter: ccxt signing, aiohttp), one loop thread doing them in the
engine's order.

Target: ``to_http`` p99 <= 1 ms in-process with the limiter off (the limiter's wait is a
chosen pacing, not processing); ``to_wire`` is what the exchange sees. Websocket recovery is
measured by bench/feed_recovery.py.

    python bench/live_latency.py [--seconds 20] [--seed 1] [--no-store]
"""

from __future__ import annotations

import argparse
import asyncio
import asyncio.selector_events
import json
import os
import re
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from tradetui.config import settings_from_mapping
from tradetui.core.types import (
    BestBidOffer,
    BookDelta,
    BookSnapshot,
    MarketEvent,
    OrderIntent,
    PlaceOrder,
    Trade,
)
from tradetui.engine.engine import Command, CommandKind
from tradetui.host import EngineHost, StoreOptions
from tradetui.sandbox.process import sandbox_url, spawn_sandbox
from tradetui.session import open_live_session

KEY, SECRET = "bench-key", "bench-secret"
_CID = re.compile(rb"newClientOrderId=([^&\s]+)")
KINDS = {BookDelta: "depth", BestBidOffer: "bookTicker", Trade: "trade", BookSnapshot: "snapshot"}


def pct(xs: list[float], q: float) -> float:
    """The q-quantile of ``xs`` (nearest rank), in the units of ``xs``."""
    s = sorted(xs)
    return s[min(len(s) - 1, int(q * len(s)))] if s else 0.0


def summary_us(xs_ns: list[int]) -> dict[str, float]:
    xs = [x / 1e3 for x in xs_ns]
    return {
        "n": len(xs),
        "p50_us": round(pct(xs, 0.5), 1),
        "p99_us": round(pct(xs, 0.99), 1),
        "max_us": round(max(xs), 1) if xs else 0.0,
    }


async def run_once(seconds: float, seed: int, rate_limit: bool, store: bool) -> dict[str, Any]:
    server = await spawn_sandbox("--seed", str(seed), "--api-key", KEY, "--api-secret", SECRET)
    try:
        rest_url = await sandbox_url(server, 60)
    except (RuntimeError, TimeoutError) as exc:
        server.kill()
        raise SystemExit(str(exc)) from None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "live.db" if store else None
            return await measure(rest_url, seconds, rate_limit, db)
    finally:
        server.send_signal(signal.SIGINT)
        await server.communicate()


async def measure(
    rest_url: str, seconds: float, rate_limit: bool, db: Path | None
) -> dict[str, Any]:
    settings = settings_from_mapping(
        {
            "venue": {
                "exchange": "binanceusdm",
                "rest_url": rest_url,
                "ws_url": rest_url.replace("http://", "ws://"),
                "rate_limit": rate_limit,
            },
            # Requote on every tick of movement: many orders per run.
            "quoting": {"price_tolerance_ticks": 0, "min_age_ms": 0.0},
            "risk": {"order_budget": 0, "max_open_orders": 0},
        },
        {},
    )
    env = {"TRADETUI_API_KEY": KEY, "TRADETUI_API_SECRET": SECRET}
    session = await open_live_session(settings, env)
    venue, engine, client = session.venue, session.engine, session.clients[0]
    current: dict[str, Any] = {"rx_ns": 0, "kind": "", "placed": 0}
    trigger: dict[str, tuple[str, int, int]] = {}  # client id → (message kind, rx ns, rank)
    to_submit: dict[str, list[int]] = {}
    called: dict[str, int] = {}
    sent: dict[str, int] = {}
    wired: dict[str, int] = {}

    on_event = engine.on_event

    def probe_event(ev: MarketEvent) -> None:
        current["rx_ns"], current["kind"] = ev.local_ns, KINDS.get(type(ev), "")
        current["placed"] = 0
        on_event(ev)
        current["kind"] = ""

    submit = venue.submit

    def probe_submit(intent: OrderIntent) -> None:
        if isinstance(intent, PlaceOrder) and current["kind"]:
            current["placed"] += 1
            trigger[intent.client_id] = (current["kind"], current["rx_ns"], current["placed"])
            span = time.time_ns() - current["rx_ns"]
            to_submit.setdefault(current["kind"], []).append(span)
        submit(intent)

    def cid_of(text: str) -> str:
        found = _CID.search(text.encode())
        return found.group(1).decode() if found is not None else ""

    # The venue calls ccxt: the unified create_order, or Binance USD-M's order endpoint.
    create_order = client.create_order
    post_order = client.fapiPrivatePostOrder

    async def probe_create(*args: Any, **kwargs: Any) -> Any:
        params = args[5] if len(args) > 5 else kwargs.get("params", {})
        called[str(params.get("clientOrderId"))] = time.time_ns()
        return await create_order(*args, **kwargs)

    async def probe_post(request: dict[str, Any]) -> Any:
        called[str(request.get("newClientOrderId"))] = time.time_ns()
        return await post_order(request)

    fetch = client.fetch

    async def probe_fetch(
        url: str, method: str = "GET", headers: Any = None, body: Any = None
    ) -> Any:
        if method == "POST" and "/fapi/v1/order" in url:
            cid = cid_of(f"{url}&{body or ''}")
            if cid:
                sent[cid] = time.time_ns()
        return await fetch(url, method, headers, body)

    transport = asyncio.selector_events._SelectorSocketTransport  # type: ignore[attr-defined]
    write = transport.write

    def probe_write(self: Any, data: Any) -> None:
        # An order's first write that names its client id: the request leaves the process.
        if b"newClientOrderId=" in data:
            found = _CID.search(bytes(data))
            if found is not None:
                wired.setdefault(found.group(1).decode(), time.time_ns())
        write(self, data)

    # The driver looks the engine's handler up per event, so the probe sees every event.
    engine.on_event = probe_event  # type: ignore[method-assign,assignment]
    venue.submit = probe_submit  # type: ignore[method-assign]
    client.create_order = probe_create
    client.fapiPrivatePostOrder = probe_post
    client.fetch = probe_fetch
    transport.write = probe_write
    host = EngineHost(session, 1.0)
    if db is not None:
        # As `tradetui run --headless` records a live session: the writer thread, the recorder.
        host.open_store(StoreOptions(db, mode="live"))
        await host.start_store()
    stop = asyncio.Event()
    runner = asyncio.create_task(host.run(stop.is_set))
    await host.request(Command(CommandKind.START, reason="bench"))
    await asyncio.sleep(seconds)
    stats = {
        "orders_placed": engine.orders_placed,
        "fills": engine.fills,
        "post_only_rejects": engine.post_only_rejects,
        "engine_decision_us": engine.latency_percentiles_us(),
    }
    await host.wind_down(flatten=True)
    stop.set()
    await runner
    await host.close_store(host.summary())
    await session.close()
    transport.write = write
    out: dict[str, Any] = {"rate_limit": rate_limit, "store": db is not None, **stats}
    for kind in ("depth", "any"):
        picked = {c: v for c, v in trigger.items() if kind == "any" or v[0] == kind}
        first = {c: v for c, v in picked.items() if v[2] == 1}
        later = {c: v for c, v in picked.items() if v[2] > 1}
        subs = [x for k, xs in to_submit.items() if kind in ("any", k) for x in xs]
        out[kind] = {
            "to_submit": summary_us(subs),
            "to_ccxt": summary_us([called[c] - v[1] for c, v in picked.items() if c in called]),
            "to_http": summary_us([sent[c] - v[1] for c, v in picked.items() if c in sent]),
            "to_http_first_order": summary_us(
                [sent[c] - v[1] for c, v in first.items() if c in sent]
            ),
            "to_wire": summary_us([wired[c] - v[1] for c, v in picked.items() if c in wired]),
            "to_wire_first_order": summary_us(
                [wired[c] - v[1] for c, v in first.items() if c in wired]
            ),
            "to_wire_later_orders": summary_us(
                [wired[c] - v[1] for c, v in later.items() if c in wired]
            ),
        }
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-store", action="store_true", help="run without the SQLite store (and its thread)"
    )
    args = parser.parse_args()
    store = not args.no_store
    runs = [
        await run_once(args.seconds, args.seed, rate_limit=False, store=store),
        await run_once(args.seconds, args.seed, rate_limit=True, store=store),
    ]
    print(
        json.dumps(
            {
                "bench": "live_latency",
                "seconds": args.seconds,
                "load_1m": round(os.getloadavg()[0], 2),
                "runs": runs,
                "target_to_http_p99_us": 1000,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
