"""Portfolio risk above the per-market guards of a several-market session (pure, no I/O).

Every market's position is valued in USD (the quote of USDT-margined and spot markets is
counted as USD): an inverse contract's position is its face value (contracts × contract size),
a linear one qty × price × contract size, spot base × price. From those the book's gross
(sum of |notional|) and net (|sum of signed notional|) exposure, and each base asset's
exposure netted across markets (long BTC on USD-M against short BTC on COIN-M). The book's
PnL is every market's total PnL in USD; its drawdown is measured from the session's peak,
its daily loss from the start of the UTC day (or of the session, if later).

``PortfolioGuard.check`` returns the first limit breached with its reason, worded like the
per-market guard's risk reasons; the host halts every market on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tradetui.core.instrument import Instrument

_DAY_NS = 86_400 * 1_000_000_000


@dataclass(frozen=True, slots=True)
class MarketExposure:
    """One market's position and PnL in USD."""

    symbol: str
    asset: str
    notional_usd: float  # signed: long > 0
    pnl_usd: float


def market_exposure(
    inst: Instrument, position_lots: int, mid_ticks: float, pnl_settle: float
) -> MarketExposure:
    """``inst``'s position of ``position_lots`` at ``mid_ticks`` and its total PnL (in the
    settlement asset: the coin for inverse contracts) in USD; 0 before any price is known."""
    if mid_ticks <= 0:
        return MarketExposure(inst.symbol, inst.base, 0.0, 0.0)
    notional = inst.notional(mid_ticks, abs(position_lots))
    signed = notional if position_lots >= 0 else -notional
    return MarketExposure(inst.symbol, inst.base, signed, inst.to_quote(pnl_settle, mid_ticks))


@dataclass(frozen=True, slots=True)
class PortfolioLimits:
    """The [portfolio] limits, USD; 0 = off."""

    max_gross_usd: float = 0.0
    max_net_usd: float = 0.0
    max_asset_usd: float = 0.0
    max_drawdown_usd: float = 0.0
    max_daily_loss_usd: float = 0.0


@dataclass(frozen=True, slots=True)
class PortfolioState:
    """The book's figures at one check."""

    gross_usd: float
    net_usd: float
    by_asset_usd: dict[str, float]
    pnl_usd: float
    peak_pnl_usd: float
    drawdown_usd: float
    day_pnl_usd: float

    def to_dict(self) -> dict[str, object]:
        return {
            "gross_usd": round(self.gross_usd, 2),
            "net_usd": round(self.net_usd, 2),
            "by_asset_usd": {a: round(v, 2) for a, v in sorted(self.by_asset_usd.items())},
            "pnl_usd": round(self.pnl_usd, 4),
            "peak_pnl_usd": round(self.peak_pnl_usd, 4),
            "drawdown_usd": round(self.drawdown_usd, 4),
            "day_pnl_usd": round(self.day_pnl_usd, 4),
        }


@dataclass(frozen=True, slots=True)
class PortfolioBreach:
    """A limit breached: which (the config key), and the reason shown and stored."""

    limit: str
    reason: str


@dataclass(slots=True)
class PortfolioGuard:
    """Tracks the book's PnL peak and day start; ``check`` names the first breach."""

    limits: PortfolioLimits
    _peak: float | None = None
    _day: int | None = None
    _day_open: float = 0.0
    last: PortfolioState | None = field(default=None, init=False)

    def measure(self, markets: Iterable[MarketExposure], now_ns: int) -> PortfolioState:
        """The book's figures at ``now_ns`` (updates the peak and the day's opening PnL)."""
        gross = net = pnl = 0.0
        by_asset: dict[str, float] = {}
        for m in markets:
            gross += abs(m.notional_usd)
            net += m.notional_usd
            pnl += m.pnl_usd
            by_asset[m.asset] = by_asset.get(m.asset, 0.0) + m.notional_usd
        self._peak = pnl if self._peak is None else max(self._peak, pnl)
        day = now_ns // _DAY_NS
        if self._day != day:
            self._day, self._day_open = day, pnl
        state = PortfolioState(
            gross, abs(net), by_asset, pnl, self._peak, self._peak - pnl, pnl - self._day_open
        )
        self.last = state
        return state

    def check(self, markets: Iterable[MarketExposure], now_ns: int) -> PortfolioBreach | None:
        """Measure the book and return the first limit it breaches (None: within all)."""
        s = self.measure(markets, now_ns)
        lim = self.limits
        if lim.max_drawdown_usd and s.drawdown_usd > lim.max_drawdown_usd:
            return PortfolioBreach(
                "portfolio.max_drawdown_usd",
                f"portfolio drawdown {s.drawdown_usd:.2f} USD > max {lim.max_drawdown_usd:g} "
                f"(PnL {s.pnl_usd:.2f}, peak {s.peak_pnl_usd:.2f})",
            )
        if lim.max_daily_loss_usd and -s.day_pnl_usd > lim.max_daily_loss_usd:
            return PortfolioBreach(
                "portfolio.max_daily_loss_usd",
                f"portfolio day loss {-s.day_pnl_usd:.2f} USD > max {lim.max_daily_loss_usd:g}",
            )
        if lim.max_gross_usd and s.gross_usd > lim.max_gross_usd:
            return PortfolioBreach(
                "portfolio.max_gross_usd",
                f"portfolio gross {s.gross_usd:.0f} USD > max {lim.max_gross_usd:g}",
            )
        if lim.max_net_usd and s.net_usd > lim.max_net_usd:
            return PortfolioBreach(
                "portfolio.max_net_usd",
                f"portfolio net {s.net_usd:.0f} USD > max {lim.max_net_usd:g}",
            )
        if lim.max_asset_usd:
            for asset, usd in sorted(s.by_asset_usd.items()):
                if abs(usd) > lim.max_asset_usd:
                    return PortfolioBreach(
                        "portfolio.max_asset_usd",
                        f"portfolio {asset} exposure {usd:+.0f} USD (net over markets) > max "
                        f"{lim.max_asset_usd:g}",
                    )
        return None
