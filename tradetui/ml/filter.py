"""The ML filter as the engine uses it: follows the market, predicts at each decision, adjusts.

``MlFilter.follow`` wraps the engine's market handlers so the feature state sees every event
before a decision it may trigger; ``adjust`` runs at each decision. When inference fails the
``on_error`` setting decides: 'quote' keeps the unfiltered decision, 'pull' pulls both sides;
either way the failure is logged once per run of failures and noted in the decision. Every
prediction also goes to the live ``Monitor``; when its drift verdict changes the filter logs
it and publishes ``ModelDrift``. With ``reload_check_s`` > 0 a ``ModelReloader`` watches the
model files and a retrained model is swapped in at the start of a decision (the feature state
carries on, so no decision goes without a prediction); the swap is logged and published as
``ModelReloaded``, and the live check starts over for the new model. With
``drift_action = "disable"`` a drift verdict also switches the filter off: it keeps predicting
and checking (the console and the log go on showing the check) but leaves decisions as the
strategy made them until a new model is swapped in or the session restarts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from tradetui.config import ConfigError, MlSettings
from tradetui.core.book import OrderBook
from tradetui.core.clock import Clock
from tradetui.core.instrument import Instrument
from tradetui.engine.events import EngineEvent, ModelDrift, ModelReloaded
from tradetui.ml.features import FeatureState, new_row
from tradetui.ml.model import FilterModel, ModelError, instrument_problem, load_model
from tradetui.ml.monitor import DriftThresholds, Monitor, MonitorStats
from tradetui.ml.policy import PolicyParams, apply_policy, pull_both
from tradetui.ml.reload import ModelReloader
from tradetui.strategy.avellaneda import QuoteDecision

log = logging.getLogger(__name__)

# The drift verdict is re-read every this many predictions (a few µs each time).
_DRIFT_CHECK_EVERY = 10


@dataclass(frozen=True, slots=True)
class MlStatus:
    """What the console shows of the filter: last probabilities, counts, live check, model."""

    p_down: float
    p_up: float
    predictions: int
    errors: int
    monitor: MonitorStats
    sha256: str
    reloads: int
    min_predictions: int
    disabled: bool = False  # switched off by the drift check (ml.drift_action = "disable")


class MlFilter:
    """Feature state, model and policy for one engine."""

    def __init__(
        self,
        model: FilterModel,
        settings: MlSettings,
        publish: Callable[[EngineEvent], None] | None = None,
        model_dir: Path | None = None,
    ) -> None:
        self.model = model
        self.settings = settings
        self.publish = publish
        self.instrument: Instrument | None = None  # the one models must be trained for, if set
        self.params = PolicyParams(
            settings.skew_ticks, settings.widen_ticks, settings.pull_threshold
        )
        self.pull_on_error = settings.on_error == "pull"
        self.features = FeatureState()
        self.row = new_row()
        self.predictions = 0
        self.errors = 0
        # Quote sides the policy moved to another price or pulled (one count per side).
        self.sides_moved = 0
        self.sides_pulled = 0
        self.p_down = 0.0
        self.p_up = 0.0
        self._failing = False
        self.monitor = self._new_monitor(model)
        self.drifting = False
        # Switched off by a drift verdict (drift_action = "disable") until a new model loads.
        self.disabled = False
        self.disable_on_drift = settings.drift_action == "disable"
        self.reloads = 0
        self.reloader = (
            ModelReloader(model_dir, model.sha256, int(settings.reload_check_s * 1e9))
            if model_dir is not None and settings.reload_check_s > 0
            else None
        )

    def _new_monitor(self, model: FilterModel) -> Monitor:
        s = self.settings
        # The monitor labels outcomes like training: moves of 10⁴·ln(mid) (``log_mid_bps``,
        # recorded below) against the card's threshold in bps.
        return Monitor(
            int(model.horizon_s * 1e9),
            float(model.card.get("threshold_bps", 0.0)),
            window=s.monitor_window,
            thresholds=DriftThresholds(
                s.drift_min_predictions,
                s.drift_min_hit_rate,
                s.drift_max_brier_excess,
                s.drift_max_calibration_gap,
            ),
        )

    @classmethod
    def from_settings(
        cls,
        settings: MlSettings,
        publish: Callable[[EngineEvent], None] | None = None,
        instrument: Instrument | None = None,
    ) -> MlFilter:
        """Load ``settings.model``; a missing, corrupt or mismatched model is a ConfigError,
        and so is a model trained for another instrument than ``instrument`` (when given)."""
        if not settings.model:
            raise ConfigError("ml.model: empty; set it to a directory from `tradetui train`")
        directory = Path(settings.model).expanduser()
        try:
            model = load_model(directory)
        except ModelError as exc:
            raise ConfigError(f"ml.model: {exc}") from None
        problem = "" if instrument is None else instrument_problem(model.card, instrument)
        if problem:
            raise ConfigError(f"ml.model: {directory}: {problem}")
        ml = cls(model, settings, publish, directory)
        ml.instrument = instrument
        return ml

    def status(self) -> MlStatus:
        """The filter's state now, for the console."""
        return MlStatus(
            self.p_down,
            self.p_up,
            self.predictions,
            self.errors,
            self.monitor.stats(),
            self.model.sha256,
            self.reloads,
            self.settings.drift_min_predictions,
            self.disabled,
        )

    def swap(self, model: FilterModel, now_ns: int) -> None:
        """Use ``model`` from the next prediction on; the live check starts over."""
        old = self.model
        self.model = model
        self.monitor = self._new_monitor(model)
        self.drifting = False
        self.disabled = False
        self.reloads += 1
        path = str(self.reloader.directory) if self.reloader else "?"
        ll = model.card.get("metrics", {}).get("model", {}).get("log_loss")
        detail = f"ml model reloaded from {path}: sha256 {old.sha256[:12]} → {model.sha256[:12]}"
        if isinstance(ll, float):
            detail += f", held-out log loss {ll:.4f}"
        log.info("%s", detail)
        if self.publish is not None:
            self.publish(ModelReloaded(now_ns, path, model.sha256, old.sha256, detail))

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
        if self.reloader is not None:
            new = self.reloader.poll(now_ns)
            problem = (
                ""
                if new is None or self.instrument is None
                else instrument_problem(new.card, self.instrument)
            )
            if problem:
                log.warning("ml model not reloaded (%s); keeping the current model", problem)
            elif new is not None:
                self.swap(new, now_ns)
        try:
            if not self.features.compute(now_ns, book, position_lots, self.row):
                return d
            p_down, p_flat, p_up = self.model.predict(self.row)
        except Exception as exc:  # any model failure falls to on_error
            return self._failed(d, exc)
        self._failing = False
        self.predictions += 1
        self.p_down, self.p_up = p_down, p_up
        self.monitor.record(now_ns, self.features.log_mid_bps, p_down, p_flat, p_up)
        if self.predictions % _DRIFT_CHECK_EVERY == 0:
            self._check_drift(now_ns)
        if self.disabled:
            return d
        out = apply_policy(d, p_down, p_up, best_bid_ticks, best_ask_ticks, self.params)
        for before, after in ((d.bid, out.bid), (d.ask, out.ask)):
            if before is not None:
                if after is None:
                    self.sides_pulled += 1
                elif after.price_ticks != before.price_ticks:
                    self.sides_moved += 1
        return out

    def summary(self) -> dict[str, Any]:
        """The filter's effect over the run, JSON-ready (rates in [0, 1], Brier in [0, 2])."""
        st = self.monitor.stats()
        return {
            "model_sha256": self.model.sha256,
            "predictions": self.predictions,
            "inference_errors": self.errors,
            "sides_moved": self.sides_moved,
            "sides_pulled": self.sides_pulled,
            "reloads": self.reloads,
            "disabled_by_drift": self.disabled,
            "live_check": {
                "resolved": st.n,
                "hit_rate": round(st.hit_rate, 4),
                "brier": round(st.brier, 4),
                "brier_constant": round(st.brier_constant, 4),
                "calibration_gap": round(st.calibration_gap, 4),
                "drift_reasons": list(st.drift_reasons),
            },
        }

    def _check_drift(self, now_ns: int) -> None:
        st = self.monitor.stats()
        if st.drifting == self.drifting:
            return
        self.drifting = st.drifting
        if st.drifting and self.disable_on_drift:
            self.disabled = True
        ev = ModelDrift(
            now_ns,
            st.drifting,
            st.drift_reasons,
            st.n,
            st.hit_rate,
            st.brier,
            st.brier_constant,
            st.calibration_gap,
            self.disabled,
        )
        if st.drifting and self.disabled:
            log.warning("%s", ev.summary)
        elif st.drifting:
            log.warning("%s; consider ml.enabled = false or retraining", ev.summary)
        else:
            log.info("%s", ev.summary)
        if self.publish is not None:
            self.publish(ev)

    def _failed(self, d: QuoteDecision, exc: Exception) -> QuoteDecision:
        self.errors += 1
        action = "pulling both sides" if self.pull_on_error else "quoting without the filter"
        if not self._failing:
            self._failing = True
            log.error("ml inference failed (%s); %s", exc, action)
        why = f"ml inference failed: {action}"
        if self.pull_on_error:
            return pull_both(d, why)
        return msgspec.structs.replace(d, adjustments=(*d.adjustments, why))
