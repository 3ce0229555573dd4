"""Ground truth: MuJoCo systems, action policies, ID/OOD scenarios and the ``simulate`` step.

Example:
    >>> from hybridwm.systems import get_system, simulate
    >>> data = simulate(system="pendulum", scenario="train", n_trajectories=4, duration=1.0)
    >>> len(data), data.state_names
    (4, ('theta', 'omega'))
"""

from hybridwm.systems.catalogue import SYSTEMS, get_system, list_systems
from hybridwm.systems.equations import TrueEquations, feature_key
from hybridwm.systems.parameter import Parameter
from hybridwm.systems.policies import (
    POLICIES,
    ChirpPolicy,
    OUPolicy,
    Policy,
    RandomStepPolicy,
    SinesPolicy,
    ZeroPolicy,
    make_policy,
)
from hybridwm.systems.rig import make_rig
from hybridwm.systems.scenario import Scenario, get_scenario, list_scenarios, register_scenario
from hybridwm.systems.simulation import (
    MJCF_SCENARIOS,
    SimulateConfig,
    load_mjcf,
    mjcf_scenario,
    simulate,
)
from hybridwm.systems.system import System

__all__ = [
    "MJCF_SCENARIOS",
    "POLICIES",
    "SYSTEMS",
    "ChirpPolicy",
    "OUPolicy",
    "Parameter",
    "Policy",
    "RandomStepPolicy",
    "Scenario",
    "SimulateConfig",
    "SinesPolicy",
    "System",
    "TrueEquations",
    "ZeroPolicy",
    "feature_key",
    "get_scenario",
    "get_system",
    "list_scenarios",
    "list_systems",
    "load_mjcf",
    "make_policy",
    "make_rig",
    "mjcf_scenario",
    "register_scenario",
    "simulate",
]
