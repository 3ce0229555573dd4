"""Bounds on untrusted expression text, so that parsing and expanding it ends fast.

A physics document (``physics.json``) or a declared prior may come from anywhere. sympy
evaluates exact arithmetic eagerly: ``9**9**9**9`` would try to build an integer with more
digits than atoms in the universe, ``(2*x)**(10**6)`` distributes into ``2**1000000*x**1000000``
and expanding ``(a + b + c)**1000`` gives half a million terms. The parser therefore refuses,
with a :class:`~hybridwm.errors.ParseError` that says what and why:

* text longer than :data:`MAX_EXPRESSION_LENGTH` characters;
* nesting deeper than :data:`MAX_NESTING_DEPTH` levels (parentheses, function calls, powers,
  unary signs; a flat chain ``a + b - c + ...`` or ``a*b/c*...`` counts as one level);
* a flat chain of more than :data:`MAX_CHAIN_TERMS` terms or factors (checked on the parsed
  tree, so the bound does not depend on Python's recursion limit, which libraries such as
  ``torch._dynamo`` raise: under the default limit a chain of ~1000 already fails to parse);
* any number outside the float64 range: an exact integer or fraction whose numerator or
  denominator has more than :data:`MAX_NUMBER_BITS` bits (``2**1024`` and beyond), a float
  literal or computed value beyond ``1.8e308``. The check is made *before* a power is computed,
  from ``|exponent| * |log2 base|``, so ``9**9**9**9`` is refused without being evaluated;
  floating-point arithmetic (``2.0**-2000``, which underflows to 0) is kept;
* an exact exponent beyond :data:`MAX_EXACT_EXPONENT` of an expression with variables
  (``x**(10**300)``: torch cannot evaluate it);
* a declared equation whose expansion into terms (:func:`expanded_terms`) would have more than
  :data:`MAX_EXPANDED_TERMS` terms.

Every legitimate physics equation stays far inside these bounds. No sympy function that can
blow up on such input (``sympify``, ``factorial``, ``simplify``) is ever called on user text.
"""

from __future__ import annotations

import ast
import math
import sys
from collections.abc import Callable

import sympy as sp

from hybridwm.errors import ParseError

__all__ = [
    "MAX_CHAIN_TERMS",
    "MAX_EXACT_EXPONENT",
    "MAX_EXPANDED_TERMS",
    "MAX_EXPRESSION_LENGTH",
    "MAX_NESTING_DEPTH",
    "MAX_NUMBER_BITS",
    "check_length",
    "check_number",
    "check_power",
    "expanded_terms",
    "longest_chain",
    "nesting_depth",
]

#: characters of one expression
MAX_EXPRESSION_LENGTH = 10_000
#: nesting levels of one expression
MAX_NESTING_DEPTH = 100
#: terms (or factors) of one flat sum (product) ``a + b - c + ...``
MAX_CHAIN_TERMS = 500
#: bits of the numerator and denominator of an exact number (2**1024 > the largest float64)
MAX_NUMBER_BITS = 1024
#: exact exponent of an expression with variables (``x**n``): float64 integers are exact to 2^53
MAX_EXACT_EXPONENT = 2**53
#: terms of a declared right-hand side once products of sums are expanded
MAX_EXPANDED_TERMS = 256

_FLOAT_MAX = sys.float_info.max
#: operators whose left operand continues a flat chain (``a + b - c``, ``a*b/c``)
_CHAIN_OPS = (ast.Add, ast.Sub, ast.Mult, ast.Div)


def check_length(src: str, what: str) -> None:
    """Raise :class:`ParseError` if ``src`` is longer than :data:`MAX_EXPRESSION_LENGTH`."""
    if len(src) > MAX_EXPRESSION_LENGTH:
        raise ParseError(
            f"{what} is {len(src)} characters long; hybridwm accepts at most "
            f"{MAX_EXPRESSION_LENGTH} characters per expression (a bound that keeps loading an "
            f"untrusted file fast). Split it into shorter terms or check the file: "
            f"{src[:60]!r}..."
        )


def nesting_depth(tree: ast.AST) -> int:
    """Nesting depth of a parsed expression (iterative: safe on any depth). The left operand of
    ``+ - * /`` stays on its parent's level, so a long flat sum is one level deep."""
    deepest = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, ast.BinOp) and isinstance(node.op, _CHAIN_OPS):
            stack.append((node.left, depth))
            stack.append((node.right, depth + 1))
            continue
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def longest_chain(tree: ast.AST) -> int:
    """Terms (or factors) of the longest flat chain ``a + b - c + ...`` / ``a*b/c*...`` of a
    parsed expression (iterative, each node visited once; a sum of products counts its
    factors with its terms)."""
    longest = 1
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if not (isinstance(node, ast.BinOp) and isinstance(node.op, _CHAIN_OPS)):
            stack.extend(ast.iter_child_nodes(node))
            continue
        n = 1
        while isinstance(node, ast.BinOp) and isinstance(node.op, _CHAIN_OPS):
            n += 1
            stack.append(node.right)
            node = node.left
        stack.append(node)
        longest = max(longest, n)
    return longest


