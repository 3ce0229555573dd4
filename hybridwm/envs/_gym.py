"""The one place hybridwm imports gymnasium, an optional extra (``pip install 'hybridwm[gym]'``).

Every module of :mod:`hybridwm.envs` takes gymnasium from here, so a missing installation
gives one ImportError that names the extra to install.
"""

from __future__ import annotations

try:
    import gymnasium as gym
    from gymnasium import spaces
    from gymnasium.vector import AutoresetMode, VectorEnv
    from gymnasium.vector.utils import batch_space
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "hybridwm.envs needs gymnasium, an optional dependency of hybridwm. Install it with "
        "`pip install 'hybridwm[gym]'` (gymnasium with its MuJoCo environments)."
    ) from exc

__all__ = ["AutoresetMode", "VectorEnv", "batch_space", "gym", "spaces"]
