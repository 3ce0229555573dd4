"""``hybridwm collect``: episodes of a gymnasium environment, written to a data file.

``hybridwm collect --env InvertedPendulum-v5 --episodes 20 --out data.parquet`` makes the
environment (``--num-envs`` > 1: a synchronous vector environment), drives it with a random or
piecewise-constant policy and writes the episodes atomically, with the environment's id,
version and parameters in every episode's metadata (see :func:`hybridwm.envs.collect`).

The flags are the fields of :class:`CollectConfig`. It lives here, not in
:mod:`hybridwm.envs`, because gymnasium is the optional extra ``hybridwm[gym]``: without it the
command still parses its flags and then says how to install gymnasium, and no other command
is affected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from pydantic import Field, model_validator

from hybridwm.cli.entry import console
from hybridwm.cli.flags import build_config, config_flags
from hybridwm.config import Config, Integer, PositiveFloat
from hybridwm.data import write_trajectories
from hybridwm.errors import ConfigError

try:
    from hybridwm.envs import collect as run_collect
    from hybridwm.envs import make_env

    _MISSING: ImportError | None = None
except ImportError as exc:  # gymnasium is an optional extra: only this command needs it
    _MISSING = exc

__all__ = ["CollectConfig", "collect"]


class CollectConfig(Config):
    """Settings of ``hybridwm collect``: which environment, and what is recorded.

    Args:
        env: Gymnasium id of the environment (``Pendulum-v1``, ``InvertedPendulum-v5``, ...).
        env_params: Parameters passed to ``gymnasium.make`` (``g=9.81`` for Pendulum-v1).
        num_envs: Copies; more than 1 collects from a synchronous vector environment.
        max_episode_steps: Time limit in steps; None → the registered one.
        episodes: Whole episodes to record (give this or ``seconds``).
        seconds: Simulated seconds to record in total (give this or ``episodes``).
        policy: ``random`` (a uniform action every step) or ``piecewise`` (uniform levels held
            0.05-0.5 s).
        seed: Seed of the environment's first reset and of the policy (>= 0).
        state_names: Names of the observation columns; None → ``x0, x1, ...``.
        action_names: Names of the action columns; None → ``u0, u1, ...``.
        dt: Seconds per step, for an environment that states none; None → the environment's.
    """

    env: str = "Pendulum-v1"
    env_params: dict[str, float] = Field(default_factory=dict)
    num_envs: Integer = Field(default=1, ge=1)
    max_episode_steps: Integer | None = Field(default=None, ge=1)
    episodes: Integer | None = Field(default=None, ge=1)
    seconds: PositiveFloat | None = None
    policy: Literal["random", "piecewise"] = "random"
    seed: Integer = Field(default=0, ge=0)
    state_names: tuple[str, ...] | None = None
    action_names: tuple[str, ...] | None = None
    dt: PositiveFloat | None = None

    @model_validator(mode="after")
    def _one_amount(self) -> CollectConfig:
        if (self.episodes is None) == (self.seconds is None):
            raise ConfigError(
                f"Give exactly one of `episodes` (--episodes) or `seconds` (--seconds). Got "
                f"episodes={self.episodes!r}, seconds={self.seconds!r}."
            )
        return self

    def collect_arguments(self) -> dict[str, Any]:
        """The keyword arguments of :func:`hybridwm.envs.collect` these settings give."""
        names = ("episodes", "seconds", "seed", "state_names", "action_names", "dt")
        return {name: getattr(self, name) for name in names}


@config_flags(
    CollectConfig, panel="Collection (CollectConfig)", decls={"env_params": ["--env-param"]}
)
def collect(
    out: Annotated[Path, typer.Option(help="Output file (.parquet, .csv or .npz).")],
    config: Annotated[
        Path | None, typer.Option(help="TOML/YAML/JSON CollectConfig; flags given override it.")
    ] = None,
    *,
    settings: dict[str, Any],
) -> None:
    """Collect episodes from a gymnasium environment and write them to a file."""
    cfg = build_config(CollectConfig, config, settings)
    if _MISSING is not None:
        raise ConfigError(
            f"`hybridwm collect` needs gymnasium, an optional dependency ({_MISSING}). Install "
            f"it with `pip install 'hybridwm[gym]'`."
        )
    env = make_env(
        cfg.env, num_envs=cfg.num_envs, max_episode_steps=cfg.max_episode_steps, **cfg.env_params
    )
    data = run_collect(env, cfg.policy, **cfg.collect_arguments())
    path = write_trajectories(data, out)
    lengths = data.lengths
    console.print(
        f"Wrote {len(data)} episodes ({int(lengths.min())}-{int(lengths.max())} samples, "
        f"dt {data[0].meta['dt']:g} s) of [bold]{cfg.env}[/bold] ({cfg.policy}, seed "
        f"{cfg.seed}) to [green]{path}[/green]"
    )
    console.print(data.summary().round(4).to_string())
