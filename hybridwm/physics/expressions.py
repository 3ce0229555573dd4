"""Symbolic expressions: safe parsing of user text into sympy, and code generation to numpy/torch.

One sympy expression over named states, actions and parameters is the single source of every
feature and every declared equation. From it we derive:

* a readable name (``"omega^2*sin(theta)"``) and LaTeX (``"\\omega^{2} \\sin{\\left(\\theta \\right)}"``),
* a numpy function (for fitting and ``PhysicsModel.predict``),
* a torch function (for the differentiable vector field), generated from the *same* code
  template with ``np`` replaced by ``torch``, so both evaluate the same operations in the same
  order and agree to floating-point precision.

User text is never passed to ``eval``: it is parsed with :mod:`ast`, checked against a whitelist
of operators and functions, and converted node by node into sympy, so a physics JSON file cannot
run code. Errors point at the offending character.
"""

from __future__ import annotations

import ast
import keyword
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import sympy as sp
from sympy.printing.str import StrPrinter

from hybridwm.errors import ParseError, UnknownNameError
from hybridwm.physics.limits import (
    MAX_NESTING_DEPTH,
    MAX_NUMBER_BITS,
    check_length,
    check_number,
    check_power,
    nesting_depth,
)
from hybridwm.physics.saturation import (
    SharpMax,
    SharpMin,
    np_maximum,
    np_minimum,
    smooth_saturation,
    torch_binary,
    torch_safe_sqrt,
)

__all__ = [
    "SUPPORTED_FUNCTIONS",
    "compile_expressions",
    "expr_latex",
    "expr_name",
    "parse_expression",
    "smooth_saturation",
]


def _clip(x: sp.Expr, lo: sp.Expr, hi: sp.Expr) -> sp.Expr:
    """``clip(x, lo, hi) = min(max(x, lo), hi)``."""
    return sp.Min(sp.Max(x, lo), hi)


# name in user text -> sympy callable. Both lower- and sympy-cased spellings are accepted so that
# ``str(expr)`` of a parsed expression parses back to the same expression.
SUPPORTED_FUNCTIONS: dict[str, Callable[..., sp.Expr]] = {
    "sin": sp.sin,
    "cos": sp.cos,
    "tan": sp.tan,
    "exp": sp.exp,
    "log": sp.log,
    "sqrt": sp.sqrt,
    "tanh": sp.tanh,
    "sinh": sp.sinh,
    "cosh": sp.cosh,
    "atan": sp.atan,
    "abs": sp.Abs,
    "Abs": sp.Abs,
    "sign": sp.sign,
    "min": sp.Min,
    "Min": sp.Min,
    "max": sp.Max,
    "Max": sp.Max,
    "clip": _clip,
}
_CONSTANTS: dict[str, sp.Expr] = {"pi": sp.pi, "E": sp.E}

# sympy function class -> attribute name in numpy / torch (most have the same name in both)
_FUNC_CODE: dict[type, tuple[str, str]] = {
    **{
        f: (f"np.{f.__name__}", f"torch.{f.__name__}")
        for f in (sp.sin, sp.cos, sp.tan, sp.exp, sp.log, sp.tanh, sp.sinh, sp.cosh, sp.sign)
    },
    sp.atan: ("np.arctan", "torch.atan"),
    sp.Abs: ("np.abs", "torch.abs"),
    sp.Min: ("_minimum", "_minimum"),
    sp.Max: ("_maximum", "_maximum"),
}


def _caret(text: str, col: int) -> str:
    return f"    {text}\n    {' ' * max(col, 0)}^"


