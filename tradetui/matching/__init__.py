"""Queue-aware matching engine shared by the simulated venue and the loopback exchange."""

from tradetui.matching.engine import MatchingConfig, MatchingEngine, OpenOrder
from tradetui.matching.queue import QueueModel

__all__ = ["MatchingConfig", "MatchingEngine", "OpenOrder", "QueueModel"]
