"""How equations are written as text: ``d(theta) = omega`` and the forms of its left side.

The left side names the state whose time derivative the right side gives; it may be written
``d(theta)``, ``d(theta)/dt``, ``dtheta/dt``, ``theta'`` or ``theta_dot``.
"""

from __future__ import annotations

import re

from hybridwm.errors import ParseError

__all__ = ["parse_lhs", "split_equation"]

_LHS = [
    re.compile(r"^d\(\s*([A-Za-z_]\w*)\s*\)\s*(?:/\s*dt)?$"),  # d(theta), d(theta)/dt
    re.compile(r"^d([A-Za-z_]\w*)\s*/\s*dt$"),  # dtheta/dt
    re.compile(r"^([A-Za-z_]\w*)\s*'$"),  # theta'
    re.compile(r"^([A-Za-z_]\w*)_dot$"),  # theta_dot
]


def parse_lhs(text: str) -> str | None:
    """State name of an equation's left side (``d(theta)``, ``d(theta)/dt``, ``dtheta/dt``,
    ``theta'``, ``theta_dot``), or None if it has none of these forms."""
    t = text.strip()
    for pat in _LHS:
        m = pat.match(t)
        if m:
            return m.group(1)
    return None


_KEYWORD = re.compile(r"\bsharpness\s*=")


def split_equation(eq: str, i: int) -> tuple[str, str]:
    """``(state, right side)`` of equation number ``i`` written as ``"d(state) = rhs"``.

    Raises:
        ParseError: not a string, not exactly one ``=``, or a left side of no known form (the
            message shows where).
    """
    if not isinstance(eq, str):
        raise ParseError(f"Equation {i} must be a string like 'd(theta) = omega'. Got {eq!r}.")
    # the '=' of a keyword argument (max(a, b, sharpness=50)) does not count
    masked = _KEYWORD.sub(lambda m: " " * len(m.group()), eq)
    if masked.count("=") != 1:
        col = masked.find("=", masked.find("=") + 1) if masked.count("=") > 1 else len(eq)
        raise ParseError(
            f"Equation {i} must have exactly one '=' (as in 'd(theta) = omega'):\n"
            f"    {eq}\n    {' ' * max(col, 0)}^"
        )
    at = masked.index("=")
    lhs, rhs = eq[:at], eq[at + 1 :]
    state = parse_lhs(lhs)
    if state is None:
        raise ParseError(
            f"Cannot read the left side {lhs.strip()!r} of equation {i} at position 0:\n"
            f"    {eq}\n    ^\nWrite 'd(state)', 'd(state)/dt' or 'dstate/dt'."
        )
    return state, rhs
