"""Fees the exchange charges in an asset other than the settlement asset, valued into it.

Binance USD-M's BNB fee discount ("BNB burn", ``GET/POST /fapi/v1/feeBurn``) charges the
commission in BNB while the futures wallet holds BNB: the trade then reports
``commissionAsset``/``N`` = BNB and the amount in BNB. tradetui keeps that amount exactly and
values it in the settlement asset at the rate last read from the exchange (the venue refreshes
it every ``fee_rate_refresh_s``). With no rate for an asset, a fee is never guessed: it counts
0 in PnL, the amount is kept, and the summary lists it as unvalued.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass(slots=True)
class FeeRates:
    """The latest rate (settlement asset per unit) of each fee asset the venue has read."""

    settle: str
    rates: dict[str, float] = field(default_factory=dict)
    _warned: set[str] = field(default_factory=set)

    def update(self, asset: str, rate: float) -> None:
        """Record a rate read from the exchange; a non-positive or non-finite one is ignored."""
        if rate > 0 and math.isfinite(rate):
            self.rates[asset] = rate
        else:
            log.warning("ignored a %s/%s rate of %r", asset, self.settle, rate)

    def value(self, asset: str, amount: float) -> tuple[float, float]:
        """``(amount in the settlement asset, rate used)`` for a fee of ``amount`` ``asset``;
        ``(0.0, 0.0)`` when no rate is known (said once per asset, as an error)."""
        if asset == self.settle:
            return amount, 1.0
        rate = self.rates.get(asset, 0.0)
        if rate:
            return amount * rate, rate
        if asset not in self._warned:
            self._warned.add(asset)
            log.error(
                "a fee was charged in %s and no %s/%s rate is known: it is kept as charged "
                "but counts 0 in PnL (the summary lists it under fees_unvalued)",
                asset,
                asset,
                self.settle,
            )
        return 0.0, 0.0
