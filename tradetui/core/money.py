"""Exact money at the edge where numbers become text: ``Decimal`` amounts, their plain text,
and JSON that writes each ``Decimal`` as the number it is.

Every money figure a user reads or a script parses (summaries, reports, fills, sweeps, the
console, Telegram) is a ``Decimal`` to ``MONEY_PLACES`` decimals, made from the ledger's
integer value units (``money_amount``) or from a fill's fee as the exchange reported it
(``fee_amount``). The fee sign is one everywhere (docs/units.md): a fill's fee is positive
when paid and negative when it is a rebate, as Binance's ``commission``; ``fees`` totals what
was paid and ``rebates`` what was received, both >= 0.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any

# Decimals of money figures exported: linear and spot money is exact well inside them (ticks
# × lots, fees to 8); an inverse contract's coin PnL is kept to 1e-12 of the coin.
MONEY_PLACES = 12
_SCALE = 10**MONEY_PLACES
# Decimals of a fee: Binance reports commission to 8 (its trade lists show
# "commission": "-0.07819010").
FEE_PLACES = 8
_FEE_QUANTUM = Decimal(1).scaleb(-FEE_PLACES)


def money_amount(value: Fraction | int) -> Decimal:
    """An exact amount as ``Decimal`` to ``MONEY_PLACES`` decimals (half-even when it has more:
    an inverse contract's coin PnL, a value at a mark); linear and spot money never rounds."""
    return Decimal(round(value * _SCALE)).scaleb(-MONEY_PLACES)


def fee_amount(fee: float) -> Decimal:
    """A fill's fee as the decimal the exchange reported (the shortest decimal that is this
    float), to ``FEE_PLACES`` decimals; positive is paid, negative a rebate."""
    return Decimal(repr(fee)).quantize(_FEE_QUANTUM)


def fee_for(notional_settle: Fraction, rate: Fraction) -> float:
    """The fee a venue charges on ``notional_settle`` at ``rate``: exact, then to
    ``FEE_PLACES`` decimals as Binance reports commission; a float whose shortest decimal is
    that amount."""
    return float(Decimal(round(notional_settle * rate * 10**FEE_PLACES)).scaleb(-FEE_PLACES))


def plain(amount: Decimal) -> str:
    """``amount`` in plain notation without trailing zeros: ``7.2229``, ``-0.00000032``, ``0``."""
    text = format(amount, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


_MARK = re.compile(r'"\\u0000(\d+)"')


def dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` that writes a ``Decimal`` as a JSON number with its exact digits
    (``-2.7293``, never ``-2.7293000000000003``); a script reading it with
    ``parse_float=Decimal`` gets the amount back exactly; ``kwargs`` go to ``json.dumps``
    (``indent``, ``sort_keys``). (Decimals pass through the encoder
    as NUL-marked strings, so other strings must not start with a NUL and digits.)"""
    numbers: list[str] = []

    def default(o: object) -> str:
        if isinstance(o, Decimal):
            text = plain(o)
            numbers.append(text if "." in text else text + ".0")
            return f"\0{len(numbers) - 1}"
        raise TypeError(f"Object of type {type(o).__name__} is not JSON serializable")

    text = json.dumps(obj, default=default, **kwargs)
    return _MARK.sub(lambda m: numbers[int(m.group(1))], text)
