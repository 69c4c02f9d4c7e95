"""A live venue on a ccxt Binance USD-M client, over REST only (no websockets yet).

``submit`` never blocks: each intent runs as an asyncio task and its outcome is queued as an
account event (``pop``/``wait``). Orders are post-only limits (GTX) sent with our client order
id; a ``create_order`` that fails without an answer (timeout, connection lost) is never resent
but reconciled by that id. Fills come from polling ``fetch_my_trades`` at most once per
``fill_poll_s`` while we have orders working (the budget). Reads are retried with exponential
backoff and jitter; writes are not. Log lines never carry keys or signatures.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any, TypeVar

import ccxt.async_support as ccxt_async

from tradetui.core.instrument import Instrument
from tradetui.core.types import (
    AccountEvent,
    AccountSnapshot,
    CancelOrder,
    CancelRejected,
    Fill,
    OpenOrderInfo,
    OrderAccepted,
    OrderCancelled,
    OrderIntent,
    OrderRejected,
    OrderType,
    PlaceOrder,
    RejectCode,
    RequestAccount,
    Side,
)
from tradetui.venues.redact import RedactSecrets

log = logging.getLogger(__name__)
T = TypeVar("T")

_NS_PER_MS = 1_000_000
_CODE = re.compile(r'"code"\s*:\s*(-?\d+)')
# Binance USD-M error codes in our words; anything else is OTHER with the exchange's message.
_REJECT_BY_CODE = {
    -4014: RejectCode.OFF_TICK,
    -1111: RejectCode.OFF_STEP,
    -4003: RejectCode.BELOW_MIN_QTY,
    -4164: RejectCode.BELOW_MIN_NOTIONAL,
    -5022: RejectCode.POST_ONLY_WOULD_CROSS,
    -2022: RejectCode.REDUCE_ONLY_WOULD_INCREASE,
    -2019: RejectCode.INSUFFICIENT_MARGIN,
    -4116: RejectCode.DUPLICATE_CLIENT_ID,
    -2011: RejectCode.UNKNOWN_ORDER,
    -2013: RejectCode.UNKNOWN_ORDER,
    -1003: RejectCode.RATE_LIMITED,
}
_SIDE_NAME = {Side.BUY: "buy", Side.SELL: "sell"}


def reject_code(exc: Exception) -> RejectCode:
    """Our reject code for a ccxt error, from the Binance code in its message."""
    if isinstance(exc, ccxt_async.DDoSProtection):
        return RejectCode.RATE_LIMITED
    match = _CODE.search(str(exc))
    return _REJECT_BY_CODE.get(int(match.group(1)), RejectCode.OTHER) if match else RejectCode.OTHER


class LiveVenue:
    """One symbol on a ccxt binanceusdm client (REST); results come back as account events.

    ``symbol`` is ccxt's unified symbol (``BTC/USDT:USDT``). ``fill_poll_s``: at most one
    ``fetch_my_trades`` per this many seconds (s). ``read_attempts``/``backoff_s``: retries of
    reads on network errors, the n-th waiting ``backoff_s × 2**n`` plus up to as much jitter (s).
    """

    def __init__(
        self,
        client: Any,
        instrument: Instrument,
        symbol: str,
        *,
        fill_poll_s: float = 0.5,
        read_attempts: int = 3,
        backoff_s: float = 0.05,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self._client = client
        self._inst = instrument
        self._symbol = symbol
        self._fill_poll_s = fill_poll_s
        self._read_attempts = read_attempts
        self._backoff_s = backoff_s
        self._events: deque[AccountEvent] = deque()
        self._ready = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._orig_lots: dict[str, int] = {}
        self._filled_lots: dict[str, int] = {}
        self._client_by_order_id: dict[str, str] = {}
        self._last_trade_id = 0
        self._last_poll = -float("inf")
        self._redact = RedactSecrets()
        self._redact.add(*secrets)
        log.addFilter(self._redact)

    @property
    def instrument(self) -> Instrument:
        return self._inst

    @property
    def name(self) -> str:
        return f"live:{self._client.id}"

    # ---- engine side ------------------------------------------------------------------------

    def submit(self, intent: OrderIntent) -> None:
        """Start the place, cancel or account request; its outcome is queued later."""
        if isinstance(intent, PlaceOrder):
            self._spawn(self._place(intent))
        elif isinstance(intent, CancelOrder):
            self._spawn(self._cancel(intent))
        else:
            self._spawn(self._account(intent))

    def pop(self) -> AccountEvent | None:
        """The oldest queued account event, or None."""
        if not self._events:
            self._ready.clear()
            return None
        return self._events.popleft()

    async def wait(self) -> None:
        """Return once an account event is queued."""
        await self._ready.wait()

    async def idle(self) -> None:
        """Return once every submitted intent has finished."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        """Cancel the intents still running and detach the log filter."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        log.removeFilter(self._redact)

    # ---- fills ------------------------------------------------------------------------------

    @property
    def working(self) -> bool:
        """True while some order of ours may still fill."""
        return any(self._filled_lots[c] < lots for c, lots in self._orig_lots.items())

    async def poll_fills(self, force: bool = False) -> int:
        """Fetch our new trades (within the poll budget unless ``force``); returns fills queued."""
        now = time.monotonic()
        if not force and (now - self._last_poll < self._fill_poll_s or not self.working):
            return 0
        self._last_poll = now
        params = {"fromId": self._last_trade_id + 1} if self._last_trade_id else {}
        trades = await self._read(
            lambda: self._client.fetch_my_trades(self._symbol, None, None, params)
        )
        count = 0
        for t in trades:
            trade_id = int(t["id"])
            if trade_id <= self._last_trade_id:
                continue
            self._last_trade_id = trade_id
            client_id = self._client_by_order_id.get(str(t["order"]))
            if client_id is None:
                continue
            self._queue(self._fill(client_id, t))
            count += 1
        return count

    def _fill(self, client_id: str, t: dict[str, Any]) -> Fill:
        info = t["info"]
        inst = self._inst
        lots = inst.lots_exact(Decimal(info["qty"])) or 0
        self._filled_lots[client_id] += lots
        return Fill(
            exch_ns=int(info["time"]) * _NS_PER_MS,
            local_ns=time.time_ns(),
            client_id=client_id,
            trade_id=str(t["id"]),
            side=Side.BUY if info["side"] == "BUY" else Side.SELL,
            price_ticks=inst.ticks_exact(Decimal(info["price"])) or 0,
            qty_lots=lots,
            leaves_lots=max(self._orig_lots[client_id] - self._filled_lots[client_id], 0),
            fee_quote=float(info["commission"]),
            is_maker=bool(info["maker"]),
        )

    # ---- intents ----------------------------------------------------------------------------

    async def _place(self, intent: PlaceOrder) -> None:
        inst, cid = self._inst, intent.client_id
        params: dict[str, Any] = {"newClientOrderId": cid}
        if intent.post_only and intent.order_type is OrderType.LIMIT:
            params["timeInForce"] = "GTX"
        if intent.reduce_only:
            params["reduceOnly"] = True
        price = None if intent.order_type is OrderType.MARKET else inst.price(intent.price_ticks)
        args = (
            self._symbol,
            intent.order_type.value,
            _SIDE_NAME[intent.side],
            float(inst.qty(intent.qty_lots)),
            None if price is None else float(price),
            params,
        )
        sent = time.monotonic()
        try:
            try:
                order = await self._client.create_order(*args)
            except ccxt_async.InvalidNonce:
                # -1021 is a definite refusal, so sending again after a clock resync is safe.
                log.warning("place %s: timestamp outside recvWindow; resyncing the clock", cid)
                await self._client.load_time_difference()
                sent = time.monotonic()
                order = await self._client.create_order(*args)
        except (ccxt_async.RequestTimeout, ccxt_async.ExchangeNotAvailable) as exc:
            # The order may or may not exist: ask for it by our id instead of sending it again.
            log.warning("place %s: no answer (%s); reconciling by client id", cid, exc)
            # Binance refuses a request arriving after timestamp + recvWindow, so once that has
            # passed the order either exists now or never will.
            window_s = float(self._client.options.get("recvWindow", 10_000)) / 1000
            await asyncio.sleep(max(window_s - (time.monotonic() - sent), 0.0))
            order = await self._reconcile(cid)
            if order is None:
                self._reject(cid, RejectCode.OTHER, f"no answer and not at the venue: {exc}")
                return
        except ccxt_async.BaseError as exc:
            self._reject(cid, reject_code(exc), str(exc))
            return
        self._orig_lots[cid] = intent.qty_lots
        self._filled_lots[cid] = 0
        self._client_by_order_id[str(order["id"])] = cid
        now = time.time_ns()
        stamp = order.get("timestamp")
        self._queue(
            OrderAccepted(
                exch_ns=int(stamp) * _NS_PER_MS if stamp else now,
                local_ns=now,
                client_id=cid,
                venue_id=str(order["id"]),
            )
        )

    async def _reconcile(self, client_id: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = await self._read(
                lambda: self._client.fetch_order(
                    None, self._symbol, {"origClientOrderId": client_id}
                )
            )
        except ccxt_async.OrderNotFound:
            return None
        return found

    async def _cancel(self, intent: CancelOrder) -> None:
        cid = intent.client_id
        now = time.time_ns()
        try:
            await self._client.cancel_order(None, self._symbol, {"origClientOrderId": cid})
        except ccxt_async.BaseError as exc:
            self._queue(
                CancelRejected(
                    exch_ns=now,
                    local_ns=time.time_ns(),
                    client_id=cid,
                    code=reject_code(exc),
                    reason=str(exc),
                )
            )
            return
        self._orig_lots.pop(cid, None)
        self._filled_lots.pop(cid, None)
        self._queue(
            OrderCancelled(
                exch_ns=now, local_ns=time.time_ns(), client_id=cid, reason="cancelled on request"
            )
        )

    async def _account(self, intent: RequestAccount) -> None:
        inst = self._inst
        positions = await self._read(lambda: self._client.fetch_positions([self._symbol]))
        orders = await self._read(lambda: self._client.fetch_open_orders(self._symbol))
        position_lots = 0
        for p in positions:
            amt = Decimal(str(p["info"]["positionAmt"]))
            position_lots += inst.lots_exact(amt) or 0
        now = time.time_ns()
        self._queue(
            AccountSnapshot(
                exch_ns=now,
                local_ns=now,
                position_lots=position_lots,
                open_orders=tuple(
                    OpenOrderInfo(
                        client_id=str(o["clientOrderId"]),
                        side=Side.BUY if o["side"] == "buy" else Side.SELL,
                        price_ticks=inst.ticks_exact(Decimal(o["info"]["price"])) or 0,
                        leaves_lots=(inst.lots_exact(Decimal(o["info"]["origQty"])) or 0)
                        - (inst.lots_exact(Decimal(o["info"]["executedQty"])) or 0),
                    )
                    for o in orders
                ),
            )
        )

    # ---- plumbing ---------------------------------------------------------------------------

    async def _read(self, call: Callable[[], Awaitable[T]]) -> T:
        """``call`` retried on network errors other than rate limits (those must slow us down)."""
        for attempt in range(self._read_attempts):
            try:
                return await call()
            except ccxt_async.InvalidNonce:
                await self._client.load_time_difference()
            except ccxt_async.DDoSProtection:
                raise
            except ccxt_async.NetworkError as exc:
                if attempt + 1 == self._read_attempts:
                    raise
                log.warning("read failed (%s); retrying", exc)
            delay = self._backoff_s * 2**attempt
            await asyncio.sleep(delay + random.uniform(0, delay))
        return await call()

    def _spawn(self, coro: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await coro
            except Exception:
                log.exception("venue request failed")

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _reject(self, client_id: str, code: RejectCode, reason: str) -> None:
        now = time.time_ns()
        self._queue(
            OrderRejected(exch_ns=now, local_ns=now, client_id=client_id, code=code, reason=reason)
        )

    def _queue(self, ev: AccountEvent) -> None:
        self._events.append(ev)
        self._ready.set()
