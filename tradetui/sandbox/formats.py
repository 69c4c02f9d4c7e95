"""Binance USD-M JSON shapes for the sandbox's state (decimal strings, times in ms)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tradetui.core.instrument import Instrument, InstrumentKind
from tradetui.core.types import BestBidOffer, BookDelta, OrderType, Side, Trade
from tradetui.sandbox.account import OrderUpdate, SandboxAccount, SandboxOrder, SandboxTrade

Json = dict[str, Any]

_NS_PER_MS = 1_000_000

_SIDE = {Side.BUY: "BUY", Side.SELL: "SELL"}
# Binance's current USD-M rate limits, advertised as exchangeInfo does.
_RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400},
    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
]


def _places(step: str) -> int:
    return len(step.split(".")[1].rstrip("0")) if "." in step else 0


def exchange_info(inst: Instrument, now_ms: int) -> Json:
    """``GET /fapi/v1/exchangeInfo`` for the one symbol."""
    tick, step = str(inst.tick_size), str(inst.lot_size)
    symbol = {
        "symbol": inst.symbol,
        "pair": inst.symbol,
        "contractType": "PERPETUAL",
        "deliveryDate": 4133404800000,
        "onboardDate": 1569398400000,
        "status": "TRADING",
        "maintMarginPercent": "2.5000",
        "requiredMarginPercent": "5.0000",
        "baseAsset": inst.base,
        "quoteAsset": inst.quote,
        "marginAsset": inst.quote,
        "pricePrecision": _places(tick),
        "quantityPrecision": _places(step),
        "baseAssetPrecision": 8,
        "quotePrecision": 8,
        "underlyingType": "COIN",
        "underlyingSubType": [],
        "triggerProtect": "0.0500",
        "liquidationFee": "0.012500",
        "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": tick,
                "maxPrice": "4529764",
                "tickSize": tick,
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": str(inst.min_qty),
                "maxQty": "1000",
                "stepSize": step,
            },
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": str(inst.min_qty),
                "maxQty": "120",
                "stepSize": step,
            },
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
            {"filterType": "MIN_NOTIONAL", "notional": str(inst.min_notional)},
            {
                "filterType": "PERCENT_PRICE",
                "multiplierUp": "1.0500",
                "multiplierDown": "0.9500",
                "multiplierDecimal": "4",
            },
        ],
        "orderTypes": ["LIMIT", "MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
    }
    return {
        "timezone": "UTC",
        "serverTime": now_ms,
        "futuresType": "U_MARGINED",
        "rateLimits": _RATE_LIMITS,
        "exchangeFilters": [],
        "assets": [{"asset": inst.quote, "marginAvailable": True, "autoAssetExchange": "-10000"}],
        "symbols": [symbol],
    }


def depth(acct: SandboxAccount, limit: int, now_ms: int) -> Json:
    """``GET /fapi/v1/depth`` (``/api/v3/depth`` for a spot instrument, which carries no
    times): the top ``limit`` levels per side of the depth stream's book at its last id."""
    inst, book = acct.instrument, acct.depth
    out: Json = {"lastUpdateId": acct.update_id}
    if not _spot(inst):
        out |= {"E": now_ms, "T": now_ms}
    out["bids"] = _levels(inst, book.levels(Side.BUY, limit))
    out["asks"] = _levels(inst, book.levels(Side.SELL, limit))
    return out


