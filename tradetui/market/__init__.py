"""Market sources: the calibrated synthetic market (and, beside it, replay and recording)."""

from tradetui.market.synthetic import SyntheticMarket, SyntheticParams

__all__ = ["SyntheticMarket", "SyntheticParams"]
