"""Code generation: sympy expressions compiled into numpy or torch functions.

The numpy function (for fitting and ``PhysicsModel.predict``) and the torch function (for the
differentiable vector field) are printed from the *same* template with ``np`` replaced by
``torch``, so both evaluate the same operations in the same order and agree to floating-point
precision. Subterms shared by several expressions are computed once (``sympy.cse``).

A declared prior's features mix the states with its parameters (``v/(J*Mt - mc^2*cos(theta)^2)``).
:func:`compile_hoisted` takes every subexpression of the parameters alone (``J*Mt``, ``mc^2``,
``-fmax``) out of the function evaluated at each state into a second one, ``prepare(p)``, which
a vector field runs once per parameter values instead of once per solver stage. Both print the
subexpressions exactly as :func:`compile_expressions` does, so the values are the same to the
last bit.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import sympy as sp

from hybridwm.errors import ParseError
from hybridwm.physics.adjoint import AdjointProgram
from hybridwm.physics.saturation import (
    SharpMax,
    SharpMin,
    np_maximum,
    np_minimum,
    torch_binary,
    torch_safe_sqrt,
)

__all__ = ["HoistedFunctions", "compile_expressions", "compile_hoisted"]

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
#: the functions code can be generated for, as users write them
_GENERATED = sorted(
    {"sqrt", "min", "max", "clip", "abs", "atan"}
    | {f.__name__ for f in _FUNC_CODE if f not in (sp.Abs, sp.atan, sp.Min, sp.Max)}
)


class _Printer:
    """Print a sympy expression as numpy or torch source over sanitized variable names.

    Given a ``hoisted`` dict, every subexpression with free symbols, none of them ``batched``
    (a function of the parameters alone), is printed as the name of a hoisted value
    (``_h0``, ``_h1``, ...), recorded in ``hoisted``, instead of being computed.
    """

    def __init__(
        self,
        backend: str,
        varnames: Mapping[sp.Symbol, str],
        hoisted: dict[sp.Expr, str] | None = None,
        batched: set[sp.Symbol] | None = None,
    ) -> None:
        self.idx = 0 if backend == "numpy" else 1
        self.ns = "np" if backend == "numpy" else "torch"
        self.varnames = varnames
        self.hoisted = hoisted
        self.batched = batched or set()

    def __call__(self, e: sp.Basic) -> str:
        if e in self.varnames:
            return self.varnames[e]  # type: ignore[index]
        if e.is_Number or e in (sp.pi, sp.E):
            return repr(float(e))
        if self.hoisted is not None and e.free_symbols and not e.free_symbols & self.batched:
            return self.hoisted.setdefault(e, f"_h{len(self.hoisted)}")  # type: ignore[arg-type]
        if isinstance(e, sp.Add):
            return self.add(e)
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
            f"{_GENERATED}."
        )

    def add(self, e: sp.Add) -> str:
        """A sum, left to right; a term ``-c*t`` (``c > 0``) after the first is printed as the
        subtraction ``- c*t``, which rounds exactly as adding ``(-c)*t`` (one operation fewer)."""
        out = self(e.args[0])
        for a in e.args[1:]:
            if a.as_coeff_Mul()[0].is_negative:
                out += f" - {self(-a)}"
            else:
                out += f" + {self(a)}"
        return f"({out})"

    def inverse(self, b: str, base: sp.Expr) -> str:
        """``1/b``; torch's ``1.0/t`` is ``reciprocal(t)*1.0``, so torch code calls
        ``reciprocal`` directly (the same value, one operation fewer) when ``b`` is a tensor."""
        if self.idx == 1 and base.free_symbols:
            return f"torch.reciprocal({b})"
        return f"(1.0/{b})"

    def power(self, e: sp.Pow) -> str:
        base, ex = e.args
        b = self(base)
        if ex == sp.Rational(1, 2):  # torch: a sqrt with a finite gradient at 0
            return f"{self.ns}.sqrt({b})" if self.idx == 0 else f"_sqrt({b})"
        if ex == sp.Rational(-1, 2):
            return self.inverse(f"{self.ns}.sqrt({b})", base)
        if ex == -1:
            return self.inverse(b, base)
        if ex.is_Integer:
            return f"({b}**{int(ex)})"
        if base == sp.E:
            return f"{self.ns}.exp({self(ex)})"
        return f"({b}**{self(ex)})"


def _input_lines(
    argnames: Sequence[str],
    symbols: Sequence[Sequence[sp.Symbol]],
    varnames: Mapping[sp.Symbol, str],
    used: set[sp.Basic],
    backend: str,
) -> list[str]:
    """Source lines binding the variables the expressions use (``used``) to the columns of the
    generated function's arguments. torch code takes all columns of an argument in one
    ``unbind``, whose backward is one ``stack`` (a column each would be one autograd node each,
    every one scattering its gradient into a zero tensor of the argument's shape)."""
    lines = []
    for arg, group in zip(argnames, symbols, strict=True):
        if not used.intersection(group):
            continue
        if backend == "torch":
            names = [varnames[s] if s in used else "_" for s in group]
            lines.append(f"    {', '.join(names)}, = {arg}.unbind(-1)")
            continue
        for ci, sym in enumerate(group):
            if sym in used:
                lines.append(f"    {varnames[sym]} = {arg}[..., {ci}]")
    return lines


def _function(name: str, args: Sequence[str], lines: Sequence[str], backend: str) -> Any:
    """Compile ``def name(args): lines`` in a namespace with the backend's helpers."""
    src = f"def {name}({', '.join(args)}):\n" + "\n".join(lines) + "\n"
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
    fn = namespace[name]
    fn.__source__ = src
    return fn


class _Program:
    """Expressions over the columns of ``groups`` after common-subexpression elimination, with
    the symbols (inputs and shared subterms) that vary over the batch: all but those of the
    parameters (the third group) and the subterms of the parameters alone."""

    def __init__(self, exprs: Sequence[sp.Expr], groups: Sequence[Sequence[str]], backend: str):
        if backend not in ("numpy", "torch"):
            raise ValueError(f"backend must be 'numpy' or 'torch'. Got {backend!r}.")
        self.backend = backend
        self.ns = "np" if backend == "numpy" else "torch"
        self.argnames = [f"_a{i}" for i in range(len(groups))]
        self.symbols = [[sp.Symbol(n, real=True) for n in names] for names in groups]
        flat = (s for group in self.symbols for s in group)
        self.varnames: dict[sp.Symbol, str] = {s: f"_v{k}" for k, s in enumerate(flat)}
        self.batched = {s for gi, group in enumerate(self.symbols) if gi != 2 for s in group}
        self.replacements, self.reduced = sp.cse(
            list(exprs), symbols=sp.numbered_symbols("_c"), optimizations=None
        )
        for sym, sub in self.replacements:
            self.varnames[sym] = str(sym)
            if sub.free_symbols & self.batched:
                self.batched.add(sym)

    def uses(self, replacements: Sequence[tuple[sp.Symbol, sp.Expr]]) -> set[sp.Basic]:
        """The symbols the given replacements and the reduced expressions use."""
        subs = (e.free_symbols for _, e in replacements)
        return set().union(*subs, *(e.free_symbols for e in self.reduced))

    def result(self, pr: _Printer) -> list[str]:
        """Lines computing the (..., n_exprs) result; an expression constant over the batch is
        broadcast to the first argument's batch shape."""
        arg, ns = self.argnames[0], self.ns
        cols = []
        for r in self.reduced:
            code = pr(r)
            cols.append(code if r.free_symbols & self.batched else f"(_one*{code})")
        lines = []
        if any(c.startswith("(_one*") for c in cols):
            lines.append(f"    _one = {ns}.ones_like({arg}[..., 0])")
        if cols:
            lines.append(f"    return {ns}.stack([{', '.join(cols)}], -1)")
        else:
            lines.append(f"    return {ns}.zeros({arg}.shape[:-1] + (0,), dtype={arg}.dtype)")
        return lines

    def plain(self) -> Any:
        """One function of every argument."""
        used = self.uses(self.replacements)
        lines = _input_lines(self.argnames, self.symbols, self.varnames, used, self.backend)
        pr = _Printer(self.backend, self.varnames)
        lines += [f"    {sym} = {pr(sub)}" for sym, sub in self.replacements]
        return _function("_generated", self.argnames, lines + self.result(pr), self.backend)

    def hoisted(self) -> HoistedFunctions:
        """``prepare(p)`` (the subterms of the parameters alone) and ``evaluate(x, u, q)``."""
        varnames, backend = self.varnames, self.backend
        hoisted: dict[sp.Expr, str] = {}
        pr = _Printer(backend, varnames, hoisted, self.batched)
        batched = [(s, e) for s, e in self.replacements if s in self.batched]
        body = [f"    {sym} = {pr(sub)}" for sym, sub in batched]
        body += self.result(pr)
        params = self.symbols[2]
        constant = [(s, e) for s, e in self.replacements if s not in self.batched]
        # q: the parameters, constant subterms and hoisted values the body reads
        words = set(re.findall(r"\w+", "\n".join(body)))
        candidates = [varnames[s] for s in params] + [str(s) for s, _ in constant]
        names = [n for n in candidates + list(hoisted.values()) if n in words]
        used = self.uses(batched)
        lines = _input_lines(self.argnames[:2], self.symbols[:2], varnames, used, backend)
        if names:
            lines.append(f"    {', '.join(names)}, = _a2.unbind(-1)")
        evaluate = _function("_evaluate", self.argnames, lines + body, backend)
        plain = _Printer(backend, varnames)
        lines = _input_lines(["_a0"], [params], varnames, set(params), backend)
        lines += [f"    {sym} = {plain(sub)}" for sym, sub in constant]
        lines += [f"    {name} = {plain(e)}" for e, name in hoisted.items()]
        lines.append(
            f"    return torch.stack([{', '.join(names)}])" if names else "    return _a0[:0]"
        )
        prepare = _function("_prepare", ["_a0"], lines, backend)
        columns = tuple([varnames[s] for s in group] for group in self.symbols[:2])
        adjoint = AdjointProgram.from_program(
            self.reduced, batched, varnames, hoisted, self.batched, (*columns, names)
        )
        return HoistedFunctions(prepare, evaluate, tuple(names), adjoint)


@dataclasses.dataclass(frozen=True)
class HoistedFunctions:
    """The two functions of :func:`compile_hoisted`.

    Attributes:
        prepare: ``prepare(p)``: the (n_p,) parameter values → ``q`` (n_q,): the parameters
            and subterms of the parameters alone that ``evaluate`` reads.
        evaluate: ``evaluate(x, u, q)`` → (..., n_exprs), the expressions at states ``x``
            (..., n_x) and actions ``u`` (..., n_u); equal to ``compile_expressions(...)(x, u,
            p)`` to the last bit.
        names: the generated variable name of each entry of ``q``.
        adjoint: ``evaluate`` and its gradient as generated numpy code (see
            :func:`~hybridwm.physics.adjoint.features_with_adjoint`).
    """

    prepare: Callable[[Any], Any]
    evaluate: Callable[[Any, Any, Any], Any]
    names: tuple[str, ...]
    adjoint: AdjointProgram | None = None


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
    return _Program(exprs, groups, backend).plain()


def compile_hoisted(
    exprs: Sequence[sp.Expr],
    state_names: Sequence[str],
    action_names: Sequence[str],
    parameter_names: Sequence[str],
) -> HoistedFunctions:
    """Compile expressions of states, actions and parameters into two torch functions: one of
    the parameters alone, run once per parameter values, and one of the batch.

    Args:
        exprs: the expressions to evaluate.
        state_names: names of the columns of ``x``.
        action_names: names of the columns of ``u``.
        parameter_names: names of the entries of ``p``.

    Returns:
        ``prepare`` and ``evaluate`` (see :class:`HoistedFunctions`):
        ``evaluate(x, u, prepare(p))`` equals ``compile_expressions(exprs, (state_names,
        action_names, parameter_names), backend="torch")(x, u, p)``.
    """
    groups = (tuple(state_names), tuple(action_names), tuple(parameter_names))
    return _Program(exprs, groups, "torch").hoisted()
