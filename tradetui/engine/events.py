"""Typed, immutable engine events published on the bus (store, UI, alerts, logs read these).

msgspec Structs: the engine builds one or more for every decision and order change, and a
frozen dataclass costs about 0.1 µs a field to build.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from tradetui.core.accounting import PnlSnapshot
from tradetui.core.types import Fill, OrderType, Side
from tradetui.risk.guard import RiskDecision
from tradetui.strategy.avellaneda import QuoteDecision


class EngineState(StrEnum):
    STOPPED = "stopped"
    STARTING = "starting"  # waiting for the venue's account snapshot
    RUNNING = "running"
    STOPPING = "stopping"
    FLATTENING = "flattening"
    HALTED = "halted"


class OrderStatus(StrEnum):
    SENT = "sent"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    CANCEL_SENT = "cancel_sent"
    CANCELLED = "cancelled"
    CANCEL_REJECTED = "cancel_rejected"
    # A placement or cancel without an answer that settles it; the venue is asking.
    UNKNOWN = "unknown"
    FILLED = "filled"


class StateChanged(msgspec.Struct, frozen=True, gc=False):
    ts_ns: int
    state: EngineState
    previous: EngineState
    reason: str


class DecisionMade(msgspec.Struct, frozen=True, gc=False):
    """One quote decision with its full explanation and the requote reasons it produced."""

    ts_ns: int
    decision: QuoteDecision
    risk: RiskDecision
    reasons: tuple[str, ...]
    placed: int
    cancelled: int


class OrderUpdate(msgspec.Struct, frozen=True, gc=False):
    ts_ns: int
    client_id: str
    side: Side
    price_ticks: int
    qty_lots: int
    status: OrderStatus
    reason: str = ""
    order_type: OrderType = OrderType.LIMIT
    post_only: bool = True
    reduce_only: bool = False


class FillRecorded(msgspec.Struct, frozen=True, gc=False):
    """A fill booked; ``mid_ticks`` is the mid it was booked at (core/metrics.py: the mid
    in effect before the fill; 0 with no book)."""

    ts_ns: int
    fill: Fill
    position_lots: int
    pnl: PnlSnapshot
    mid_ticks: float = 0.0


class RiskChanged(msgspec.Struct, frozen=True, gc=False):
    """The risk guard's verdict changed (action or reasons); logged and stored."""

    ts_ns: int
    risk: RiskDecision


class FlattenFinished(msgspec.Struct, frozen=True, gc=False):
    ts_ns: int
    outcome: str  # "flat", "dust", "timeout"
    position_lots: int
    attempts: int
    detail: str


class VenueConnection(msgspec.Struct, frozen=True, gc=False):
    """A venue stream went down or came back; published by venues that hold connections.

    ``stream``: which connection ("market", "account", "rest"); ``detail``: why, for people.
    """

    ts_ns: int
    connected: bool
    stream: str
    detail: str


class ModelDrift(msgspec.Struct, frozen=True, gc=False):
    """The ML filter's live check crossed its drift limits (``drifting``) or came back inside.

    Figures are over the monitor's last ``n`` resolved predictions: hit rate and calibration
    gap in [0, 1], Brier scores in [0, 2] (``brier_constant``: a constant forecast of the
    window's class frequencies). ``reasons`` names the limits that fired (empty on recovery).
    ``disabled``: the filter is switched off by the drift (``ml.drift_action = "disable"``)
    and stays off, also once the model is back within its limits, until a new model loads.
    """

    ts_ns: int
    drifting: bool
    reasons: tuple[str, ...]
    n: int
    hit_rate: float
    brier: float
    brier_constant: float
    calibration_gap: float
    disabled: bool = False

    @property
    def summary(self) -> str:
        """One line for logs and alerts."""
        figures = (
            f"hit rate {self.hit_rate:.2f}, Brier {self.brier:.3f} (constant "
            f"{self.brier_constant:.3f}), calibration gap {self.calibration_gap:.2f} over the "
            f"last {self.n} predictions"
        )
        off = (
            "; ML filter switched off (ml.drift_action = disable) until a new model loads"
            if self.disabled
            else ""
        )
        if self.drifting:
            return f"ml model drifting: {'; '.join(self.reasons)} ({figures}){off}"
        return f"ml model back within its drift limits ({figures}){off}"


class ModelReloaded(msgspec.Struct, frozen=True, gc=False):
    """The ML filter swapped in a new model between two decisions (sha256 of model.json)."""

    ts_ns: int
    path: str
    sha256: str
    previous_sha256: str
    detail: str


class MarketEnded(msgspec.Struct, frozen=True, gc=False):
    """The session's market has no more data (a replay reached the end of its files); the
    host stops quoting and applies ``action`` (market.replay_end: "stop" or "flatten")."""

    ts_ns: int
    source: str  # the market's label, e.g. "replay capture.gz"
    action: str
    detail: str


EngineEvent = (
    StateChanged
    | DecisionMade
    | OrderUpdate
    | FillRecorded
    | RiskChanged
    | FlattenFinished
    | VenueConnection
    | ModelDrift
    | ModelReloaded
    | MarketEnded
)
