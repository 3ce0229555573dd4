"""Change detection and an ensemble's evaluation: a changed pendulum scores above the unchanged
one, the threshold flags about its false-alarm share of validation episodes, evaluate reports
per-episode scores and the predictive distribution's coverage, and every input error."""

from __future__ import annotations

import numpy as np
import pytest

from hybridwm.data import Trajectory, TrajectorySet
from hybridwm.dynamics import PendulumPhysics, reference_dataset
from hybridwm.errors import ConfigError, DataError, FormatError
from hybridwm.evaluation import evaluate
from hybridwm.evaluation.detection import ChangeDetector, score_parts
from hybridwm.metrics import auroc
from hybridwm.models.ensemble import WorldModelEnsemble
from hybridwm.training import TrainConfig

pytestmark = pytest.mark.filterwarnings("ignore:Training ran:UserWarning")
TRUE = PendulumPhysics(w0=3.0, damping=0.3, gain=1.0)
PHYS = PendulumPhysics(w0=3.0, damping=0.0, gain=1.0)  # misses the damping
CFG = TrainConfig(epochs=2, batch_size=64, horizon=8, progress=False, patience=None)


@pytest.fixture(scope="module")
def hybrid() -> WorldModelEnsemble:
    train = reference_dataset(TRUE, 6, 30, 0.05, seed=0)
    return WorldModelEnsemble("hybrid", physics=PHYS, n_members=3, hidden=(8,)).fit(train, CFG)


@pytest.fixture(scope="module")
def validation():
    return reference_dataset(TRUE, 8, 30, 0.05, seed=1)


def test_a_changed_system_scores_higher(hybrid, validation):
    det = ChangeDetector.fit(hybrid, validation, false_alarm=0.25)
    assert det.parts == ("disagreement", "residual", "support")  # its members are gated
    val = det.score(hybrid, validation)
    assert np.mean(val["flagged"]) <= 0.25
    same = det.score(hybrid, reference_dataset(TRUE, 8, 30, 0.05, seed=2))
    changed = det.score(
        hybrid, reference_dataset(PendulumPhysics(w0=4.5, damping=0.3), 8, 30, 0.05, seed=2)
    )
    assert auroc(same["residual"], changed["residual"]) == 1.0  # the motion breaks the equations
    assert auroc(same["score"], changed["score"]) > 0.9
    assert np.mean(changed["flagged"]) > 0.5
    assert set(changed) == {"score", "flagged", "threshold", "disagreement", "residual", "support"}


def test_states_off_the_training_data_score_higher_support(hybrid, validation):
    det = ChangeDetector.fit(hybrid, validation, parts=("support",))
    new = reference_dataset(TRUE, 8, 30, 0.05, seed=2)
    same = det.score(hybrid, new)
    # the same episodes 2.5 rad further round: states no training sample came near
    moved = TrajectorySet(
        [
            Trajectory(tr.t, tr.x + np.array([2.5, 0.0]), tr.u, tr.state_names, tr.action_names)
            for tr in new
        ]
    )
    far = det.score(hybrid, moved)
    assert np.all(same["support"] > 0) and np.median(same["support"]) < 1.5
    assert auroc(same["support"], far["support"]) == 1.0
    assert np.all(far["support"] > 1.0) and np.all(far["flagged"])


def test_evaluate_reports_detection_and_uncertainty(hybrid, validation, tmp_path):
    det = ChangeDetector.fit(hybrid, validation)
    path = det.save(tmp_path / "detector.json")
    back = ChangeDetector.load(path)
    assert back.to_dict() == det.to_dict()
    ev = evaluate(hybrid, validation, detector=back)
    plain = evaluate(hybrid.members_[0], validation)
    assert plain.uncertainty is None and plain.detection is None
    assert set(ev.metrics) == set(plain.metrics)
    np.testing.assert_allclose(ev.detection["score"], det.score(hybrid, validation)["score"])
    unc = ev.uncertainty
    assert unc["coverage90"].shape == (31,) and unc["coverage90"][0] == 1.0
    assert np.all(unc["coverage90"] >= unc["coverage50"])
    assert unc["crps"] > 0 and unc["crps_members"] > 0 and np.isfinite(unc["nll"])
    mean = hybrid.predict(validation)
    np.testing.assert_allclose(ev.pred[3], mean[3].x)


def test_learned_ensembles_score_disagreement_only(validation):
    train = reference_dataset(TRUE, 6, 30, 0.05, seed=0)
    ens = WorldModelEnsemble("learned", n_members=2, hidden=(8,)).fit(train, CFG.replace(epochs=1))
    assert ChangeDetector.fit(ens, validation).parts == ("disagreement",)
    with pytest.raises(ConfigError, match="'residual' needs a physics"):
        ChangeDetector.fit(ens, validation, parts=("residual",))
    with pytest.raises(ConfigError, match=r"this learned ensemble has \['disagreement'\]"):
        ChangeDetector.fit(ens, validation, parts=("support",))
    with pytest.raises(ConfigError, match=r"'support' part needs an ensemble whose fully"):
        score_parts(ens, validation, np.ones(2), ("support",))


def test_errors_teach_the_fix(hybrid, validation, tmp_path):
    with pytest.raises(ConfigError, match="`parts` must be a non-empty subset"):
        ChangeDetector.fit(hybrid, validation, parts=("entropy",))
    with pytest.raises(DataError, match="at least 2 episodes"):
        ChangeDetector.fit(hybrid, validation[:1])
    det = ChangeDetector.fit(hybrid, validation)
    with pytest.raises(DataError, match="`detector` scores an ensemble's predictions"):
        evaluate(hybrid.members_[0], validation, detector=det)
    with pytest.raises(FormatError, match="not a change detector document"):
        ChangeDetector.from_dict({"format": "other"})
    with pytest.raises(FormatError, match="non-positive spreads"):
        ChangeDetector.from_dict(
            {**det.to_dict(), "spread": {"disagreement": 0.0, "residual": 1.0, "support": 1.0}}
        )
