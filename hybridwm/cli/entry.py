"""The typer application, its consoles, and the entry point that turns errors into messages."""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from hybridwm.errors import HybridWMError

__all__ = ["app", "console", "err_console", "main", "run"]

app = typer.Typer(
    name="hybridwm",
    help="Hybrid physics-informed world models: simulate, discover, fit, roll out, evaluate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


def run(argv: list[str] | None = None) -> int:
    """Run the app on ``argv`` and return its exit status, printing errors as messages.

    A :class:`~hybridwm.errors.HybridWMError` is printed as one red line (status 2, no
    traceback); usage errors (unknown option, missing argument, bad value) print the usage line
    (status 2); an interrupt gives 130.

    Args:
        argv: Arguments without the program name; ``None`` reads ``sys.argv``.

    Returns:
        The exit status: 0 on success.
    """
    try:
        rc = app(args=argv, standalone_mode=False, prog_name="hybridwm")
    except HybridWMError as exc:
        err_console.print(
            f"[bold red]Error:[/bold red] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        return 2
    except KeyboardInterrupt:
        err_console.print("[yellow]Interrupted.[/yellow]")
        return 130
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        err_console.print("Aborted.")
        return 1
    except Exception as exc:
        # Usage errors (unknown option, missing argument, bad value) are click exceptions: from
        # `click` itself with older typer, from typer's vendored copy with newer typer. Both
        # carry `show()` and `exit_code`.
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            return code
        raise
    return rc if isinstance(rc, int) else 0


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``hybridwm`` script: :func:`run`, exiting with its status if not 0.

    Args:
        argv: Arguments without the program name; ``None`` reads ``sys.argv``.
    """
    code = run(argv)
    if code:
        sys.exit(code)