def _magnitude(e: sp.Expr) -> float | None:
    """``|e|`` of a number-valued expression as a float (inf when beyond float64), or None when
    it has no finite complex value (``zoo``, ``nan``) or cannot be evaluated."""
    try:
        v = complex(e.evalf(20))
    except (TypeError, ValueError, OverflowError, ZeroDivisionError):
        return None
    m = abs(v)
    return None if math.isnan(m) else m


def _log2_size(e: sp.Expr) -> float:
    """``|log2 |e||`` of a number, or of the numeric factor of a product with symbols (which
    sympy distributes over an integer power); for exact fractions the larger of numerator and
    denominator counts, since both would be computed exactly."""
    if e.free_symbols:
        e = e.as_independent(*e.free_symbols, as_Add=False)[0]
        if not e.is_number:
            return 0.0
    if e.is_Rational:
        p, q = abs(int(e.p)), int(e.q)  # type: ignore[attr-defined]
        return max(math.log2(p) if p else 0.0, math.log2(q))
    m = _magnitude(e)
    if m is None or m == 0:
        return 0.0
    return abs(math.log2(m)) if math.isfinite(m) else float("inf")


def check_power(base: sp.Expr, exponent: sp.Expr, fail: Callable[[str], ParseError]) -> None:
    """Raise ``fail(...)`` before ``base**exponent`` is computed if its exact value would leave
    the float64 range (see the module docstring). A float base is left to float arithmetic."""
    if not exponent.is_number or isinstance(base, sp.Float):
        return
    if base.free_symbols and exponent.is_Rational and abs(exponent) > MAX_EXACT_EXPONENT:
        raise fail(
            f"the exponent {_short(exponent)} of {_short(base, True)} is beyond 2^53, where "
            f"float64 is no longer exact and torch cannot raise to the power; hybridwm refuses it"
        )
    if exponent.is_Rational:
        size = abs(float(exponent)) if abs(exponent) < 2**1000 else float("inf")
    else:
        size = _magnitude(exponent) or 0.0
    bits = size * _log2_size(base) if size else 0.0
    if bits > MAX_NUMBER_BITS:
        raise fail(
            f"the power {_short(base, True)}**{_short(exponent, True)} would be an exact number of about "
            f"{_bits_text(bits)} bits; hybridwm refuses numbers beyond the float64 range "
            f"(2^{MAX_NUMBER_BITS}) so that loading an untrusted file ends fast. Write the "
            f"number as a float literal (e.g. 1.5e300) or check the file"
        )


def check_number(e: sp.Expr, fail: Callable[[str], ParseError]) -> None:
    """Raise ``fail(...)`` if ``e`` is a number outside the float64 range (exact numerator or
    denominator over :data:`MAX_NUMBER_BITS` bits, or a magnitude over 1.8e308)."""
    if not e.is_number:
        return
    if e.is_Rational:
        p, q = abs(int(e.p)), int(e.q)  # type: ignore[attr-defined]
        if max(p.bit_length(), q.bit_length()) > MAX_NUMBER_BITS:
            raise fail(
                f"the exact number {_short(e)} has more than {MAX_NUMBER_BITS} bits; hybridwm "
                f"refuses numbers beyond the float64 range (about 1.8e308)"
            )
        return
    m = _magnitude(e)
    if m is not None and m > _FLOAT_MAX:
        raise fail(
            f"the number {_short(e)} exceeds the float64 range (about 1.8e308); hybridwm "
            f"refuses it rather than computing with inf"
        )


def expanded_terms(e: sp.Expr) -> int:
    """An upper bound of the number of terms of ``sympy.expand(e)``, computed without expanding
    (capped just above :data:`MAX_EXPANDED_TERMS`). ``(a + b + c)**n`` counts ``C(n+2, 2)``."""
    cap = MAX_EXPANDED_TERMS + 1
    if e.is_Atom:
        return 1
    if isinstance(e, sp.Add):
        return min(cap, sum(expanded_terms(a) for a in e.args))
    if isinstance(e, sp.Mul):
        n = 1
        for a in e.args:
            n = min(cap, n * expanded_terms(a))
        return n
    if isinstance(e, sp.Pow):
        base, ex = e.args
        k = expanded_terms(base)
        if isinstance(ex, sp.Rational) and k > 1:
            m = abs(int(ex)) if abs(ex) < cap else cap
            n = min(cap, math.comb(m + k - 1, k - 1))
            return 1 if ex < 0 and n < cap else n  # a denominator stays one factor
        return min(cap, expanded_terms(ex)) if expanded_terms(ex) >= cap else 1
    worst = max((expanded_terms(a) for a in e.args), default=1)
    return cap if worst >= cap else 1


def _short(e: sp.Expr, operand: bool = False) -> str:
    """A short text of ``e`` for a message (never prints a huge integer in full), in
    parentheses when it is an ``operand`` of a power and not an atom."""
    if operand and not (e.is_Symbol or e.is_NumberSymbol or (e.is_Integer and e >= 0)):
        return f"({_short(e)})"
    if e.is_Rational:
        bits = max(abs(int(e.p)).bit_length(), int(e.q).bit_length())  # type: ignore[attr-defined]
        if bits > 64:
            return f"<exact number of {bits} bits>"
    text = str(e)
    return text if len(text) <= 60 else text[:57] + "..."


def _bits_text(bits: float) -> str:
    return f"{bits:.3g}" if math.isfinite(bits) else "infinitely many"
