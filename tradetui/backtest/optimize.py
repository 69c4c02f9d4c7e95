"""Parameter search with Optuna: TPE sampling, median pruning on partial runs, walk-forward.

A study lives in Optuna's storage (an SQLite file by default, any database URL Optuna
supports), one per walk-forward fold; it tunes on the fold's window and its best trials are
then scored on the next window (out of sample).

Same seed, same rows, whatever runs the backtests. Trials are asked in batches of a fixed
size (``batch``, never the worker count): the whole batch is drawn from a TPE sampler seeded
with ``seed`` + the number of trials finished before it, then dispatched, and the next batch
is drawn only when every trial of this one is told. So the sampler sees the same history
whatever order the results arrived in. Pruning follows the same rule: a trial is stopped at a
step where its partial score is below the median of the completed trials' scores at that
step (Optuna's median rule), where "completed" means completed before its batch was drawn,
not whichever happened to finish first.

An interrupted study (Ctrl-C, a killed process) keeps every trial told before the stop; the
trials under way are marked failed and their parameters queued again, so a rerun of the same
command draws them first and continues to ``trials``. One process drives a study at a time.
"""

from __future__ import annotations

import hashlib
import itertools
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tradetui.backtest.dispatch import Runner, Task
from tradetui.backtest.objective import comparable, diverges
from tradetui.backtest.sweep import PRUNE_STEPS, Point, apply_point, toml_scalar
from tradetui.config import SECTIONS, ConfigError, Settings

if TYPE_CHECKING:
    import optuna
    from optuna.distributions import BaseDistribution

# Completed trials a step needs before it can prune; steps before this are never pruned.
PRUNE_STARTUP_TRIALS = 5
PRUNE_WARMUP_STEPS = PRUNE_STEPS // 4
# Figures kept with each trial (the final table reads them back after a resume).
_KEPT = ("pnl_total", "fills", "fees", "markout_5s_bps", "duration_s")


@dataclass(frozen=True, slots=True)
class SearchParam:
    """One searched setting: ``key`` is "section.name"; ``text`` as the user wrote it."""

    key: str
    text: str
    distribution: BaseDistribution
    ends: tuple[Any, ...]  # LOW and HIGH, or the choices