def order(inst: Instrument, o: SandboxOrder) -> Json:
    """An order as ``POST/GET/DELETE /fapi/v1/order`` and ``openOrders`` return it."""
    avg = str(inst.price(1) * o.cum_ticklots / o.executed_lots) if o.executed_lots else "0.00"
    kind = "MARKET" if o.order_type is OrderType.MARKET else "LIMIT"
    return {
        "orderId": o.order_id,
        "symbol": inst.symbol,
        "status": o.status,
        "clientOrderId": o.client_id,
        "price": str(inst.price(o.price_ticks)),
        "avgPrice": avg,
        "origQty": str(inst.qty(o.orig_lots)),
        "executedQty": str(inst.qty(o.executed_lots)),
        "cumQty": str(inst.qty(o.executed_lots)),
        "cumQuote": str(inst.tick_size * inst.lot_size * o.cum_ticklots),
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
    """A fill as ``GET /fapi/v1/userTrades`` returns it."""
    price, qty = inst.price(t.price_ticks), inst.qty(t.qty_lots)
    return {
        "buyer": t.order.side is Side.BUY,
        "commission": f"{t.fee:.8f}",
        "commissionAsset": inst.quote,
        "id": t.trade_id,
        "maker": t.is_maker,
        "orderId": t.order.order_id,
        "price": str(price),
        "qty": str(qty),
        "quoteQty": str(price * qty),
        "realizedPnl": f"{t.realized_quote:.8f}",
        "side": _SIDE[t.order.side],
        "positionSide": "BOTH",
        "symbol": inst.symbol,
        "time": t.time_ms,
    }


def position(acct: SandboxAccount, now_ms: int) -> Json:
    """The one-way position as ``GET /fapi/v3/positionRisk`` returns it."""
    inst, ledger = acct.instrument, acct.ledger
    mark = acct.mark_ticks * inst.tick
    amt = inst.qty(ledger.position_lots)
    entry = float(ledger.avg_entry_ticks) * inst.tick
    return {
        "symbol": inst.symbol,
        "positionSide": "BOTH",
        "positionAmt": str(amt),
        "entryPrice": f"{entry:.8f}",
        "breakEvenPrice": f"{entry:.8f}",
        "markPrice": f"{mark:.8f}",
        "unRealizedProfit": f"{acct.unrealized_quote():.8f}",
        "liquidationPrice": "0",
        "isolatedMargin": "0",
        "notional": f"{float(amt) * mark:.8f}",
        "marginAsset": inst.quote,
        "isolatedWallet": "0",
        "initialMargin": f"{acct.position_margin_quote() + acct.order_margin_quote():.8f}",
        "maintMargin": f"{float(abs(amt)) * mark * 0.004:.8f}",
        "positionInitialMargin": f"{acct.position_margin_quote():.8f}",
        "openOrderInitialMargin": f"{acct.order_margin_quote():.8f}",
        "adl": 0,
        "bidNotional": "0",
        "askNotional": "0",
        "leverage": str(acct.leverage),
        "marginType": "cross",
        "updateTime": now_ms,
    }


def account(acct: SandboxAccount, now_ms: int) -> Json:
    """``GET /fapi/v2|v3/account``: the quote asset's balances and the position."""
    inst = acct.instrument
    wallet, unreal = acct.wallet_quote(), acct.unrealized_quote()
    pos_margin, ord_margin = acct.position_margin_quote(), acct.order_margin_quote()
    available = acct.available_quote()
    money = {
        "walletBalance": f"{wallet:.8f}",
        "unrealizedProfit": f"{unreal:.8f}",
        "marginBalance": f"{wallet + unreal:.8f}",
        "maintMargin": "0",
        "initialMargin": f"{pos_margin + ord_margin:.8f}",
        "positionInitialMargin": f"{pos_margin:.8f}",
        "openOrderInitialMargin": f"{ord_margin:.8f}",
        "crossWalletBalance": f"{wallet:.8f}",
        "crossUnPnl": f"{unreal:.8f}",
        "availableBalance": f"{available:.8f}",
        "maxWithdrawAmount": f"{max(available, 0.0):.8f}",
    }
    pos = position(acct, now_ms)
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
        "assets": [{"asset": inst.quote, **money, "marginAvailable": True, "updateTime": now_ms}],
        "positions": [pos],
    }