def parse_expression(
    text: str | sp.Expr | float | int,
    names: Sequence[str],
    *,
    what: str = "expression",
    kinds: Mapping[str, str] | None = None,
) -> sp.Expr:
    """Parse ``text`` (e.g. ``"u0*cos(theta)"``) into a sympy expression over ``names``.

    Accepted syntax: numbers, the names given, ``pi``, ``E``, ``+ - * / **`` (``^`` also means
    power), parentheses and the functions in :data:`SUPPORTED_FUNCTIONS`; ``min``, ``max`` and
    ``clip`` take an optional ``sharpness=k`` (see :mod:`hybridwm.physics.saturation`).

    Args:
        text: the expression as text (a sympy expression or number is accepted as is).
        names: the names the expression may use (states, actions, parameters).
        what: what the text is, for error messages (``"feature"``, ``"equation for omega"``).
        kinds: optional name -> kind ("state", "action", "parameter") to list names by kind.

    Returns:
        The sympy expression; every symbol is ``sympy.Symbol(name, real=True)``.

    Raises:
        ParseError: the text is not a valid expression (the message shows the position), or
            it exceeds a bound of :mod:`hybridwm.physics.limits` (length, nesting, numbers
            beyond float64 such as ``9**9**9**9``), which keep parsing untrusted text fast.
        UnknownNameError: the text uses a name that is not in ``names`` (the message lists them).
    """
    symbols = {n: sp.Symbol(n, real=True) for n in names}
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return sp.Float(text) if isinstance(text, float) else sp.Integer(text)
    if isinstance(text, sp.Basic):
        unknown = sorted(str(s) for s in text.free_symbols if str(s) not in symbols)
        if unknown:
            raise UnknownNameError(
                f"{what} {str(text)!r} uses unknown name(s) {unknown}. "
                f"Available names: {_list_names(names, kinds)}."
            )
        return text.xreplace({s: symbols[str(s)] for s in text.free_symbols})
    if not isinstance(text, str):
        raise ParseError(f"{what} must be a string. Got {type(text).__name__}: {text!r}.")
    src = text.strip()
    if not src:
        raise ParseError(f"{what} is empty; write an expression such as 'sin(theta)'.")
    # ``^`` means power (as in the feature names); Python would read it as xor with a lower
    # precedence than ``*``, so rewrite it to ``**`` and map error positions back.
    check_length(src, what)
    py = src.replace("^", "**")
    try:
        tree = ast.parse(py, mode="eval")
    except SyntaxError as exc:
        col = _orig_col(src, (exc.offset or 1) - 1)
        raise ParseError(
            f"Cannot parse {what} {src!r}: {exc.msg} at position {col}:\n{_caret(src, col)}"
        ) from None
    except (RecursionError, MemoryError):
        raise ParseError(
            f"Cannot parse {what} {src[:60]!r}...: it is nested too deeply or chains too "
            f"many terms for Python's parser (hybridwm accepts at most {MAX_NESTING_DEPTH} "
            f"levels of nesting). Check the file."
        ) from None
    depth = nesting_depth(tree.body)
    if depth > MAX_NESTING_DEPTH:
        raise ParseError(
            f"Cannot parse {what} {src[:60]!r}...: it is nested {depth} levels deep; hybridwm "
            f"accepts at most {MAX_NESTING_DEPTH} (parentheses, calls, powers and signs), a bound "
            f"that keeps loading an untrusted file fast. Check the file."
        )
    return _ToSympy(src, symbols, what, names, kinds)(tree.body)


def _orig_col(src: str, col: int) -> int:
    """Column in ``src`` of column ``col`` of ``src.replace('^', '**')``."""
    shift = 0
    pos = 0
    for ch in src:
        if pos >= col:
            break
        pos += 2 if ch == "^" else 1
        shift += 1 if ch == "^" else 0
    return max(col - shift, 0)


def _list_names(names: Sequence[str], kinds: Mapping[str, str] | None) -> str:
    if not kinds:
        return str(list(names))
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(kinds.get(n, "name"), []).append(n)
    return "; ".join(f"{k}s {v}" for k, v in groups.items())


