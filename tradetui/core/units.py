"""Money and sizes named by their asset, for reports and screens.

Money in a ``PnlSnapshot`` is in the settlement asset: the quote asset (USDT) for linear and
spot markets, the coin for inverse contracts. Sizes count order units
(``Instrument.size_unit``): the base asset, or contracts. People read coin amounts to eight
decimals (a satoshi) and quote amounts to four.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any

from tradetui.core.accounting import PnlSnapshot
from tradetui.core.instrument import Instrument
from tradetui.core.money import money_amount

_COIN_DECIMALS = 8
_QUOTE_DECIMALS = 4


def money_decimals(settle: str, quote: str) -> int:
    """Digits after the point for an amount in ``settle`` on a market quoted in ``quote``."""
    return _COIN_DECIMALS if settle != quote else _QUOTE_DECIMALS


def size_decimals(size_unit: str) -> int:
    """Digits after the point for a size: whole contracts, base amounts to 1e-6."""
    return 0 if size_unit == "contracts" else 6


def sizes(inst: Instrument, *lots: float) -> str:
    """``80→40 contracts``, ``0.080 BTC``, ``0.01000→0.00606 BTC``: sizes given in lots, in
    order units to the order step's decimals (spot books count in a finer lot), joined by
    arrows and named once; a fractional lot count gets two more decimals. Strategy notes call
    it on every skewed decision with a handful of distinct sizes, so texts are remembered."""
    key = (id(inst), lots)
    hit = _SIZES.get(key)
    if hit is not None and hit[0] is inst:
        return hit[1]
    step = (inst.lot_size * inst.step_lots).normalize()
    places = max(0, -int(step.as_tuple().exponent))
    lot = float(inst.lot_size)
    texts = [f"{n * lot:.{places if float(n).is_integer() else places + 2}f}" for n in lots]
    text = f"{'→'.join(texts)} {inst.size_unit}"
    if len(_SIZES) >= _SIZES_MAX:
        _SIZES.clear()
    _SIZES[key] = (inst, text)
    return text


# sizes' texts by (instrument id, lots); the instrument is kept to tell a reused id apart.
_SIZES: dict[tuple[int, tuple[float, ...]], tuple[Instrument, str]] = {}
_SIZES_MAX = 4096


def money(amount: Decimal | float, settle: str, quote: str) -> str:
    """``+1.2345 USDT`` or ``-0.00000030 BTC``: a signed amount in ``settle``, named."""
    return f"{amount:+,.{money_decimals(settle, quote)}f} {settle}"


def paid(amount: Decimal, settle: str, quote: str) -> str:
    """``7.2229 USDT``: fees paid or rebates received, amounts >= 0 shown without a sign."""
    return f"{amount:,.{money_decimals(settle, quote)}f} {settle}"


def at_mark(amount: Decimal, mark: float) -> Decimal:
    """A settlement-asset amount in quote at ``mark`` (quote per base), to the money decimals."""
    return money_amount(Fraction(amount) * Fraction(repr(mark)))


def in_quote(snap: PnlSnapshot, instrument: Instrument) -> dict[str, Decimal | float | str]:
    """The snapshot's money in the quote asset: settlement-asset figures × the mark (the same
    numbers when the market settles in quote), and the traded volume in quote (exact: USD
    face value for inverse contracts, not valued at the mark)."""
    coin = instrument.settle != instrument.quote

    def value(amount: Decimal) -> Decimal:
        return at_mark(amount, snap.mark) if coin else amount

    return {
        "asset": instrument.quote,
        "valued_at": "final mark" if coin else "settles in quote",
        "at_mark": snap.mark,
        "pnl_total": value(snap.total),
        "pnl_realized": value(snap.realized),
        "pnl_unrealized": value(snap.unrealized),
        "spread_capture": value(snap.spread_capture),
        "inventory_pnl": value(snap.inventory_pnl),
        "fees": value(snap.fees),
        "rebates": value(snap.rebates),
        "volume": snap.volume_quote,
    }


def asset_names(instrument: Instrument) -> dict[str, str]:
    """The assets a report's figures are in (JSON keys ``settle_asset``, ``quote_asset``,
    ``size_unit``)."""
    return {
        "settle_asset": instrument.settle,
        "quote_asset": instrument.quote,
        "size_unit": instrument.size_unit,
    }


def money_rows(r: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Volume and the PnL split of a summary or report as (label, text) rows, each amount
    with its asset; an inverse market's amounts are followed by their value in quote at the
    final mark."""
    settle, quote = r["settle_asset"], r["quote_asset"]
    coin = settle != quote
    d = money_decimals(settle, quote)
    q = r["in_quote"]

    def amount(key: str) -> str:
        text = f"{r[key]:+,.{d}f} {settle}"
        return f"{text}  ({q[key]:+,.2f} {quote})" if coin else text

    def paid(key: str) -> str:  # fees and rebates: amounts >= 0, no sign (docs/units.md)
        text = f"{r[key]:,.{d}f} {settle}"
        return f"{text}  ({q[key]:,.2f} {quote})" if coin else text

    volume = f"{r['volume_quote']:,.2f} {quote}"
    if coin:
        volume += f" ({r['volume_settle']:,.{d}f} {settle})"
    rows = [
        ("volume", volume),
        ("PnL total", amount("pnl_total")),
        ("  realized", amount("pnl_realized")),
        ("  unrealized", amount("pnl_unrealized")),
        ("  spread capture", amount("spread_capture")),
        ("  inventory", amount("inventory_pnl")),
        ("  fees paid", paid("fees")),
        ("  rebates", paid("rebates")),
    ]
    if coin:
        rows.append((f"  in {quote}", f"valued at the final mark {q['at_mark']:,.2f}"))
    return rows


def markout_text(markouts: Mapping[str, Mapping[str, Any]]) -> str:
    """``1s +0.12  5s -0.35  30s -1.20 bps (18 fills)``: each horizon's mean markout
    (core/metrics.py), with the fills counted at the shortest; ``none yet`` before any."""
    if not markouts or not next(iter(markouts.values()))["fills"]:
        return "none yet"
    means = "  ".join(f"{h} {m['mean_bps']:+.2f}" for h, m in markouts.items())
    return f"{means} bps ({next(iter(markouts.values()))['fills']} fills)"


def charged_fee_rows(r: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Fees the exchange charged in another asset than the settlement asset (BNB), as
    charged, with the part no rate valued (``fees_charged``, ``fees_unvalued`` of a summary
    or report; none when absent)."""
    rows = []
    for asset, amount in r.get("fees_charged", {}).items():
        unvalued = r["fees_unvalued"].get(asset)
        note = f" ({unvalued:.8f} {asset} unvalued: PnL leaves it out)" if unvalued else ""
        rows.append((f"fees in {asset}", f"{amount:.8f} {asset} charged{note}"))
    return rows
