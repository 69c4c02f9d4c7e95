"""Our AS formulas reproduce Avellaneda & Stoikov (2008), section 4."""

from __future__ import annotations

import math

import pytest

from tradetui.strategy.avellaneda import optimal_spread
from tradetui.verify.as_paper import SIGMA, K, PaperResult, T, format_as_paper, run_as_paper


@pytest.fixture(scope="module")
def gamma_01() -> PaperResult:
    return run_as_paper(0.1, paths=1000, seed=0)


def test_inventory_strategy_matches_the_paper_at_gamma_0_1(
    gamma_01: PaperResult,
) -> None:
    inv = gamma_01["inventory"]
    assert inv["profit_mean"] == pytest.approx(62.94, rel=0.10)
    assert inv["profit_std"] == pytest.approx(5.89, rel=0.25)
    assert inv["q_mean"] == pytest.approx(0.10, abs=0.5)
    assert inv["q_std"] == pytest.approx(2.80, rel=0.25)


def test_symmetric_strategy_matches_the_paper_at_gamma_0_1(
    gamma_01: PaperResult,
) -> None:
    sym = gamma_01["symmetric"]
    assert sym["profit_mean"] == pytest.approx(67.21, rel=0.10)
    assert sym["profit_std"] == pytest.approx(13.43, rel=0.25)
    assert sym["q_mean"] == pytest.approx(-0.018, abs=1.0)
    assert sym["q_std"] == pytest.approx(8.66, rel=0.25)


def test_spread_is_the_full_formula_averaged_and_its_tau0_part_is_the_papers(
    gamma_01: PaperResult,
) -> None:
    average = optimal_spread(0.1, SIGMA, 0.0, K) + 0.1 * SIGMA**2 * T / 2
    assert gamma_01["inventory"]["spread"] == pytest.approx(average, abs=0.01)
    assert gamma_01["symmetric"]["spread"] == gamma_01["inventory"]["spread"]
    assert optimal_spread(0.1, SIGMA, 0.0, K) == pytest.approx(1.29, abs=0.05)


@pytest.mark.parametrize("gamma", [0.01, 0.1, 0.5])
def test_inventory_strategy_carries_less_risk_than_symmetric(gamma: float) -> None:
    result = run_as_paper(gamma, paths=1000, seed=1)
    inv, sym = result["inventory"], result["symmetric"]
    assert inv["profit_std"] < sym["profit_std"]
    assert inv["q_std"] < sym["q_std"]


def test_same_seed_gives_the_same_result() -> None:
    assert run_as_paper(0.1, paths=50, seed=3) == run_as_paper(0.1, paths=50, seed=3)


def test_format_shows_ours_beside_the_paper() -> None:
    text = format_as_paper(run_as_paper(0.1, paths=50, seed=0))
    lines = text.splitlines()
    assert lines[0].startswith("Avellaneda-Stoikov (2008) check: gamma=0.1 paths=50 seed=0")
    assert [line.split()[:2] for line in lines[3:-1] if "ours" in line.split()] == [
        ["inventory", "ours"],
        ["symmetric", "ours"],
    ]
    assert sum(line.split()[0] == "paper" for line in lines[3:-1]) == 2
    assert len({len(line) for line in lines[1:-1]}) == 1
    assert all(math.isfinite(float(cell)) for cell in lines[3].split()[2:])
