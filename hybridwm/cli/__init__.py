"""The ``hybridwm`` command line: one command per pipeline step.

The CLI is thin: each command parses its flags into the step's config (the flags are generated
from the config models, :mod:`hybridwm.cli.flags`), reads data through the shared data options
(:mod:`hybridwm.cli.reading`), calls the public API and prints. Library errors
(:class:`~hybridwm.errors.HybridWMError`) are shown as one red message and exit with status 2,
without a traceback.

From Python, :func:`run` runs a command and returns its exit status:
``run(["simulate", "--out", "data.parquet"]) == 0``.

Modules: ``entry`` (the typer app, :func:`run` and :func:`main`), ``flags``, ``reading``, and one module per
group of commands (``simulate``, ``collect``, ``discover``, ``fit``, ``rollout``, ``benchmark``,
``control``, ``learn``).
"""

from hybridwm.cli import benchmark, collect, control, discover, fit, learn, rollout, simulate
from hybridwm.cli.entry import app, main, run
from hybridwm.cli.flags import parse_params

__all__ = ["app", "main", "parse_params", "run"]

for _name, _command in (
    ("systems", simulate.systems),
    ("simulate", simulate.simulate),
    ("collect", collect.collect),
    ("discover", discover.discover),
    ("fit", fit.fit),
    ("rollout", rollout.rollout),
    ("evaluate", rollout.evaluate_command),
    ("benchmark", benchmark.benchmark),
    ("report", benchmark.report),
    ("demo", benchmark.demo),
    ("control", control.control),
    ("learn", learn.learn),
):
    app.command(_name)(_command)
