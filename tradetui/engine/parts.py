"""The engine's parts (strategy estimators, risk guard, ML filter), built outside it from the
settings, and ``build_engine``: the one place an engine is assembled for a session or a
backtest (tests too, unless they hand it parts of their own)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tradetui.config import Settings
from tradetui.core.clock import Clock
from tradetui.core.instrument import Instrument
from tradetui.engine.bus import Bus
from tradetui.engine.params import risk_limits
from tradetui.ml.filter import MlFilter
from tradetui.risk.guard import RiskGuard
from tradetui.strategy.estimators import (
    AdverseSelectionEstimator,
    IntensityEstimator,
    VolatilityEstimator,
)
from tradetui.venues.base import Venue

if TYPE_CHECKING:
    from tradetui.engine.engine import Engine


@dataclass(slots=True)
class EngineParts:
    """What the engine decides with: σ (fast, and the slow regime reference), the fill
    intensity, the adverse-selection allowance, the risk guard and the ML filter (None: off)."""

    vol: VolatilityEstimator
    vol_slow: VolatilityEstimator
    intensity: IntensityEstimator
    adverse: AdverseSelectionEstimator
    guard: RiskGuard
    ml: MlFilter | None


def adverse_estimator(settings: Settings) -> AdverseSelectionEstimator:
    """The fee floor's adverse-selection allowance, from ``[strategy]``."""
    s = settings.strategy
    return AdverseSelectionEstimator(
        prior_bps=s.adverse_allowance_prior_bps,
        horizon_s=s.adverse_horizon_s,
        halflife_fills=s.adverse_halflife_fills,
    )


def engine_parts(settings: Settings, instrument: Instrument, bus: Bus) -> EngineParts:
    """The parts ``settings`` configure for ``instrument``; with ml.enabled the model is
    loaded here (ConfigError when it is missing, corrupt or for another instrument), and the
    filter publishes its decisions on ``bus``."""
    s = settings.strategy
    ml = (
        MlFilter.from_settings(settings.ml, bus.publish, instrument)
        if settings.ml.enabled
        else None
    )
    return EngineParts(
        vol=VolatilityEstimator(prior_sigma_ticks=s.sigma_prior_ticks, halflife_s=s.vol_halflife_s),
        vol_slow=VolatilityEstimator(
            prior_sigma_ticks=s.sigma_prior_ticks, halflife_s=max(600.0, 20 * s.vol_halflife_s)
        ),
        intensity=IntensityEstimator(
            prior_a=s.a_prior, prior_k=s.k_prior, window_s=s.intensity_window_s
        ),
        adverse=adverse_estimator(settings),
        guard=RiskGuard(risk_limits(settings, instrument), instrument),
        ml=ml,
    )


def build_engine(
    settings: Settings,
    instrument: Instrument,
    venue: Venue,
    clock: Clock,
    bus: Bus | None = None,
    *,
    seed: int = 0,
) -> Engine:
    """An engine trading ``instrument`` on ``venue``, its parts built from ``settings`` and
    its client order ids prefixed with venue.client_id_prefix."""
    from tradetui.engine.engine import Engine

    bus = bus or Bus()
    return Engine(
        settings,
        instrument,
        venue,
        clock,
        bus,
        engine_parts(settings, instrument, bus),
        client_id_prefix=settings.venue.client_id_prefix,
        seed=seed,
    )