def parse_search_param(text: str) -> SearchParam:
    """``section.key=LOW..HIGH[:log]`` (integers when both ends are) or ``section.key=a,b,c``
    (choices). Raises ConfigError naming the problem (``check_space`` checks the values)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    key, eq, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    section, dot, name = key.partition(".")
    example = "e.g. strategy.gamma=0.001..0.1:log or strategy.min_spread_ticks=1..20"
    if not (eq and dot and name and raw):
        raise ConfigError(f"--param {text!r}: expected section.key=LOW..HIGH[:log] ({example})")
    if section not in SECTIONS:
        raise ConfigError(f"--param {text!r}: unknown section {section!r}")
    dist: BaseDistribution
    if ".." in raw:
        span, colon, scale = raw.partition(":")
        if colon and scale != "log":
            raise ConfigError(f"--param {text!r}: the only scale is :log (got :{scale})")
        lo_text, _, hi_text = span.partition("..")
        lo, hi = toml_scalar(lo_text.strip()), toml_scalar(hi_text.strip())
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lo, hi)):
            raise ConfigError(f"--param {text!r}: LOW and HIGH must be numbers ({example})")
        if not lo < hi:
            raise ConfigError(f"--param {text!r}: LOW must be below HIGH")
        log = bool(colon)
        if log and lo <= 0:
            raise ConfigError(f"--param {text!r}: a :log range must be above 0")
        if isinstance(lo, int) and isinstance(hi, int):
            dist = IntDistribution(lo, hi, log=log)
        else:
            dist = FloatDistribution(float(lo), float(hi), log=log)
        ends: tuple[Any, ...] = (lo, hi)
    else:
        ends = tuple(toml_scalar(v.strip()) for v in raw.split(",") if v.strip())
        if len(ends) < 2:
            raise ConfigError(
                f"--param {text!r}: give a range LOW..HIGH or two or more choices a,b"
            )
        dist = CategoricalDistribution(ends)
    return SearchParam(key, text, dist, ends)


def check_space(space: list[SearchParam], settings: Settings) -> None:
    """Raise ConfigError unless every end (or choice) of every parameter is a value
    ``settings`` accept together with some end of each other parameter (so a searched
    minimum may pass the configured maximum when the maximum is searched too)."""
    if len({p.key for p in space}) != len(space):
        raise ConfigError("--param: a setting is given twice; give each one once")
    for i, p in enumerate(space):
        others = [q for j, q in enumerate(space) if j != i]
        for v in p.ends:
            problem = ""
            for combo in itertools.product(*(q.ends for q in others)):
                try:
                    keys = [q.key for q in others]
                    apply_point(settings, ((p.key, v), *zip(keys, combo, strict=True)))
                    break
                except ConfigError as exc:
                    problem = problem or str(exc)
            else:
                raise ConfigError(f"--param {p.text!r}: {problem}")


def search_fingerprint(
    space: list[SearchParam], objective: str, settings: Settings, seed: int
) -> dict[str, Any]:
    """What makes two searches the same one (kept with the study, checked on a resume)."""
    digest = hashlib.sha256(repr(settings).encode()).hexdigest()[:16]
    return {
        "params": [p.text for p in space],
        "objective": objective,
        "settings": digest,
        "seed": seed,
    }


def default_study_name(files: list[str], fingerprint: dict[str, Any]) -> str:
    """A name that the same command gives again (so a rerun resumes its study)."""
    h = hashlib.sha256(repr((files, sorted(fingerprint.items()))).encode())
    return f"tradetui-{h.hexdigest()[:10]}"


@dataclass(slots=True)
class FoldReport:
    """One fold's study: counts, and its best trials in and out of sample."""

    fold: int
    study: str
    complete: int = 0
    pruned: int = 0
    best: list[dict[str, Any]] = field(default_factory=list)
    study_obj: Any = None  # the optuna.Study (for plots); not in the JSON


def open_study(storage: str, name: str, fingerprint: dict[str, Any]) -> Any:
    """The study ``name`` in ``storage`` (made when missing), checked to be the same search
    (``search_fingerprint``). Raises ConfigError for an unusable storage or another search
    under that name."""
    import optuna

    try:
        study = optuna.create_study(
            storage=storage, study_name=name, direction="maximize", load_if_exists=True
        )
    except (ValueError, ImportError, ModuleNotFoundError) as exc:
        raise ConfigError(f"--storage {storage!r}: {exc}") from None
    except Exception as exc:  # sqlalchemy's errors (a path that cannot be written...)
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise ConfigError(f"--storage {storage!r}: {type(exc).__name__}: {first}") from None
    if "search" not in study.user_attrs:
        study.set_user_attr("search", fingerprint)
    elif study.user_attrs["search"] != fingerprint:
        raise ConfigError(
            f"--study {name}: made by another search ({study.user_attrs['search']}); "
            "give another --study name"
        )
    return study


def requeue_unfinished(study: Any) -> int:
    """Mark the study's RUNNING trials (left by an interrupted run) failed and queue their
    parameters again; returns how many."""
    from optuna.trial import TrialState

    storage = study._storage  # optuna has no public way to fail a stale trial
    study_id = storage.get_study_id_from_name(study.study_name)
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for t in stale:
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        storage.set_trial_state_values(trial_id, TrialState.FAIL)
        study.enqueue_trial(t.params, skip_if_exists=False)
    return len(stale)


def prune_thresholds(complete: list[optuna.trial.FrozenTrial]) -> dict[int, float]:
    """Step → median partial score of ``complete`` trials, for steps past the warm-up that
    enough of them reached."""
    out: dict[int, float] = {}
    for step in range(PRUNE_WARMUP_STEPS, PRUNE_STEPS):
        values = [t.intermediate_values[step] for t in complete if step in t.intermediate_values]
        if len(values) >= PRUNE_STARTUP_TRIALS:
            out[step] = statistics.median(values)
    return out