_BINARY: dict[type, Callable[[sp.Expr, sp.Expr], sp.Expr]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.BitXor: operator.pow,  # ``^`` means power
}
_UNARY: dict[type, Callable[[sp.Expr], sp.Expr]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_CHAIN_OPS = (ast.Add, ast.Sub, ast.Mult, ast.Div)


class _ToSympy:
    """Converts a parsed expression (an :mod:`ast` tree) node by node into sympy, allowing only
    numbers, the given names and constants, ``+ - * / **`` and the supported functions."""

    def __init__(
        self,
        src: str,
        symbols: dict[str, sp.Symbol],
        what: str,
        names: Sequence[str],
        kinds: Mapping[str, str] | None,
    ) -> None:
        self.src, self.symbols, self.what, self.names, self.kinds = src, symbols, what, names, kinds

    def fail(self, msg: str, n: ast.AST) -> ParseError:
        col = _orig_col(self.src, getattr(n, "col_offset", 0))
        return ParseError(
            f"Cannot parse {self.what} {self.src!r}: {msg} at position {col}:\n"
            f"{_caret(self.src, col)}"
        )

    def __call__(self, n: ast.AST) -> sp.Expr:
        out = self.convert(n)
        check_number(out, lambda msg: self.fail(msg, n))
        return out

    def convert(self, n: ast.AST) -> sp.Expr:
        if isinstance(n, ast.Constant):
            return self.constant(n)
        if isinstance(n, ast.Name):
            return self.name(n)
        if isinstance(n, ast.UnaryOp):
            op = _UNARY.get(type(n.op))
            if op is None:
                raise self.fail(f"unsupported operator {type(n.op).__name__}", n)
            return op(self(n.operand))
        if isinstance(n, ast.BinOp):
            return self.chain(n)
        if isinstance(n, ast.Call):
            return self.call(n)
        raise self.fail(f"unsupported syntax {type(n).__name__}", n)

    def chain(self, n: ast.BinOp) -> sp.Expr:
        """A binary operation; a flat chain ``a + b - c ...`` is folded in a loop, not by
        recursion, so a long sum cannot exhaust the stack."""
        spine = [n]
        while isinstance(spine[-1].left, ast.BinOp) and isinstance(spine[-1].op, _CHAIN_OPS):
            spine.append(spine[-1].left)
        acc = self(spine[-1].left)
        for node in reversed(spine):
            binary = _BINARY.get(type(node.op))
            if binary is None:
                raise self.fail(
                    f"unsupported operator {type(node.op).__name__}; use + - * / ** or ^", node
                )
            right = self(node.right)
            if binary is operator.pow:
                check_power(acc, right, lambda msg, at=node: self.fail(msg, at))
            acc = binary(acc, right)
            if node is not n:
                check_number(acc, lambda msg, at=node: self.fail(msg, at))
        return acc

    def constant(self, n: ast.Constant) -> sp.Expr:
        if isinstance(n.value, bool) or not isinstance(n.value, (int, float)):
            raise self.fail(f"only numbers are allowed as constants, got {n.value!r}", n)
        if isinstance(n.value, float) and not math.isfinite(n.value):
            raise self.fail("a number beyond the float64 range (about 1.8e308) is not allowed", n)
        if isinstance(n.value, int) and n.value.bit_length() > MAX_NUMBER_BITS:
            raise self.fail(
                f"an integer of {n.value.bit_length()} bits is beyond the float64 range "
                f"(2^{MAX_NUMBER_BITS}) and not allowed",
                n,
            )
        return sp.Integer(n.value) if isinstance(n.value, int) else sp.Float(n.value)

    def name(self, n: ast.Name) -> sp.Expr:
        if n.id in self.symbols:
            return self.symbols[n.id]
        if n.id in _CONSTANTS:
            return _CONSTANTS[n.id]
        if n.id in SUPPORTED_FUNCTIONS:
            raise self.fail(f"function {n.id!r} must be called, e.g. {n.id}(x)", n)
        col = _orig_col(self.src, n.col_offset)
        raise UnknownNameError(
            f"{self.what} {self.src!r} uses unknown name {n.id!r} at position {col}:\n"
            f"{_caret(self.src, col)}\nAvailable names: {_list_names(self.names, self.kinds)}."
        )

    def call(self, n: ast.Call) -> sp.Expr:
        if not isinstance(n.func, ast.Name):
            raise self.fail("only plain function calls such as sin(x) are allowed", n)
        fname = n.func.id
        if fname not in SUPPORTED_FUNCTIONS:
            supported = sorted(set(SUPPORTED_FUNCTIONS))
            raise self.fail(f"unknown function {fname!r}; supported functions: {supported}", n)
        k = self.sharpness(fname, n)
        args = [self(a) for a in n.args]
        if fname in ("min", "Min", "max", "Max"):
            if len(args) < 2:
                raise self.fail(f"{fname} needs at least two arguments", n)
        elif fname == "clip":
            if len(args) != 3:
                raise self.fail(f"clip takes three arguments (x, low, high), got {len(args)}", n)
        elif len(args) != 1:
            raise self.fail(f"{fname} takes exactly one argument, got {len(args)}", n)
        if k is None:
            return SUPPORTED_FUNCTIONS[fname](*args)
        if fname == "clip":
            return SharpMin(k, SharpMax(k, args[0], args[1]), args[2])
        return (SharpMax if fname.lower() == "max" else SharpMin)(k, *args)

    def sharpness(self, fname: str, n: ast.Call) -> sp.Float | None:
        """The ``sharpness=k`` keyword of a ``min``/``max``/``clip`` call (None if absent): a
        number > 0, in 1/units of the call's arguments (see :mod:`hybridwm.physics.saturation`)."""
        if not n.keywords:
            return None
        kw = n.keywords[0]
        if fname.lower() not in ("min", "max", "clip") or len(n.keywords) > 1:
            raise self.fail(
                "the only keyword argument is sharpness=..., of min, max and clip "
                "(e.g. max(q, 0, sharpness=50))",
                kw.value,
            )
        if kw.arg != "sharpness":
            raise self.fail(
                f"unknown keyword {kw.arg!r}; {fname} takes only sharpness=... (e.g. "
                f"{fname}(a, b, sharpness=50)), the smoothing's 1/scale in training",
                kw.value,
            )
        value = self(kw.value)
        v = float(value) if value.is_number and value.is_extended_real else float("nan")
        if not 0 < v < float("inf"):
            raise self.fail(f"sharpness must be a number > 0, got {expr_name(value)}", kw.value)
        return sp.Float(v)


class _NamePrinter(StrPrinter):
    """sympy's text, with ``min``/``max`` spelled as users write them and, given a
    ``precision``, floats rounded to that many significant digits."""

    def __init__(self, precision: int | None = None) -> None:
        super().__init__()
        self.precision = precision

    def _print_Min(self, e: sp.Expr) -> str:
        return "min(" + ", ".join(self._print(a) for a in e.args) + ")"

    def _print_Max(self, e: sp.Expr) -> str:
        return "max(" + ", ".join(self._print(a) for a in e.args) + ")"

    def _print_Float(self, e: sp.Float) -> str:
        if self.precision is None:
            return str(super()._print_Float(e))
        return f"{float(e):.{self.precision}g}"


def expr_name(expr: sp.Expr, precision: int | None = None) -> str:
    """Readable, parseable name of an expression: ``"omega^2*sin(theta)"``, ``"1"``,
    ``"min(h1, 0.3)"``; ``precision``: significant digits of its floats (default: all)."""
    return _NamePrinter(precision).doprint(expr).replace("**", "^")


def expr_latex(expr: sp.Expr) -> str:
    """LaTeX of an expression (Greek state names become Greek letters)."""
    return sp.latex(expr)


# ---------------------------------------------------------------------------- code generation
class _Printer:
    """Print a sympy expression as numpy or torch source over sanitized variable names."""

    def __init__(self, backend: str, varnames: Mapping[sp.Symbol, str]) -> None:
        self.idx = 0 if backend == "numpy" else 1
        self.ns = "np" if backend == "numpy" else "torch"
        self.varnames = varnames

    def __call__(self, e: sp.Basic) -> str:
        if e in self.varnames:
            return self.varnames[e]  # type: ignore[index]
        if e.is_Number or e in (sp.pi, sp.E):
            return repr(float(e))
        if isinstance(e, sp.Add):
            return "(" + " + ".join(self(a) for a in e.args) + ")"
        if isinstance(e, sp.Mul):
            return "(" + "*".join(self(a) for a in e.args) + ")"
        if isinstance(e, sp.Pow):
            return self.power(e)
        if isinstance(e, (SharpMax, SharpMin)):
            fn = "_maximum" if isinstance(e, SharpMax) else "_minimum"
            k, *args = (self(a) for a in e.args)
            out = args[0]
            for a in args[1:]:
                out = f"{fn}({out}, {a}, {k})"
            return out
        if type(e) in _FUNC_CODE:
            fn = _FUNC_CODE[type(e)][self.idx]
            args = [self(a) for a in e.args]
            out = args[0]
            if fn.startswith("_"):
                for a in args[1:]:
                    out = f"{fn}({out}, {a})"
                return out
            return f"{fn}({', '.join(args)})"
        raise ParseError(
            f"Cannot generate code for {e!r} ({type(e).__name__}); supported functions are "
            f"{sorted(set(SUPPORTED_FUNCTIONS))}."
        )

    def power(self, e: sp.Pow) -> str:
        base, ex = e.args
        b = self(base)
        if ex == sp.Rational(1, 2):  # torch: a sqrt with a finite gradient at 0
            return f"{self.ns}.sqrt({b})" if self.idx == 0 else f"_sqrt({b})"
        if ex == sp.Rational(-1, 2):
            return f"(1.0/{self.ns}.sqrt({b}))"
        if ex == -1:
            return f"(1.0/{b})"
        if ex.is_Integer:
            return f"({b}**{int(ex)})"
        if base == sp.E:
            return f"{self.ns}.exp({self(ex)})"
        return f"({b}**{self(ex)})"


def compile_expressions(
    exprs: Sequence[sp.Expr],
    groups: Sequence[Sequence[str]],
    *,
    backend: str = "numpy",
) -> Callable[..., Any]:
    """Compile expressions into one function of column-stacked arrays, with shared subterms.

    Args:
        exprs: the expressions to evaluate (over the names in ``groups``).
        groups: names of the columns of each argument of the generated function, e.g.
            ``(state_names, action_names, parameter_names)``; the function then takes
            ``f(x, u, p)`` with ``x`` of shape (..., n_x), ``u`` (..., n_u), ``p`` (n_p,).
        backend: ``"numpy"`` or ``"torch"``.

    Returns:
        A function returning an array of shape (..., len(exprs)) (features along the last axis).
        Constant expressions are broadcast to the batch shape of the first argument.
    """
    if backend not in ("numpy", "torch"):
        raise ValueError(f"backend must be 'numpy' or 'torch'. Got {backend!r}.")
    varnames: dict[sp.Symbol, str] = {}
    lines: list[str] = []
    argnames = [f"_a{i}" for i in range(len(groups))]
    batched = set()
    for gi, names in enumerate(groups):
        for ci, n in enumerate(names):
            sym = sp.Symbol(n, real=True)
            var = f"_v{len(varnames)}"
            varnames[sym] = var
            is_param = gi == 2
            lines.append(
                f"    {var} = {argnames[gi]}[{ci}]"
                if is_param
                else f"    {var} = {argnames[gi]}[..., {ci}]"
            )
            if not is_param:
                batched.add(sym)
    replacements, reduced = sp.cse(
        list(exprs), symbols=sp.numbered_symbols("_c"), optimizations=None
    )
    ns = "np" if backend == "numpy" else "torch"
    pr = _Printer(backend, varnames)
    for sym, sub in replacements:
        lines.append(f"    {sym} = {pr(sub)}")
        varnames[sym] = str(sym)
        if sub.free_symbols & batched:
            batched.add(sym)
    lines.append(f"    _one = {ns}.ones_like({argnames[0]}[..., 0])")
    cols = []
    for r in reduced:
        code = pr(r)
        cols.append(code if (r.free_symbols & batched) else f"(_one*{code})")
    if cols:
        lines.append(f"    return {ns}.stack([{', '.join(cols)}], -1)")
    else:
        lines.append(
            f"    return {ns}.zeros({argnames[0]}.shape[:-1] + (0,), dtype={argnames[0]}.dtype)"
        )
    src = f"def _generated({', '.join(argnames)}):\n" + "\n".join(lines) + "\n"
    namespace: dict[str, Any] = {"np": np}
    if backend == "torch":
        import torch

        namespace["torch"] = torch
        namespace["_minimum"] = torch_binary("minimum")
        namespace["_maximum"] = torch_binary("maximum")
        namespace["_sqrt"] = torch_safe_sqrt()
    else:
        namespace["_minimum"] = np_minimum
        namespace["_maximum"] = np_maximum
    exec(compile(src, "<hybridwm.physics generated>", "exec"), namespace)
    fn = namespace["_generated"]
    fn.__source__ = src  # type: ignore[attr-defined]
    return fn  # type: ignore[no-any-return]


def valid_identifier(name: str) -> bool:
    """True if ``name`` can be used as a state/action/parameter name in expressions."""
    return (
        isinstance(name, str)
        and name.isidentifier()
        and not keyword.iskeyword(name)
        and name not in SUPPORTED_FUNCTIONS
    )
