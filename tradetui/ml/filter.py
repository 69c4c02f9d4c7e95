"""The ML filter as the engine uses it: follows the market, predicts at each decision, adjusts.

``MlFilter.follow`` wraps the engine's market handlers so the feature state sees every event
before a decision it may trigger; ``adjust`` runs at each decision. When inference fails the
``on_error`` setting decides: 'quote' keeps the unfiltered decision, 'pull' pulls both sides;
either way the failure is logged once per run of failures and noted in the decision. Every
prediction also goes to the live ``Monitor``; a change of its drift flag is logged.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tradetui.config import ConfigError, MlSettings
from tradetui.core.book import OrderBook
from tradetui.core.clock import Clock
from tradetui.ml.features import FeatureState, new_row
from tradetui.ml.model import FilterModel, ModelError, load_model
from tradetui.ml.monitor import Monitor
from tradetui.ml.policy import PolicyParams, apply_policy, pull_both
from tradetui.strategy.avellaneda import QuoteDecision

log = logging.getLogger(__name__)


class MlFilter:
    """Feature state, model and policy for one engine."""

    def __init__(self, model: FilterModel, settings: MlSettings) -> None:
        self.model = model
        self.params = PolicyParams(
            settings.skew_ticks, settings.widen_ticks, settings.pull_threshold
        )
        self.pull_on_error = settings.on_error == "pull"
        self.features = FeatureState()
        self.row = new_row()
        self.predictions = 0
        self.errors = 0
        self.p_down = 0.0
        self.p_up = 0.0
        self._failing = False
        self.monitor = Monitor(
            int(model.horizon_s * 1e9), float(model.card.get("threshold_ticks", 0.0))
        )
        self.drifting = False

    @classmethod
    def from_settings(cls, settings: MlSettings) -> MlFilter:
        """Load ``settings.model``; a missing, corrupt or mismatched model is a ConfigError."""
        if not settings.model:
            raise ConfigError("ml.model: empty; set it to a directory from `tradetui train`")
        try:
            return cls(load_model(Path(settings.model).expanduser()), settings)
        except ModelError as exc:
            raise ConfigError(f"ml.model: {exc}") from None

    def follow(
        self, handler: Callable[[Any], None], book: OrderBook, clock: Clock
    ) -> Callable[[Any], None]:
        """Feed the event to the feature state, then ``handler`` (which may decide at once)."""
        observe = self.features.observe

        def handle(ev: Any) -> None:
            observe(ev, clock.now_ns(), book)
            handler(ev)

        return handle

    def adjust(
        self,
        d: QuoteDecision,
        now_ns: int,
        book: OrderBook,
        position_lots: int,
        best_bid_ticks: int,
        best_ask_ticks: int,
    ) -> QuoteDecision:
        """``d`` adjusted by the model's view at ``now_ns`` (unchanged before any touch)."""
        try:
            if not self.features.compute(now_ns, book, position_lots, self.row):
                return d
            p_down, p_flat, p_up = self.model.predict(self.row)
        except Exception as exc:  # any model failure falls to on_error
            return self._failed(d, exc)
        self._failing = False
        self.predictions += 1
        self.p_down, self.p_up = p_down, p_up
        self.monitor.record(now_ns, self.features.mid_ticks, p_down, p_flat, p_up)
        self._check_drift()
        return apply_policy(d, p_down, p_up, best_bid_ticks, best_ask_ticks, self.params)

    def _check_drift(self) -> None:
        st = self.monitor.stats()
        if st.drifting == self.drifting:
            return
        self.drifting = st.drifting
        if st.drifting:
            log.warning(
                "ml model drifting: Brier %.3f worse than a constant forecast %.3f over the "
                "last %d predictions (hit rate %.2f); consider ml.enabled = false or retraining",
                st.brier,
                st.brier_constant,
                st.n,
                st.hit_rate,
            )
        else:
            log.info("ml model back above a constant forecast (Brier %.3f)", st.brier)

    def _failed(self, d: QuoteDecision, exc: Exception) -> QuoteDecision:
        self.errors += 1
        action = "pulling both sides" if self.pull_on_error else "quoting without the filter"
        if not self._failing:
            self._failing = True
            log.error("ml inference failed (%s); %s", exc, action)
        why = f"ml inference failed: {action}"
        if self.pull_on_error:
            return pull_both(d, why)
        return dataclasses.replace(d, adjustments=(*d.adjustments, why))