def finished(study: Any) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def run_study(
    study: Any,
    runner: Runner,
    space: list[SearchParam],
    window: int,
    settings: Settings,
    *,
    trials: int,
    objective: str,
    batch: int,
    seed: int,
    on_trial: Callable[[int], None] | None = None,
) -> None:
    """Draw and run trials on ``window`` until ``trials`` are finished (complete or pruned);
    ``on_trial(finished)`` after each. A drawn combination ``settings`` refuses (each value
    valid alone) is told failed without running; a batch of nothing else is a ConfigError.
    On an interrupt the trials under way are queued again (see ``requeue_unfinished``)
    before the KeyboardInterrupt goes on."""
    requeue_unfinished(study)
    while (done := finished(study)) < trials:
        try:
            _run_batch(
                study,
                runner,
                space,
                window,
                settings,
                min(batch, trials - done),
                done,
                objective=objective,
                seed=seed,
                on_trial=on_trial,
            )
        except BaseException:  # Ctrl-C included: whatever was asked and not told is requeued
            requeue_unfinished(study)
            raise


def _run_batch(
    study: Any,
    runner: Runner,
    space: list[SearchParam],
    window: int,
    settings: Settings,
    size: int,
    done: int,
    *,
    objective: str,
    seed: int,
    on_trial: Callable[[int], None] | None,
) -> None:
    """Draw ``size`` trials (``done`` finished before them), run them, tell each result."""
    import optuna
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    below = tuple(sorted(prune_thresholds(complete).items()))
    study.sampler = optuna.samplers.TPESampler(seed=seed + done)
    distributions = {p.key: p.distribution for p in space}
    asked, refused = [], ""
    for _ in range(size):
        trial = study.ask(distributions)
        try:
            apply_point(settings, _point(space, trial.params))
        except ConfigError as exc:
            # A combination the config refuses (min above max...): failed, never run.
            refused = str(exc)
            trial.set_user_attr("refused", refused)
            study.tell(trial, state=TrialState.FAIL)
            continue
        asked.append(trial)
    if not asked:
        raise ConfigError(f"--param: every combination drawn was refused ({refused})")
    tasks = [Task(_point(space, t.params), window, objective, below) for t in asked]
    for i, row in runner.stream(tasks):
        trial = asked[i]
        for step, value in row["steps"]:
            trial.report(value, int(step))
        for k in _KEPT:
            if k in row:
                trial.set_user_attr(k, _stored(row[k]))
        if row["pruned"]:
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, row["objective"])
        done += 1
        if on_trial is not None:
            on_trial(done)


def _stored(value: Any) -> Any:
    # Money is exact (Decimal); Optuna stores JSON, so it keeps the digits as a string.
    return str(value) if isinstance(value, Decimal) else value


def _loaded(value: Any) -> Any:
    return Decimal(value) if isinstance(value, str) else value


def _point(space: list[SearchParam], params: dict[str, Any]) -> Point:
    return tuple((p.key, params[p.key]) for p in space)


def best_trials(
    study: Any,
    runner: Runner,
    space: list[SearchParam],
    fold: int,
    oos_window: int | None,
    *,
    objective: str,
    top: int,
) -> list[dict[str, Any]]:
    """The ``top`` complete trials by in-sample value, each scored out of sample on
    ``oos_window`` (when given), with a divergence flag."""
    from optuna.trial import TrialState

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    ranked = sorted(complete, key=lambda t: (-t.value, t.number))[:top]
    rows = [
        {
            "fold": fold,
            "trial": t.number,
            "params": dict(_point(space, t.params)),
            "in_sample": {
                "objective": t.value,
                **{k: _loaded(t.user_attrs.get(k)) for k in _KEPT},
            },
        }
        for t in ranked
    ]
    if oos_window is None or not rows:
        return rows
    tasks = [Task(_point(space, t.params), oos_window, objective) for t in ranked]
    for i, got in runner.stream(tasks):
        ins = rows[i]["in_sample"]
        rows[i]["out_of_sample"] = {"objective": got["objective"], **{k: got[k] for k in _KEPT}}
        rows[i]["diverges"] = diverges(
            comparable(objective, ins["objective"], ins["duration_s"] or 0.0),
            comparable(objective, got["objective"], got["duration_s"]),
        )
    return rows
