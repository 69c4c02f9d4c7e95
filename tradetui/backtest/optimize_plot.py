"""``optimize --plot``: each fold's optimisation history and parameter importances, one PNG.

Drawn with matplotlib (already a dependency, Agg backend, imported in the call); the
importances are Optuna's PED-ANOVA estimate (``optuna.importance``), which needs no
scikit-learn, unlike its default fANOVA.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

_WIDTH_IN, _ROW_HEIGHT_IN, _DPI = 12.0, 4.0, 100


def history(study: Any) -> dict[str, list[float]]:
    """Finished trials as plot data: number and value of each complete trial, of each pruned
    one (its last partial score) and the best value so far after each complete trial."""
    from optuna.trial import TrialState

    out: dict[str, list[float]] = {k: [] for k in ("n", "value", "pn", "pvalue", "best")}
    best = float("-inf")
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.COMPLETE and t.value is not None:
            best = max(best, t.value)
            out["n"].append(t.number)
            out["value"].append(t.value)
            out["best"].append(best)
        elif t.state == TrialState.PRUNED and t.intermediate_values:
            out["pn"].append(t.number)
            out["pvalue"].append(t.intermediate_values[max(t.intermediate_values)])
    return out


def importances(study: Any) -> dict[str, float]:
    """Parameter → importance (sums to 1); empty when too few complete trials differ."""
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

    try:
        return dict(get_param_importances(study, evaluator=PedAnovaImportanceEvaluator()))
    except (ValueError, RuntimeError, ZeroDivisionError):
        return {}


def write_study_plot(studies: list[tuple[str, Any]], objective: str, path: Path) -> None:
    """One row per (name, study): history on the left, importances on the right, into a PNG
    at ``path``. Raises OSError when the file cannot be written."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(_WIDTH_IN, _ROW_HEIGHT_IN * len(studies)), dpi=_DPI, layout="constrained")
    axes = fig.subplots(len(studies), 2, squeeze=False)
    for (name, study), (hist_ax, imp_ax) in zip(studies, axes, strict=True):
        h = history(study)
        hist_ax.scatter(h["n"], h["value"], s=14, color="tab:blue", label="complete")
        hist_ax.scatter(h["pn"], h["pvalue"], s=14, color="0.65", marker="x", label="pruned")
        hist_ax.step(h["n"], h["best"], where="post", color="tab:red", label="best so far")
        hist_ax.set_title(f"{name}: history")
        hist_ax.set_xlabel("trial")
        hist_ax.set_ylabel(objective)
        hist_ax.legend(loc="best", fontsize="small")
        hist_ax.grid(True, linewidth=0.3, alpha=0.6)
        imp = importances(study)
        keys = sorted(imp, key=lambda k: imp[k])
        imp_ax.barh(keys, [imp[k] for k in keys], color="tab:green")
        imp_ax.set_title(f"{name}: parameter importance" + ("" if imp else " (too few trials)"))
        imp_ax.set_xlabel("importance (PED-ANOVA, sums to 1)")
    fig.savefig(path, format="png")
