"""Binance JSON shapes for the sandbox's state (decimal strings, times in ms): USD-M, and COIN-M
(inverse) where its shapes differ, as Binance's COIN-M API documentation gives them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from tradetui.core.instrument import Instrument, InstrumentKind
from tradetui.core.types import BestBidOffer, BookDelta, OrderType, Side, Trade
from tradetui.sandbox.account import OrderUpdate, SandboxAccount, SandboxOrder, SandboxTrade
from tradetui.sandbox.tape import Print, Tape

Json = dict[str, Any]

_NS_PER_MS = 1_000_000

_SIDE = {Side.BUY: "BUY", Side.SELL: "SELL"}
# Maintenance margin as a fraction of notional: the first leverage bracket's ratio.
_MAINT_MARGIN_RATIO = 0.004
# Binance's current USD-M rate limits, advertised as exchangeInfo does.
_RATE_LIMITS: list[Json] = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
]


# Binance's current rate limits as each exchangeInfo advertises them: COIN-M's REQUEST_WEIGHT is
# 2400 a minute and ORDERS 1200 a minute (COIN-M "General Info", Limits); spot's per the spot
# API's exchangeInfo (6000 weight a minute, 100 orders per 10 s, 200,000 a day).
_COINM_RATE_LIMITS: list[Json] = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
]
_SPOT_RATE_LIMITS: list[Json] = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
]


def rate_limits(
    inst: Instrument, weight_1m: int = 0, orders_10s: int = 0, orders_1m: int = 0
) -> list[Json]:
    """The ``rateLimits`` of ``inst``'s exchange, with each limit given (> 0) in place of the
    published one (a 10 s order limit is added where the exchange has none)."""
    base = (
        _SPOT_RATE_LIMITS if _spot(inst) else _COINM_RATE_LIMITS if inst.inverse else _RATE_LIMITS
    )
    wanted = {
        ("REQUEST_WEIGHT", "MINUTE", 1): weight_1m,
        ("ORDERS", "SECOND", 10): orders_10s,
        ("ORDERS", "MINUTE", 1): orders_1m,
    }
    out = []
    for entry in base:
        key = (str(entry["rateLimitType"]), str(entry["interval"]), int(entry["intervalNum"]))
        out.append(entry | {"limit": wanted.pop(key, 0) or entry["limit"]})
    for (kind, interval, num), limit in wanted.items():
        if limit > 0:
            out.append(
                {"rateLimitType": kind, "interval": interval, "intervalNum": num, "limit": limit}
            )
    return out


def exchange_ms(wall_ns: int, skew_ms: int) -> int:
    """The exchange clock's time (ms) at wall-clock ``wall_ns``: Binance stamps REST answers,
    order and trade times and every stream event from its one clock, so the skew fault shows
    in all of them alike (developers.binance.com/docs/derivatives/usds-margined-futures/
    general-info: "All time and timestamp related fields are in milliseconds")."""
    return wall_ns // _NS_PER_MS + skew_ms


def exchange_info(inst: Instrument, entries: list[Json], now_ms: int) -> Json:
    """``GET /fapi/v1/exchangeInfo`` (``/dapi/v1/...`` for COIN-M, ``/api/v3/...`` for spot):
    every symbol the simulated listing holds, its entries as they are (Binance's own format),
    in the envelope of ``inst``'s exchange. COIN-M's has no ``assets`` nor ``futuresType``
    (Binance's COIN-M "Exchange Information" response)."""
    out: Json = {"timezone": "UTC", "serverTime": now_ms}
    if _spot(inst):
        return out | {"rateLimits": _SPOT_RATE_LIMITS, "exchangeFilters": [], "symbols": entries}
    if inst.inverse:
        return out | {"rateLimits": _COINM_RATE_LIMITS, "exchangeFilters": [], "symbols": entries}
    margin = sorted({str(e.get("marginAsset")) for e in entries if e.get("marginAsset")})
    return out | {
        "futuresType": "U_MARGINED",
        "rateLimits": _RATE_LIMITS,
        "exchangeFilters": [],
        "assets": [
            {"asset": a, "marginAvailable": True, "autoAssetExchange": "-10000"} for a in margin
        ],
        "symbols": entries,
    }


def _pair(inst: Instrument) -> str:
    """A COIN-M contract's ``pair``, its underlying: base then quote ('BTCUSD' for
    BTCUSD_PERP), as the listing and every COIN-M message name it."""
    return inst.base + inst.quote


def _coin(amount: float | Fraction) -> str:
    """An amount of the settlement asset with Binance's 8 decimals."""
    return f"{float(amount):.8f}"


def depth(acct: SandboxAccount, limit: int, now_ms: int) -> Json:
    """``GET /fapi/v1/depth`` (``/api/v3/depth`` for spot, which carries no times;
    ``/dapi/v1/depth``, which also names ``symbol`` and ``pair``, as the COIN-M snapshot in
    ../shared/data does): the top ``limit`` levels per side of the depth stream's book at its
    last id."""
    inst = acct.instrument
    out = _depth_head(inst.symbol, inst, acct.update_id, now_ms)
    out["bids"] = _levels(inst, acct.depth.levels(Side.BUY, limit))
    out["asks"] = _levels(inst, acct.depth.levels(Side.SELL, limit))
    return out


def idle_depth(entry: Json, traded: Instrument, now_ms: int) -> Json:
    """The depth of a listed symbol the sandbox keeps no market for (listing ``entry``, on
    ``traded``'s exchange): an empty book, as for a symbol with no activity."""
    out = _depth_head(str(entry["symbol"]), traded, 0, now_ms)
    if "pair" in out:
        out["pair"] = str(entry.get("pair", out["pair"]))
    return out | {"bids": [], "asks": []}


def _depth_head(symbol: str, inst: Instrument, update_id: int, now_ms: int) -> Json:
    out: Json = {"lastUpdateId": update_id}
    if not _spot(inst):
        out |= {"E": now_ms, "T": now_ms}
    if inst.inverse:
        out |= {"symbol": symbol, "pair": _pair(inst)}
    return out


def _avg_price(inst: Instrument, cum_value: int, executed_lots: int) -> str:
    """The average fill price: the price of the mean lot value (value-weighted; a harmonic
    mean of prices for inverse contracts, as Binance COIN-M averages)."""
    if not executed_lots:
        return "0.00"
    if not inst.inverse:
        return str(inst.price(1) * cum_value / executed_lots)
    ticks = inst.price_of_value(Fraction(cum_value, executed_lots))
    return _coin(ticks * Fraction(inst.tick_size))


def order(inst: Instrument, o: SandboxOrder) -> Json:
    """An order as ``POST/GET/DELETE /fapi/v1/order`` and ``openOrders`` return it; COIN-M's
    (``/dapi/v1/order``) carries ``pair`` and the filled notional in the coin as ``cumBase``
    where USD-M has ``cumQuote`` (Binance COIN-M "New Order" response)."""
    kind = "MARKET" if o.order_type is OrderType.MARKET else "LIMIT"
    out: Json = {"orderId": o.order_id, "symbol": inst.symbol}
    if inst.inverse:
        out["pair"] = _pair(inst)
    out |= {
        "status": o.status,
        "clientOrderId": o.client_id,
        "price": str(inst.price(o.price_ticks)),
        "avgPrice": _avg_price(inst, o.cum_value, o.executed_lots),
        "origQty": format(inst.qty(o.orig_lots), "f"),
        "executedQty": format(inst.qty(o.executed_lots), "f"),
        "cumQty": format(inst.qty(o.executed_lots), "f"),
    }
    if inst.inverse:
        out["cumBase"] = _coin(abs(o.cum_value) * inst.value_unit)
    else:
        # The value unit (tick × lot × contract size) in Decimal, for an exact string.
        out["cumQuote"] = str(inst.tick_size * inst.lot_size * inst.contract_size * o.cum_value)
    return out | {
        "timeInForce": o.time_in_force,
        "type": kind,
        "origType": kind,
        "reduceOnly": o.reduce_only,
        "closePosition": False,
        "side": _SIDE[o.side],
        "positionSide": "BOTH",
        "stopPrice": "0",
        "workingType": "CONTRACT_PRICE",
        "priceProtect": False,
        "priceMatch": "NONE",
        "selfTradePreventionMode": "NONE",
        "goodTillDate": 0,
        "time": o.time_ms,
        "updateTime": o.update_ms,
    }


def user_trade(inst: Instrument, t: SandboxTrade) -> Json:
    """A fill as ``GET /fapi/v1/userTrades`` returns it; COIN-M's (``/dapi/v1/userTrades``)
    names ``pair``, ``marginAsset`` and the notional in the coin as ``baseQty`` instead of
    ``quoteQty``, with commission and realized PnL in the coin (Binance COIN-M "Account Trade
    List")."""
    price, qty = inst.price(t.price_ticks), inst.qty(t.qty_lots)
    out: Json = {
        "buyer": t.order.side is Side.BUY,
        "commission": f"{t.fee:.8f}",
        "commissionAsset": t.fee_asset or inst.settle,
        "id": t.trade_id,
        "maker": t.is_maker,
        "orderId": t.order.order_id,
        "price": str(price),
        "qty": str(qty),
    }
    if inst.inverse:
        out |= {
            "pair": _pair(inst),
            "marginAsset": inst.margin_asset,
            "baseQty": _coin(inst.notional_settle(t.price_ticks, t.qty_lots)),
        }
    else:
        out["quoteQty"] = str(price * qty * inst.contract_size)
    return out | {
        "realizedPnl": f"{t.realized_settle:.8f}",
        "side": _SIDE[t.order.side],
        "positionSide": "BOTH",
        "symbol": inst.symbol,
        "time": t.time_ms,
    }


def position(acct: SandboxAccount, now_ms: int) -> Json:
    """The one-way position as ``GET /fapi/v3/positionRisk`` returns it; COIN-M's
    (``/dapi/v1/positionRisk``) states the notional in the coin as ``notionalValue`` and the
    size cap as ``maxQty`` in contracts (Binance COIN-M "Position Information")."""
    inst, ledger = acct.instrument, acct.ledger
    mark_ticks = acct.mark_ticks
    mark = mark_ticks * inst.tick
    amt = inst.qty(ledger.position_lots)
    entry = float(ledger.avg_entry_ticks) * inst.tick
    sign = 1 if ledger.position_lots >= 0 else -1
    notional = sign * inst.notional_settle(mark_ticks, abs(ledger.position_lots))
    out: Json = {
        "symbol": inst.symbol,
        "positionSide": "BOTH",
        "positionAmt": str(amt),
        "entryPrice": f"{entry:.8f}",
        "breakEvenPrice": f"{entry:.8f}",
        "markPrice": f"{mark:.8f}",
        "unRealizedProfit": _coin(acct.unrealized_settle()),
        "liquidationPrice": "0",
        "isolatedMargin": "0",
    }
    if inst.inverse:
        return out | {
            "leverage": str(acct.leverage),
            "maxQty": str(inst.max_qty or 0),
            "marginType": "cross",
            "isAutoAddMargin": "false",
            "notionalValue": _coin(notional),
            "isolatedWallet": "0",
            "updateTime": now_ms,
        }
    pos_margin, ord_margin = acct.position_margin_settle(), acct.order_margin_settle()
    return out | {
        "notional": _coin(notional),
        "marginAsset": inst.margin_asset,
        "isolatedWallet": "0",
        "initialMargin": _coin(pos_margin + ord_margin),
        "maintMargin": _coin(abs(notional) * _MAINT_MARGIN_RATIO),
        "positionInitialMargin": _coin(pos_margin),
        "openOrderInitialMargin": _coin(ord_margin),
        "adl": 0,
        "bidNotional": "0",
        "askNotional": "0",
        "leverage": str(acct.leverage),
        "marginType": "cross",
        "updateTime": now_ms,
    }


def _money(acct: SandboxAccount, now_ms: int) -> Json:
    """The margin asset's balances, as ``assets`` entries name them."""
    wallet, unreal = acct.wallet_settle(), acct.unrealized_settle()
    pos_margin, ord_margin = acct.position_margin_settle(), acct.order_margin_settle()
    available = acct.available_settle()
    return {
        "walletBalance": _coin(wallet),
        "unrealizedProfit": _coin(unreal),
        "marginBalance": _coin(wallet + unreal),
        "maintMargin": "0",
        "initialMargin": _coin(pos_margin + ord_margin),
        "positionInitialMargin": _coin(pos_margin),
        "openOrderInitialMargin": _coin(ord_margin),
        "crossWalletBalance": _coin(wallet),
        "crossUnPnl": _coin(unreal),
        "availableBalance": _coin(available),
        "maxWithdrawAmount": _coin(max(available, 0.0)),
    }


def account(acct: SandboxAccount, now_ms: int) -> Json:
    """``GET /fapi/v2|v3/account``: the margin asset's balances and the position. COIN-M's
    ``GET /dapi/v1/account`` has no account-wide totals (its assets are separate coins) and
    lists positions with their margins (Binance COIN-M "Account Information")."""
    inst = acct.instrument
    money = _money(acct, now_ms)
    asset = {"asset": inst.margin_asset, **money, "updateTime": now_ms}
    if inst.inverse:
        pos = position(acct, now_ms)
        pos_margin, ord_margin = acct.position_margin_settle(), acct.order_margin_settle()
        entry = {
            "symbol": inst.symbol,
            "positionAmt": pos["positionAmt"],
            "initialMargin": _coin(pos_margin + ord_margin),
            "maintMargin": _coin(abs(float(pos["notionalValue"])) * _MAINT_MARGIN_RATIO),
            "unrealizedProfit": pos["unRealizedProfit"],
            "positionInitialMargin": _coin(pos_margin),
            "openOrderInitialMargin": _coin(ord_margin),
            "leverage": pos["leverage"],
            "isolated": False,
            "positionSide": "BOTH",
            "entryPrice": pos["entryPrice"],
            "maxQty": pos["maxQty"],
            "updateTime": now_ms,
        }
        return {
            "assets": [asset],
            "positions": [entry],
            "canDeposit": True,
            "canTrade": True,
            "canWithdraw": True,
            "feeTier": 0,
            "updateTime": now_ms,
        }
    return {
        "totalInitialMargin": money["initialMargin"],
        "totalMaintMargin": "0",
        "totalWalletBalance": money["walletBalance"],
        "totalUnrealizedProfit": money["unrealizedProfit"],
        "totalMarginBalance": money["marginBalance"],
        "totalPositionInitialMargin": money["positionInitialMargin"],
        "totalOpenOrderInitialMargin": money["openOrderInitialMargin"],
        "totalCrossWalletBalance": money["crossWalletBalance"],
        "totalCrossUnPnl": money["crossUnPnl"],
        "availableBalance": money["availableBalance"],
        "maxWithdrawAmount": money["maxWithdrawAmount"],
        "canTrade": True,
        "canDeposit": True,
        "canWithdraw": True,
        "feeTier": 0,
        "multiAssetsMargin": False,
        "updateTime": now_ms,
        "assets": [asset | {"marginAvailable": True}, *_bnb_assets(acct, now_ms)],
        "positions": [position(acct, now_ms)],
    }


_BNB_ZEROS = (
    "unrealizedProfit",
    "maintMargin",
    "initialMargin",
    "positionInitialMargin",
    "openOrderInitialMargin",
    "crossUnPnl",
    "availableBalance",
)


def _bnb_assets(acct: SandboxAccount, now_ms: int) -> list[Json]:
    """The futures wallet's BNB (for the BNB fee discount; not collateral outside multi-assets
    mode), listed when the sandbox account was given BNB."""
    if not acct.bnb_price:
        return []
    wallet = f"{acct.bnb_balance:.8f}"
    zero = dict.fromkeys(_BNB_ZEROS, "0.00000000")
    return [
        {
            "asset": "BNB",
            "walletBalance": wallet,
            "marginBalance": wallet,
            "crossWalletBalance": wallet,
            "maxWithdrawAmount": wallet,
            **zero,
            "marginAvailable": False,
            "updateTime": now_ms,
        }
    ]


def balance(acct: SandboxAccount, now_ms: int) -> list[Json]:
    """``GET /fapi/v2/balance`` (``/dapi/v1/balance``): the margin asset's balance."""
    money = _money(acct, now_ms)
    return [
        {
            "accountAlias": "sandbox",
            "asset": acct.instrument.margin_asset,
            **money,
            "balance": money["walletBalance"],
            "updateTime": now_ms,
        }
    ]


def leverage_brackets(inst: Instrument) -> list[Json]:
    """``GET /fapi/v1/leverageBracket``: one bracket, enough for ccxt's position maths.
    COIN-M's ``GET /dapi/v2/leverageBracket`` bounds brackets in the coin (``qtyFloor`` /
    ``qtyCap``) where USD-M's use quote notional (Binance COIN-M "Notional Bracket for
    Symbol")."""
    bracket: Json = {"bracket": 1, "initialLeverage": 125}
    if inst.inverse:
        bracket |= {"qtyCap": 5, "qtyFloor": 0}
    else:
        bracket |= {"notionalCap": 50000, "notionalFloor": 0}
    bracket |= {"maintMarginRatio": _MAINT_MARGIN_RATIO, "cum": 0.0}
    return [{"symbol": inst.symbol, "brackets": [bracket]}]


# ---- websocket events ----------------------------------------------------------------------


def _levels(inst: Instrument, levels: Sequence[tuple[int, int]]) -> list[list[str]]:
    return [[str(inst.price(p)), format(inst.qty(q), "f")] for p, q in levels]


def _spot(inst: Instrument) -> bool:
    return inst.kind is InstrumentKind.SPOT


def depth_update(inst: Instrument, ev: BookDelta, t_ms: int) -> Json:
    """A ``depthUpdate`` event stamped ``t_ms`` by the exchange clock (diff stream, ids
    ``U``..``u`` chained by ``pu``; spot sends no ``pu`` nor ``T`` and chains by ``U`` =
    previous ``u`` + 1; COIN-M's also name the pair as ``ps``, as in
    ../shared/data/binance-coinm)."""
    out: Json = {"e": "depthUpdate", "E": t_ms}
    if not _spot(inst):
        out["T"] = t_ms
    out["s"] = inst.symbol
    if inst.inverse:
        out["ps"] = _pair(inst)
    out |= {"U": ev.first_id, "u": ev.last_id}
    if not _spot(inst):
        out["pu"] = ev.prev_id
    out |= {"b": _levels(inst, ev.bids), "a": _levels(inst, ev.asks)}
    return out


def book_ticker(inst: Instrument, ev: BestBidOffer, t_ms: int) -> Json:
    """A ``bookTicker`` event stamped ``t_ms`` (spot's carries no times; COIN-M's names the
    pair as ``ps``)."""
    out: Json = {"e": "bookTicker", "u": ev.update_id, "s": inst.symbol}
    if inst.inverse:
        out["ps"] = _pair(inst)
    out |= {
        "b": str(inst.price(ev.bid_ticks)),
        "B": format(inst.qty(ev.bid_lots), "f"),
        "a": str(inst.price(ev.ask_ticks)),
        "A": format(inst.qty(ev.ask_lots), "f"),
    }
    if not _spot(inst):
        out |= {"T": t_ms, "E": t_ms}
    return out


def trade(inst: Instrument, ev: Trade, t_ms: int) -> Json:
    """A public ``trade`` event stamped ``t_ms``; ``m`` (buyer is maker) is true for a sell
    aggressor."""
    return {
        "e": "trade",
        "E": t_ms,
        "T": t_ms,
        "s": inst.symbol,
        "t": ev.trade_id,
        "p": str(inst.price(ev.price_ticks)),
        "q": format(inst.qty(ev.qty_lots), "f"),
        "X": "MARKET",
        "m": ev.aggressor is Side.SELL,
    }


def order_trade_update(inst: Instrument, u: OrderUpdate, now_ms: int) -> Json:
    """An ``ORDER_TRADE_UPDATE`` user-stream event for one order update; commission and
    realized PnL are in the settlement asset, and COIN-M's also names the margin asset as
    ``ma`` (Binance COIN-M user data stream, "Event: Order Update")."""
    o, t = u.order, u.trade
    kind = "MARKET" if o.order_type is OrderType.MARKET else "LIMIT"
    avg = _avg_price(inst, u.cum_value, u.executed_lots) if u.executed_lots else "0"
    out: Json = {
        "e": "ORDER_TRADE_UPDATE",
        "E": now_ms,
        "T": now_ms,
        "o": {
            "s": inst.symbol,
            "c": o.client_id,
            "S": _SIDE[o.side],
            "o": kind,
            "f": o.time_in_force,
            "q": format(inst.qty(o.orig_lots), "f"),
            "p": str(inst.price(o.price_ticks)),
            "ap": avg,
            "sp": "0",
            "x": u.execution,
            "X": u.status,
            "i": o.order_id,
            "l": format(inst.qty(t.qty_lots), "f") if t else "0",
            "z": format(inst.qty(u.executed_lots), "f"),
            "L": str(inst.price(t.price_ticks)) if t else "0",
            "N": t.fee_asset or inst.settle if t else inst.settle,
            "n": f"{t.fee:.8f}" if t else "0",
            "T": t.time_ms if t else now_ms,
            "t": t.trade_id if t else 0,
            "b": "0",
            "a": "0",
            "m": t.is_maker if t else False,
            "R": o.reduce_only,
            "wt": "CONTRACT_PRICE",
            "ot": kind,
            "ps": "BOTH",
            "cp": False,
            "rp": f"{t.realized_settle:.8f}" if t else "0",
            "pP": False,
            "si": 0,
            "ss": 0,
            "V": "NONE",
            "pm": "NONE",
            "gtd": 0,
        },
    }
    if inst.inverse:
        out["o"]["ma"] = inst.margin_asset
    return out


def listen_key_expired(key: str, now_ms: int) -> Json:
    """The user stream's ``listenKeyExpired`` event, as Binance USD-M's "Event: User Data Stream
    Expired" shows it (event time as a string; developers.binance.com/docs/derivatives/
    usds-margined-futures/user-data-streams/Event-User-Data-Stream-Expired)."""
    return {"e": "listenKeyExpired", "E": str(now_ms), "listenKey": key}


def account_update(acct: SandboxAccount, now_ms: int) -> Json:
    """An ``ACCOUNT_UPDATE`` user-stream event after fills (reason ``ORDER``): the margin
    asset's wallet (``wb``, ``cw``; ``bc``, the change other than PnL and commission, is 0)
    and the position with its accumulated realized PnL (``cr``), both in the settlement asset.
    COIN-M's names the account alias (``i``) and has no break-even price (Binance COIN-M user
    data stream, "Event: Balance and Position Update")."""
    inst, ledger = acct.instrument, acct.ledger
    wallet = _coin(acct.wallet_settle())
    entry = f"{float(ledger.avg_entry_ticks) * inst.tick:.8f}"
    pos: Json = {"s": inst.symbol, "pa": format(inst.qty(ledger.position_lots), "f"), "ep": entry}
    if not inst.inverse:
        pos["bep"] = entry
    pos |= {
        "cr": _coin(ledger.realized_units * inst.value_unit),
        "up": _coin(acct.unrealized_settle()),
        "mt": "cross",
        "iw": "0",
        "ps": "BOTH",
    }
    out: Json = {"e": "ACCOUNT_UPDATE", "E": now_ms, "T": now_ms}
    if inst.inverse:
        out["i"] = "sandbox"
    balances = [{"a": inst.margin_asset, "wb": wallet, "cw": wallet, "bc": "0"}]
    if acct.bnb_price:
        bnb = f"{acct.bnb_balance:.8f}"
        balances.append({"a": "BNB", "wb": bnb, "cw": bnb, "bc": "0"})
    return out | {"a": {"m": "ORDER", "B": balances, "P": [pos]}}


def agg_trade(
    symbol: str, agg_id: int, price: str, qty: str, first_id: int, last_id: int, t_ms: int, m: bool
) -> Json:
    """An ``aggTrade`` event: trades ``first_id``..``last_id`` of one taker order at one price
    (USD-M "Aggregate Trade Streams"); ``m`` is true when the buyer was the maker."""
    return {
        "e": "aggTrade",
        "E": t_ms,
        "s": symbol,
        "a": agg_id,
        "p": price,
        "q": qty,
        "f": first_id,
        "l": last_id,
        "T": t_ms,
        "m": m,
    }


def ticker_24h(
    symbol: str,
    stats: Ticker24h,
    now_ms: int,
    fmt: Callable[[float], str],
    pair: str | None = None,
) -> Json:
    """A ``24hrTicker`` entry of the ``!ticker@arr`` stream, prices through ``fmt`` (the
    symbol's tick decimals). USD-M ("All Market Tickers Streams"): ``v`` the base asset's
    volume, ``q`` the quote's. COIN-M (``pair`` given, sent as ``ps``; "All Market Tickers
    Streams", binance-docs.github.io/apidocs/delivery/en/#all-market-tickers-streams: ``v``
    "Total traded volume", in contracts, ``q`` "Total traded base asset volume")."""
    day = _day_figures(stats, now_ms, fmt)
    out: Json = {"e": "24hrTicker", "E": now_ms, "s": symbol}
    if pair is not None:
        out["ps"] = pair
    out |= {letter: day[name] for letter, name in _STREAM_TICKER.items()}
    out["v"] = f"{stats.volume:.0f}" if stats.contract_size else f"{stats.volume:.3f}"
    out["q"] = f"{stats.quote_volume:.8f}" if stats.contract_size else f"{stats.quote_volume:.2f}"
    return out | {letter: day[name] for letter, name in _STREAM_TICKER_TAIL.items()}


# The stream's letters for the REST ticker's figures, in the stream's order (volumes between).
_STREAM_TICKER = {
    "p": "priceChange",
    "P": "priceChangePercent",
    "w": "weightedAvgPrice",
    "c": "lastPrice",
    "Q": "lastQty",
    "o": "openPrice",
    "h": "highPrice",
    "l": "lowPrice",
}
_STREAM_TICKER_TAIL = {
    "O": "openTime",
    "C": "closeTime",
    "F": "firstId",
    "L": "lastId",
    "n": "count",
}


def _day_figures(stats: Ticker24h, now_ms: int, fmt: Callable[[float], str]) -> Json:
    """The 24 h statistics both the ticker stream and REST state, by REST's names."""
    change = stats.last - stats.open
    return {
        "priceChange": fmt(change),
        "priceChangePercent": f"{100 * change / stats.open:.3f}" if stats.open else "0.000",
        "weightedAvgPrice": fmt(stats.vwap()),
        "lastPrice": fmt(stats.last),
        "lastQty": stats.last_qty,
        "openPrice": fmt(stats.open),
        "highPrice": fmt(stats.high),
        "lowPrice": fmt(stats.low),
        "openTime": now_ms - 86_400_000,
        "closeTime": now_ms,
        "firstId": stats.first_id,
        "lastId": stats.last_id,
        "count": stats.last_id - stats.first_id + 1,
    }


# ---- public REST market data (sources in exchange.py's handlers) ---------------------------

# Which Binance REST dialect a shape is in: USD-M's (/fapi), COIN-M's (/dapi) or spot's.
USDM, COINM, SPOT = "usdm", "coinm", "spot"


def dialect(inst: Instrument) -> str:
    """The REST dialect of ``inst``'s exchange."""
    return SPOT if _spot(inst) else COINM if inst.inverse else USDM


@dataclass(frozen=True, slots=True)
class Touch:
    """A symbol's best bid and ask as text, and the update id of the book they come from."""

    bid_price: str
    bid_qty: str
    ask_price: str
    ask_qty: str
    update_id: int


def rest_ticker_24h(
    kind: str,
    symbol: str,
    stats: Ticker24h,
    now_ms: int,
    fmt: Callable[[float], str],
    qty_fmt: Callable[[float], str],
    pair: str = "",
    touch: Touch | None = None,
) -> Json:
    """``GET .../ticker/24hr``'s entry for one symbol: USD-M's names ``volume`` (base) and
    ``quoteVolume``; COIN-M's also ``pair``, ``volume`` in contracts and ``baseVolume`` in the
    coin; spot's adds ``prevClosePrice`` and the touch (bid/ask prices and sizes). Sizes go
    through ``qty_fmt`` (the step's decimals)."""
    day = _day_figures(stats, now_ms, fmt)
    out: Json = {"symbol": symbol}
    if kind == COINM:
        out["pair"] = pair
    head = ("priceChange", "priceChangePercent", "weightedAvgPrice")
    out |= {k: day[k] for k in head}
    if kind == SPOT:
        out["prevClosePrice"] = day["openPrice"]
    out |= {"lastPrice": day["lastPrice"], "lastQty": day["lastQty"]}
    if kind == SPOT and touch is not None:
        out |= {
            "bidPrice": touch.bid_price,
            "bidQty": touch.bid_qty,
            "askPrice": touch.ask_price,
            "askQty": touch.ask_qty,
        }
    out |= {k: day[k] for k in ("openPrice", "highPrice", "lowPrice")}
    out["volume"] = qty_fmt(stats.volume)
    if kind == COINM:
        out["baseVolume"] = f"{stats.quote_volume:.8f}"
    else:
        out["quoteVolume"] = f"{stats.quote_volume:.8f}"
    return out | {k: day[k] for k in ("openTime", "closeTime", "firstId", "lastId", "count")}


def rest_book_ticker(kind: str, symbol: str, touch: Touch, now_ms: int, pair: str = "") -> Json:
    """``GET .../ticker/bookTicker``'s entry: USD-M's has the time; COIN-M's also
    ``lastUpdateId`` and ``pair``; spot's neither."""
    out: Json = {"lastUpdateId": touch.update_id} if kind == COINM else {}
    out["symbol"] = symbol
    if kind == COINM:
        out["pair"] = pair
    out |= {
        "bidPrice": touch.bid_price,
        "bidQty": touch.bid_qty,
        "askPrice": touch.ask_price,
        "askQty": touch.ask_qty,
    }
    if kind != SPOT:
        out["time"] = now_ms
    return out


def rest_agg_trades(kind: str, tape: Tape, prints: Sequence[Print]) -> list[Json]:
    """``GET .../aggTrades``: ``a``, ``p``, ``q``, ``f``, ``l``, ``T``, ``m`` (spot also ``M``,
    the best price match, always true here)."""
    out = []
    for p in prints:
        row: Json = {
            "a": p.agg_id,
            "p": tape.price_text(p.price),
            "q": tape.qty_text(p.lots),
            "f": p.first_id,
            "l": p.last_id,
            "T": p.time_ms,
            "m": p.buyer_maker,
        }
        if kind == SPOT:
            row["M"] = True
        out.append(row)
    return out


def rest_trades(kind: str, tape: Tape, prints: Sequence[Print], limit: int) -> list[Json]:
    """``GET .../trades``, the last ``limit`` single trades of ``prints`` (an aggregate's size
    split between its trades): ``quoteQty`` (COIN-M: ``baseQty``, in the coin) and
    ``isBuyerMaker``; spot's also ``isBestMatch``."""
    second_key = "baseQty" if kind == COINM else "quoteQty"
    out: list[Json] = []
    for p in reversed(prints):
        for j in reversed(range(p.trades)):
            lots = p.lots // p.trades + (1 if j < p.lots % p.trades else 0)
            row: Json = {
                "id": p.first_id + j,
                "price": tape.price_text(p.price),
                "qty": tape.qty_text(lots),
                second_key: f"{tape.second(p.price, lots):.8f}",
                "time": p.time_ms,
                "isBuyerMaker": p.buyer_maker,
            }
            if kind == SPOT:
                row["isBestMatch"] = True
            out.append(row)
            if len(out) == limit:
                return out[::-1]
    return out[::-1]


def premium_index(
    kind: str, symbol: str, mark: str, funding_rate: str, next_ms: int, now_ms: int, pair: str
) -> Json:
    """A ``GET .../premiumIndex`` entry: the mark price, the index (the mark: no premium), the
    latest funding rate and the interest rate (the same constant), the next funding time; COIN-M
    names the ``pair``."""
    out: Json = {"symbol": symbol}
    if kind == COINM:
        out["pair"] = pair
    return out | {
        "markPrice": mark,
        "indexPrice": mark,
        "estimatedSettlePrice": mark,
        "lastFundingRate": funding_rate,
        "interestRate": funding_rate,
        "nextFundingTime": next_ms,
        "time": now_ms,
    }


def funding_rate(symbol: str, time_ms: int, rate: str, mark: str) -> Json:
    """A ``GET .../fundingRate`` entry (USD-M and COIN-M alike)."""
    return {"symbol": symbol, "fundingTime": time_ms, "fundingRate": rate, "markPrice": mark}


def commission_rate(inst: Instrument, symbol: str) -> Json:
    """``GET .../commissionRate``: the account's maker and taker rates (fractions of the
    notional; COIN-M charges them in the coin, USD-M in USDT)."""
    return {
        "symbol": symbol,
        "makerCommissionRate": f"{inst.maker_fee_rate:.6f}",
        "takerCommissionRate": f"{inst.taker_fee_rate:.6f}",
    }


@dataclass(slots=True)
class Ticker24h:
    """A symbol's rolling 24 h statistics (prices and volumes as floats: they are statistics,
    printed at the tick's decimals). Linear: ``volume`` in the base asset, ``quote_volume`` in
    the quote. Inverse (``contract_size`` USD a contract): ``volume`` in contracts,
    ``quote_volume`` the base asset's volume (contracts × size / price), as COIN-M reports."""

    open: float
    high: float
    low: float
    last: float
    last_qty: str
    volume: float
    quote_volume: float
    first_id: int
    last_id: int
    changed: bool = True
    contract_size: float = 0.0  # 0: linear

    def add(self, price: float, qty: float, qty_text: str, trades: int) -> None:
        """Count ``trades`` trades of ``qty`` in all at ``price``."""
        self.last, self.last_qty = price, qty_text
        self.high, self.low = max(self.high, price), min(self.low, price)
        self.volume += qty
        cs = self.contract_size
        self.quote_volume += qty * cs / price if cs else qty * price
        self.last_id += trades
        self.changed = True

    def vwap(self) -> float:
        """The volume-weighted average price (the last price before any volume)."""
        if not self.volume or not self.quote_volume:
            return self.last
        cs = self.contract_size
        return self.volume * cs / self.quote_volume if cs else self.quote_volume / self.volume