def leverage_brackets(inst: Instrument) -> list[Json]:
    """``GET /fapi/v1/leverageBracket``: one bracket, enough for ccxt's position maths."""
    bracket = {
        "bracket": 1,
        "initialLeverage": 125,
        "notionalCap": 50000,
        "notionalFloor": 0,
        "maintMarginRatio": 0.004,
        "cum": 0.0,
    }
    return [{"symbol": inst.symbol, "brackets": [bracket]}]


# ---- websocket events ----------------------------------------------------------------------


def _levels(inst: Instrument, levels: Sequence[tuple[int, int]]) -> list[list[str]]:
    return [[str(inst.price(p)), str(inst.qty(q))] for p, q in levels]


def _spot(inst: Instrument) -> bool:
    return inst.kind is InstrumentKind.SPOT


def depth_update(inst: Instrument, ev: BookDelta) -> Json:
    """A ``depthUpdate`` event (diff stream, ids ``U``..``u`` chained by ``pu``; spot sends no
    ``pu`` nor ``T`` and chains by ``U`` = previous ``u`` + 1)."""
    t_ms = ev.exch_ns // _NS_PER_MS
    out: Json = {"e": "depthUpdate", "E": t_ms}
    if not _spot(inst):
        out["T"] = t_ms
    out |= {"s": inst.symbol, "U": ev.first_id, "u": ev.last_id}
    if not _spot(inst):
        out["pu"] = ev.prev_id
    out |= {"b": _levels(inst, ev.bids), "a": _levels(inst, ev.asks)}
    return out


def book_ticker(inst: Instrument, ev: BestBidOffer) -> Json:
    """A ``bookTicker`` event (spot's carries no times)."""
    t_ms = ev.exch_ns // _NS_PER_MS
    out: Json = {
        "e": "bookTicker",
        "u": ev.update_id,
        "s": inst.symbol,
        "b": str(inst.price(ev.bid_ticks)),
        "B": str(inst.qty(ev.bid_lots)),
        "a": str(inst.price(ev.ask_ticks)),
        "A": str(inst.qty(ev.ask_lots)),
    }
    if not _spot(inst):
        out |= {"T": t_ms, "E": t_ms}
    return out


def trade(inst: Instrument, ev: Trade) -> Json:
    """A public ``trade`` event; ``m`` (buyer is maker) is true for a sell aggressor."""
    t_ms = ev.exch_ns // _NS_PER_MS
    return {
        "e": "trade",
        "E": t_ms,
        "T": t_ms,
        "s": inst.symbol,
        "t": ev.trade_id,
        "p": str(inst.price(ev.price_ticks)),
        "q": str(inst.qty(ev.qty_lots)),
        "X": "MARKET",
        "m": ev.aggressor is Side.SELL,
    }


def order_trade_update(inst: Instrument, u: OrderUpdate, now_ms: int) -> Json:
    """An ``ORDER_TRADE_UPDATE`` user-stream event for one order update."""
    o, t = u.order, u.trade
    kind = "MARKET" if o.order_type is OrderType.MARKET else "LIMIT"
    avg = inst.price(1) * u.cum_ticklots / u.executed_lots if u.executed_lots else 0
    return {
        "e": "ORDER_TRADE_UPDATE",
        "E": now_ms,
        "T": now_ms,
        "o": {
            "s": inst.symbol,
            "c": o.client_id,
            "S": _SIDE[o.side],
            "o": kind,
            "f": o.time_in_force,
            "q": str(inst.qty(o.orig_lots)),
            "p": str(inst.price(o.price_ticks)),
            "ap": str(avg),
            "sp": "0",
            "x": u.execution,
            "X": u.status,
            "i": o.order_id,
            "l": str(inst.qty(t.qty_lots)) if t else "0",
            "z": str(inst.qty(u.executed_lots)),
            "L": str(inst.price(t.price_ticks)) if t else "0",
            "N": inst.quote,
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
            "rp": f"{t.realized_quote:.8f}" if t else "0",
            "pP": False,
            "si": 0,
            "ss": 0,
            "V": "NONE",
            "pm": "NONE",
            "gtd": 0,
        },
    }
