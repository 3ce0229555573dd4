"""Refining discovered coefficients by simulation error (``refine_coefficients``)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from hybridwm.data import TrajectorySet
from hybridwm.errors import ConfigError, DataError, UnknownNameError
from hybridwm.physics import (
    DiscoverConfig,
    FeatureLibrary,
    PhysicsModel,
    declare,
    discover,
    refine_coefficients,
)
from hybridwm.physics.rational import denominator_expression

from .conftest import TRUE, add_noise

# dq/dt = v;  dv/dt = (-4 sin q - 0.3 v + 1.5 u) / (1 - 0.4 cos(q)^2)
NUM = {"sin(q)": -4.0, "v": -0.3, "u": 1.5}
D2 = -0.4


def _rational(scale: float = 1.0, d2: float = D2) -> PhysicsModel:
    """The rational test system, its numerators scaled by ``scale`` and ``D = 1 + d2 cos(q)^2``."""
    q = sp.Symbol("q")
    den = denominator_expression(sp.cos(q), [0.0, d2])
    feats = ["v", *(sp.sympify(f) / den for f in NUM)]
    coef = [[1.0, 0.0, 0.0, 0.0], [0.0, *(scale * c for c in NUM.values())]]
    info = {"rational": {"z": "cos(q)", "degree": 2, "coefficients": [0.0, d2],
                         "rational_states": ["v"]}}  # fmt: skip
    return PhysicsModel(["q", "v"], ["u"], feats, coef, info=info)


def _terms(model: PhysicsModel) -> set[tuple[str, str]]:
    c = model.coefficients
    return {(s, f) for s in c.index for f in c.columns if c.loc[s, f] != 0}


@pytest.fixture(scope="module")
def rational_data() -> TrajectorySet:
    rng = np.random.default_rng(0)
    n, T = 6, 151
    t = np.arange(T) * 0.02
    u = np.repeat(rng.uniform(-1, 1, size=(n, T // 5 + 1, 1)), 5, axis=1)[:, :T]
    x0 = np.column_stack([rng.uniform(-1.2, 1.2, n), rng.uniform(-1, 1, n)])
    x = _rational().simulate(x0, u, t, substeps=4)
    return TrajectorySet.from_arrays(t, x, u, ("q", "v"), ("u",))


def test_noise_free_refinement_recovers_numerators_and_denominator(rational_data) -> None:
    start = _rational(scale=1.05, d2=-0.36)
    out = refine_coefficients(start, rational_data, segment=50)
    got = out.coefficients
    # 4 RK4 substeps made the data, one step per sample refines: agreement to ~1e-5
    np.testing.assert_allclose(got.loc["v"].to_numpy()[1:], list(NUM.values()), rtol=1e-4)
    assert out.info["rational"]["coefficients"] == pytest.approx([0.0, D2], rel=1e-4)
    rec = out.info["refinement"]
    assert rec["cost"]["after"] < 1e-3 < rec["cost"]["before"]
    assert rec["segments"] == 6 * 3
    assert set(rec["standard_errors"]["v"]) == {*NUM, "D: cos(q)^2"}
    # the refined model is a whole model: it prints the new denominator and round-trips
    assert "0.4" in out.equations()[1] and "0.36" not in out.equations()[1]
    back = PhysicsModel.from_json(out.to_json())
    np.testing.assert_allclose(back.coefficients, out.coefficients)


def test_standard_errors_cover_the_truth_under_noise(rational_data) -> None:
    noisy = add_noise(rational_data, 0.01, seed=3)
    out = _rational(scale=0.97, d2=-0.42).refine(noisy, segment=150)
    se = out.info["refinement"]["standard_errors"]["v"]
    got = out.coefficients.loc["v"].to_numpy()[1:]  # columns: v, then the quotients in NUM order
    for (term, true), value in zip(NUM.items(), got, strict=True):
        err = abs(value - true)
        assert err < 4 * se[term], (term, err, se[term])
        assert se[term] < 0.05 * abs(true)
    assert abs(out.info["rational"]["coefficients"][1] - D2) < 4 * se["D: cos(q)^2"]
    # the noise estimate is the added noise (1 % of each state's std, residuals in std units)
    assert out.info["refinement"]["noise"] == pytest.approx(0.01, rel=0.15)


def test_refining_a_discovered_pendulum_beats_the_regression_under_noise(pendulum_data) -> None:
    noisy = add_noise(pendulum_data, 0.02, seed=5)
    plain = discover(noisy, config=DiscoverConfig(library="trig-poly", diagnostics=False))
    refined = discover(
        noisy, config=DiscoverConfig(library="trig-poly", diagnostics=False, refine="coefficients")
    )
    assert _terms(refined) == _terms(plain)  # the terms are kept

    def worst(m: PhysicsModel) -> float:
        c = m.coefficients
        return max(abs(c.loc[s, f] - v) / abs(v) for s, row in TRUE.items() for f, v in row.items())

    assert "refinement" in refined.info and "refinement" not in plain.info
    assert worst(refined) < worst(plain)
    se = refined.info["refinement"]["standard_errors"]
    for state, row in TRUE.items():
        for term, true in row.items():
            assert abs(refined.coefficients.loc[state, term] - true) < 4 * se[state][term]


def test_refine_keeps_zeros_and_drops_the_bagging_statistics(pendulum_data) -> None:
    cfg = DiscoverConfig(library="trig-poly", diagnostics=False, ensemble=3)
    model = discover(pendulum_data, config=cfg)
    assert model.ensemble is not None
    out = refine_coefficients(model, pendulum_data, max_evaluations=3)
    assert out.ensemble is None
    assert _terms(out) == _terms(model)
    assert out.info["refinement"]["evaluations"] <= 3


def test_terms_chosen_again_by_simulation_error_swap_a_look_alike(rational_data) -> None:
    """Start from sin(q)*cos(q) where the truth has sin(q), plus a spurious q^2: the score test
    adds sin(q), after which the Wald test removes the look-alike and the spurious term."""
    q = sp.Symbol("q")
    den = denominator_expression(sp.cos(q), [0.0, D2])
    wrong = ["sin(q)*cos(q)", "v", "u", "q**2"]
    feats = ["v", *(sp.sympify(f) / den for f in wrong)]
    coef = [[1.0, 0, 0, 0, 0], [0.0, -3.6, -0.3, 1.5, 0.05]]
    info = {"rational": {"z": "cos(q)", "degree": 2, "coefficients": [0.0, D2],
                         "rational_states": ["v"]}}  # fmt: skip
    start = PhysicsModel(["q", "v"], ["u"], feats, coef, info=info)
    noisy = add_noise(rational_data, 0.01, seed=4)
    library = ["q", "v", "u", "sin(q)", "sin(q)*cos(q)", "q**2", "v*cos(q)"]
    out = refine_coefficients(start, noisy, segment=150, library=library)
    steps = out.info["refinement"]["steps"]
    assert {(s["step"], s["term"]) for s in steps} >= {
        ("add", "sin(q)"),
        ("remove", "sin(q)*cos(q)"),
        ("remove", "q^2"),
    }
    assert set(out.info["refinement"]["standard_errors"]["v"]) == {*NUM, "D: cos(q)^2"}
    assert set(out.info["refinement"]["standard_errors"]["q"]) == {"v"}
    got = out.coefficients.loc["v"]
    assert sorted(got[got != 0]) == pytest.approx(sorted(NUM.values()), rel=0.02)


def test_segments_join_a_short_remainder_to_the_last_piece(rational_data) -> None:
    """150 intervals: pieces of 60 leave 30 (kept: half a segment); of 70 leave 10 (joined)."""
    model = _rational()
    for segment, pieces in ((60, 3), (70, 2), (150, 1), (400, 1)):
        out = refine_coefficients(model, rational_data, segment=segment, max_evaluations=1)
        assert out.info["refinement"]["segments"] == pieces * len(rational_data)


def test_refine_errors(rational_data) -> None:
    model = _rational()
    prior = declare({"q": "v", "v": "-k*sin(q) + u"}, parameters={"k": 4.0}, action_names=["u"])
    with pytest.raises(ConfigError, match=r"`model` must be a PhysicsModel\. Got dict"):
        refine_coefficients({}, rational_data)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"declared prior with parameters \['k'\].*fit_param"):
        refine_coefficients(prior, rational_data)
    with pytest.raises(ConfigError, match="no non-zero coefficient"):
        refine_coefficients(PhysicsModel(["q", "v"], ["u"], ["v"], [[0.0], [0.0]]), rational_data)
    with pytest.raises(DataError, match=r"`data` must be a TrajectorySet\. Got list"):
        refine_coefficients(model, list(rational_data))  # type: ignore[arg-type]
    swapped = TrajectorySet.from_arrays(
        rational_data[0].t, np.stack([tr.x for tr in rational_data]), None, ("v", "q")
    )
    with pytest.raises(UnknownNameError, match=r"model's states \['q', 'v'\] in this order"):
        refine_coefficients(model, swapped)
    single = TrajectorySet.from_arrays(
        [0.0], np.zeros((2, 1, 2)), np.zeros((2, 1, 1)), ("q", "v"), ("u",)
    )
    with pytest.raises(DataError, match="no trajectory of two or more samples"):
        refine_coefficients(model, single)
    for name, value in (("segment", 0), ("max_evaluations", True), ("segment", 2.5)):
        with pytest.raises(ConfigError, match=f"`{name}` must be an integer >= 1"):
            refine_coefficients(model, rational_data, **{name: value})
    with pytest.raises(ConfigError, match="`library` must be a FeatureLibrary or a list"):
        refine_coefficients(model, rational_data, library="trig")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="refine_segment"):
        DiscoverConfig(refine_segment=0)


def test_linearised_scores_predict_the_refitted_sums_of_squares(rational_data) -> None:
    """The score test's add and exchange gains (noise variances) match a real refit."""
    from hybridwm.physics.output_error import Problem, fit_numbers, structure_of
    from hybridwm.physics.refinement import _candidates, _scores, _with_term, _zeroed

    q = sp.Symbol("q")
    den = denominator_expression(sp.cos(q), [0.0, D2])
    feats = ["v", *(sp.sympify(f) / den for f in ("sin(q)", "v*cos(q)", "u"))]
    info = {"rational": {"z": "cos(q)", "degree": 2, "coefficients": [0.0, D2],
                         "rational_states": ["v"]}}  # fmt: skip
    start = PhysicsModel(
        ["q", "v"], ["u"], feats, [[1.0, 0, 0, 0], [0, -4.0, -0.3, 1.5]], info=info
    )
    problem = Problem.of(add_noise(rational_data, 0.01, seed=6), 150)

    def refit(model: PhysicsModel):
        st, theta = structure_of(model)
        return fit_numbers(st, theta, problem, 30)

    fit = refit(start)
    lib = FeatureLibrary(["v"], ("q", "v"), ("u",))
    scores = _scores(start, fit, problem, _candidates(start, lib, problem))
    c = next(i for i, cand in enumerate(scores.todo) if cand.row == 1)
    rss = np.sum(fit.r**2) / fit.sigma2
    added = refit(_with_term(start, scores.todo[c], scores.value[c]))
    assert rss - np.sum(added.r**2) / fit.sigma2 == pytest.approx(scores.add[c], rel=0.05)
    k = 2  # coefficients in mask order: q's v, then v's sin(q), v*cos(q), u
    swapped = refit(_with_term(_zeroed(start, 1, 2), scores.todo[c], scores.swap_value[k, c]))
    assert rss - np.sum(swapped.r**2) / fit.sigma2 == pytest.approx(scores.swap[k, c], rel=0.05)
    assert scores.swap[k, c] > 0  # v*cos(q) -> v is the better exchange
