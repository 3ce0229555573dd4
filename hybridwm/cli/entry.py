"""The typer application, its consoles, and the entry point that turns errors into messages."""

from __future__ import annotations

import errno
import sys

import typer
from rich.console import Console
from rich.markup import escape

from hybridwm.errors import HybridWMError

__all__ = ["app", "console", "err_console", "main", "os_error_message", "run"]

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
    traceback), and so is an ``OSError`` that no hybridwm check caught (the path, the operating
    system's reason and the fix: disk full, permission denied, ...) or a binary file read as
    text; usage errors (unknown option, missing argument, bad value) print the usage line
    (status 2); an interrupt gives 130.

    Args:
        argv: Arguments without the program name; ``None`` reads ``sys.argv``.

    Returns:
        The exit status: 0 on success.
    """
    try:
        rc = app(args=argv, standalone_mode=False, prog_name="hybridwm")
    except HybridWMError as exc:
        _error(str(exc))
        return 2
    except OSError as exc:  # the operating system refused a read or write hybridwm did not wrap
        _error(os_error_message(exc))
        return 2
    except UnicodeDecodeError as exc:  # a binary file given where a text file was expected
        _error(
            f"Cannot read a file as UTF-8 text ({exc.reason} at byte {exc.start}): it is binary "
            f"or in another encoding. Check that each path given (--data, --model, --physics, "
            f"--prior, --columns, --config) is the file meant, saved as UTF-8 text."
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


def _error(message: str) -> None:
    err_console.print(
        f"[bold red]Error:[/bold red] {escape(message)}", highlight=False, soft_wrap=True
    )


#: The fix for the operating system's commonest refusals, by errno.
_OS_FIXES = {
    errno.ENOSPC: "Free some space on that disk, or write to another disk (another --out).",
    errno.EDQUOT: "Free some space within your quota, or write elsewhere (another --out).",
    errno.EACCES: "Check the permissions of the path and its folder, or choose another path.",
    errno.EPERM: "Check the permissions of the path and its folder, or choose another path.",
    errno.EROFS: "That file system is read-only: choose a path on a writable one.",
    errno.ENOENT: "Check the path.",
    errno.EISDIR: "The path is a directory: give a file path.",
    errno.ENOTDIR: "A folder in the path is a file: check the path.",
}


def os_error_message(exc: OSError) -> str:
    """One line for an ``OSError``: the path, the operating system's reason and the fix."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    where = f" on {' -> '.join(map(repr, paths))}" if paths else ""
    fix = _OS_FIXES.get(exc.errno or -1, "Check the path and the disk.")
    return f"The operating system refused a file operation{where}: {reason}. {fix}"


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``hybridwm`` script: :func:`run`, exiting with its status if not 0.

    Args:
        argv: Arguments without the program name; ``None`` reads ``sys.argv``.
    """
    code = run(argv)
    if code:
        sys.exit(code)
