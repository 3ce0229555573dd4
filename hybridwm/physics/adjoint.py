"""The features of a declared prior and their gradient, generated as straight-line numpy code.

A declared prior's features are a few dozen elementwise operations on columns of the batch
(``cos(theta)``, ``1/(J*Mt - mc^2*cos(theta)^2)``, a smooth ``clip``, a ``sqrt``). On the CPU, at
the batch sizes of training (tens to thousands of rows), each torch operation costs its dispatch,
about 2 µs, and each node of the autograd graph 5-10 µs more in the backward pass, while the
arithmetic itself is a fraction of that. Recorded op by op, the cart-pole prior's optimizer step
cost 1.4× that of the 2×64 MLP residual (``benchmarks/bench_step_cost.py``).

:class:`AdjointProgram` writes the common-subexpression program that
:func:`~hybridwm.physics.codegen.compile_hoisted` prints for torch as one operation per line, in
the same order and association, and generates from it two numpy functions (numpy's dispatch
costs about a third of torch's): the forward pass, which keeps the intermediate values its
gradient reads, and the reverse-mode chain rule through them, one line per operation.
:func:`features_with_adjoint` runs the pair as one autograd node when a gradient is recorded.
The features then agree with the torch code's to rounding (numpy's ``sin``, ``exp``, ... can
differ from torch's in the last bit); without a gradient the torch code runs as before.

Derivatives follow the torch functions the torch code calls: ``sqrt`` has the clipped gradient
of :func:`~hybridwm.physics.saturation.torch_safe_sqrt`; exact ``min``/``max`` give theirs to the
larger (smaller) argument and half to each on a tie; smooth ones (training mode, see
:func:`~hybridwm.physics.saturation.smooth_saturation`) ``sigmoid(k (a - b))``; ``abs`` and
``sign`` those of ``torch.abs``/``torch.sign``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import sympy as sp
import torch
from scipy.special import expit

from hybridwm.physics.saturation import SharpMax, SharpMin, saturation_state, smooth_saturation
from hybridwm.physics.shared_terms import transform_active

__all__ = ["MAX_ROWS", "MIN_NODES", "AdjointProgram", "features_with_adjoint"]

#: the most rows the numpy gradient is used for. Above it torch's elementwise kernels spread
#: over threads (its internal grain size is 32768 elements) and the graph's cost per node no
#: longer dominates, so the plain autograd graph is used.
MAX_ROWS = 32768

#: the fewest autograd nodes the torch code must record (:attr:`AdjointProgram.graph_nodes`) for
#: the generated node to be used: it costs a fixed 60-100 µs per call (the Function's apply and
#: backward in Python, the arrays handed between torch and numpy) and saves 5-15 µs per node.
#: Measured on one CPU thread, 64 rows (benchmarks/RESULTS.md, "Session 19"): the two cost the
#: same at about 18 nodes (a pendulum prior with a smooth clip and a square root; a chain of
#: 18 ``sin`` products); at 38 (the cart-pole prior) the node costs 0.55× the graph.
MIN_NODES = 20

#: autograd nodes the torch code records per operation of these kinds (1 for the others): a
#: smooth ``min``/``max`` is five (``a - b``, ``k*``, ``softplus``, ``/k``, ``b +``), ``sqrt`` a
#: Python ``autograd.Function`` (about three nodes' cost)
_NODES = {"max": 5, "min": 5, "sqrt": 3}

#: unary sympy functions: (torch function, derivative of ``t = f(a)`` as numpy code in ``a``
#: and ``t``; None: zero). ``sin`` and ``cos`` reuse the other's forward value where the
#: program computes it (:func:`_partials`); their entries are the fallback.
_UNARY: dict[type, tuple[str, str | None]] = {
    sp.sin: ("sin", "np.cos({a})"),
    sp.cos: ("cos", "-np.sin({a})"),
    sp.tan: ("tan", "(1.0 + {t}*{t})"),
    sp.exp: ("exp", "{t}"),
    sp.log: ("log", "np.reciprocal({a})"),
    sp.tanh: ("tanh", "(1.0 - {t}*{t})"),
    sp.sinh: ("sinh", "np.cosh({a})"),
    sp.cosh: ("cosh", "np.sinh({a})"),
    sp.atan: ("atan", "np.reciprocal(1.0 + {a}*{a})"),
    sp.Abs: ("abs", "np.sign({a})"),
    sp.sign: ("sign", None),
}


_DERIVATIVE = dict(_UNARY.values())


def _torch(name: str) -> Callable[..., Any]:
    """``torch.<name>`` on numpy arrays (no copy either way). The forward pass computes with
    numpy only what IEEE arithmetic rounds the same everywhere (``+ - * /``, ``min``/``max``,
    squares); functions whose rounding is the library's own (``sin``, ``exp``, ``softplus``,
    ``sqrt``, other powers) come from torch, so the features equal the torch code's to the
    last bit."""
    fn = getattr(torch, name)

    def call(a: np.ndarray, *args: Any) -> np.ndarray:
        if not args:
            return fn(torch.from_numpy(a)).numpy()  # type: ignore[no-any-return]
        rest = (torch.as_tensor(b) if isinstance(b, np.generic | np.ndarray) else b for b in args)
        return fn(torch.from_numpy(a), *rest).numpy()  # type: ignore[no-any-return]

    return call


@dataclasses.dataclass(frozen=True)
class _Op:
    """One operation ``out = kind(*args)`` of the straight-line program; ``args`` are value
    names or float literals; ``k``: a ``min``/``max``'s own sharpness (a literal or None)."""

    out: str
    kind: str
    args: tuple[str, ...]
    k: str | None = None


class _Tape:
    """Writes sympy expressions as one operation per line, in the order and association in which
    :class:`~hybridwm.physics.codegen._Printer` prints them for torch, so that the generated
    forward pass rounds every operation as the torch code does."""

    def __init__(
        self, varnames: Mapping[sp.Basic, str], hoisted: Mapping[sp.Expr, str], batched: set
    ) -> None:
        self.varnames, self.hoisted, self.batched = varnames, hoisted, batched
        self.ops: list[_Op] = []

    def op(self, kind: str, *args: str, k: str | None = None) -> str:
        out = f"_t{len(self.ops)}"
        self.ops.append(_Op(out, kind, args, k))
        return out

    def __call__(self, e: sp.Basic) -> str:
        if e in self.varnames:
            return self.varnames[e]
        if e.is_Number or e in (sp.pi, sp.E):
            return repr(float(e))
        if e.free_symbols and not e.free_symbols & self.batched:
            return self.hoisted[e]  # type: ignore[index]
        if isinstance(e, sp.Add):
            out = self(e.args[0])
            for a in e.args[1:]:
                negative = a.as_coeff_Mul()[0].is_negative
                out = self.op("sub", out, self(-a)) if negative else self.op("add", out, self(a))
            return out
        if isinstance(e, sp.Mul):
            out = self(e.args[0])
            for a in e.args[1:]:
                out = self.op("mul", out, self(a))
            return out
        if isinstance(e, sp.Pow):
            return self.power(e)
        if isinstance(e, (SharpMax, SharpMin, sp.Max, sp.Min)):
            sharp = isinstance(e, (SharpMax, SharpMin))
            kind = "max" if isinstance(e, (SharpMax, sp.Max)) else "min"
            k, args = (self(e.args[0]), e.args[1:]) if sharp else (None, e.args)
            out = self(args[0])
            for a in args[1:]:
                out = self.op(kind, out, self(a), k=k)
            return out
        if type(e) in _UNARY:
            return self.op(_UNARY[type(e)][0], self(e.args[0]))
        raise NotImplementedError(f"no derivative rule for {type(e).__name__}")

    def power(self, e: sp.Pow) -> str:
        base, ex = e.args
        if base == sp.E:
            return self.op("exp", self(ex))
        b = self(base)
        if ex == sp.Rational(1, 2):
            return self.op("sqrt", b)
        if ex == sp.Rational(-1, 2):
            return self.op("recip", self.op("sqrt", b))
        if ex == -1:
            return self.op("recip", b)
        return self.op("pow", b, str(int(ex)) if ex.is_Integer else self(ex))


def _is_value(arg: str) -> bool:
    """True for a value name (``_v3``, ``_c2``, ``_h0``, ``_t5``), False for a literal."""
    return arg.startswith("_")


@dataclasses.dataclass(frozen=True)
class _Pair:
    """The generated functions for one set of inputs that need a gradient:
    ``forward(x, u, q, smooth) -> (features, saved)`` and ``backward(grad, saved, smooth) ->
    (gx, gu, gq)`` (None for those not needed); ``source``: their code."""

    forward: Callable[..., Any]
    backward: Callable[..., Any]
    source: str


class AdjointProgram:
    """The (..., n_out) features of a hoisted program and their vector-Jacobian products.

    Args:
        columns: (x column names, u column names, q entry names) of the program's inputs, as
            its generated code names them.
        outputs: for each feature, the value name or literal the torch code stacks.
        ops: the straight-line program computing them.
    """

    def __init__(
        self,
        columns: tuple[Sequence[str], Sequence[str], Sequence[str]],
        outputs: Sequence[str],
        ops: Sequence[_Op],
    ) -> None:
        self.columns, self.outputs, self.ops = columns, list(outputs), list(ops)
        self._pairs: dict[tuple[bool, bool, bool], _Pair] = {}

    @property
    def graph_nodes(self) -> int:
        """About how many autograd nodes the torch code records per call (a smooth ``min``/
        ``max`` counts 5, ``sqrt`` 3, any other operation 1)."""
        return sum(_NODES.get(op.kind, 1) for op in self.ops)

    @classmethod
    def from_program(
        cls,
        reduced: Sequence[sp.Expr],
        replacements: Sequence[tuple[sp.Symbol, sp.Expr]],
        varnames: Mapping[sp.Basic, str],
        hoisted: Mapping[sp.Expr, str],
        batched: set,
        columns: tuple[Sequence[str], Sequence[str], Sequence[str]],
    ) -> AdjointProgram:
        """The program of :func:`~hybridwm.physics.codegen.compile_hoisted`: its batched
        common subexpressions ``replacements``, its ``reduced`` expressions, the names the torch
        code gives its symbols and hoisted subterms, and the symbols varying over the batch.

        Raises:
            NotImplementedError: an expression holds a function without a derivative rule.
        """
        names = dict(varnames)
        tape = _Tape(names, hoisted, batched)
        for sym, sub in replacements:
            names[sym] = tape(sub)  # a common subexpression is the value that computes it
        outputs = [tape(r) for r in reduced]
        return cls(columns, outputs, tape.ops)

    def pair(self, needs: tuple[bool, bool, bool]) -> _Pair:
        """The forward and backward functions when the gradients ``needs`` says (for ``x``,
        ``u``, ``q``) are wanted; generated on first use."""
        key = (bool(needs[0]), bool(needs[1]), bool(needs[2]))
        if key not in self._pairs:
            self._pairs[key] = _generate(self, key)
        return self._pairs[key]


def _active(program: AdjointProgram, needs: tuple[bool, bool, bool]) -> set[str]:
    """The values that depend on an input whose gradient is needed."""
    active = {n for group, need in zip(program.columns, needs, strict=True) if need for n in group}
    for op in program.ops:
        if any(a in active for a in op.args):
            active.add(op.out)
    return active


def _forward_line(op: _Op, active: set[str]) -> str:
    """The numpy line computing ``op`` (a ``min``/``max`` on the gradient's path also keeps
    its two derivatives, ``_w<out>``)."""
    a = op.args
    if op.kind == "pow" and a[1] != "2":  # std::pow: torch's rounding (squares are IEEE)
        return f"{op.out} = _torch_pow({a[0]}, {a[1]})"
    if op.kind in ("add", "sub", "mul", "pow"):
        symbol = {"add": "+", "sub": "-", "mul": "*", "pow": "**"}[op.kind]
        return f"{op.out} = {a[0]} {symbol} {a[1]}"
    if op.kind in ("max", "min"):
        if op.out in active:
            return f"{op.out}, _w{op.out} = _{op.kind}_d({a[0]}, {a[1]}, {op.k}, _s)"
        return f"{op.out} = _{op.kind}({a[0]}, {a[1]}, {op.k}, _s)"
    fn = "np.reciprocal" if op.kind == "recip" else f"_torch_{op.kind}"
    return f"{op.out} = {fn}({a[0]})"


def _partials(op: _Op, computed: Mapping[tuple[str, str], str]) -> list[tuple[str, str, int]]:
    """``(argument, factor, sign)`` for each argument of ``op``: its adjoint gains ``sign *
    adjoint(out) * factor`` (factor ``""``: the adjoint itself). ``computed``: the value of
    ``(kind, argument)`` where the forward pass has it (``cos(theta)`` for ``sin``'s
    derivative)."""
    a, t = op.args, op.out
    if op.kind == "add":
        return [(a[0], "", 1), (a[1], "", 1)]
    if op.kind == "sub":
        return [(a[0], "", 1), (a[1], "", -1)]
    if op.kind == "mul":
        return [(a[0], a[1], 1), (a[1], a[0], 1)]
    if op.kind == "pow":
        base, ex = a
        if not _is_value(ex):  # a literal exponent n: n * base^(n - 1)
            n = float(ex)
            factor = f"(2.0*{base})" if n == 2.0 else f"({n!r}*{base}**{n - 1.0!r})"
            return [(base, factor, 1)]
        return [(base, f"({ex}*{base}**({ex} - 1.0))", 1), (ex, f"({t}*np.log({base}))", 1)]
    if op.kind == "recip":
        return [(a[0], f"({t}*{t})", -1)]
    if op.kind == "sqrt":
        return [(a[0], f"(0.5/np.sqrt(np.maximum({a[0]}, _eps)))", 1)]
    if op.kind in ("max", "min"):
        return [(a[0], f"_w{t}[0]", 1), (a[1], f"_w{t}[1]", 1)]
    derivative = _DERIVATIVE[op.kind]
    if derivative is None:
        return []
    sign = -1 if derivative.startswith("-") else 1
    factor = derivative.lstrip("-").format(a=a[0], t=t)
    if op.kind in ("sin", "cos"):  # the other's forward value, where the program has it
        factor = computed.get(("cos" if op.kind == "sin" else "sin", a[0]), factor)
    return [(a[0], factor, sign)]


def _backward_lines(
    program: AdjointProgram, active: set[str]
) -> tuple[list[str], dict[str, tuple[str, int]]]:
    """Lines accumulating the adjoint of every active value, last operation first; and each
    value's adjoint as ``(name, sign)`` (the adjoint is ``sign * name``: a negation is carried
    along, not computed)."""
    adjoint: dict[str, tuple[str, int]] = {}
    lines: list[str] = []
    computed = {(op.kind, op.args[0]): op.out for op in program.ops if len(op.args) == 1}
    written: dict[str, str] = {}  # a product already computed, by its code

    def add(value: str, code: str, sign: int) -> None:
        if value not in active:
            return
        name = f"_b{len(lines)}"
        if value not in adjoint:
            if code.isidentifier() or code in written:  # an array there is: nothing to compute
                adjoint[value] = (written.get(code, code), sign)
                return
            lines.append(f"{name} = {code}")
            written[code], adjoint[value] = name, (name, sign)
            return
        held, held_sign = adjoint[value]
        lines.append(f"{name} = {held} {'+' if sign == held_sign else '-'} {code}")
        adjoint[value] = (name, held_sign)

    for j, out in enumerate(program.outputs):
        if _is_value(out):
            add(out, f"_g{j}", 1)
    for op in reversed(program.ops):
        if op.out not in adjoint:
            continue
        upstream, up_sign = adjoint[op.out]
        for arg, factor, sign in _partials(op, computed):
            if _is_value(arg):
                add(arg, f"{upstream}*{factor}" if factor else upstream, sign * up_sign)
    return lines, adjoint


def _signed(entry: tuple[str, int] | None, zero: str) -> str:
    if entry is None:
        return zero
    return entry[0] if entry[1] > 0 else f"(-{entry[0]})"


def _generate(program: AdjointProgram, needs: tuple[bool, bool, bool]) -> _Pair:
    """The forward and backward numpy functions for ``needs``."""
    active = _active(program, needs)
    backward, adjoint = _backward_lines(program, active)
    defined = {line.split(" = ", 1)[0] for line in backward}
    saved = sorted({w for line in backward for w in _names(line)} - defined)
    saved = [w for w in saved if not w.startswith(("_g", "_eps"))]
    xs, us, qs = program.columns
    fwd = ["def _forward(_a0, _a1, _a2, _s):"]
    fwd += [f"    {n} = _a0[..., {i}]" for i, n in enumerate(xs)]
    fwd += [f"    {n} = _a1[..., {i}]" for i, n in enumerate(us)]
    if qs:
        fwd.append(f"    {', '.join(qs)}, = _a2")
    fwd += ["    " + _forward_line(op, active) for op in program.ops]
    cols = [o if _is_value(o) and o not in qs else f"(_one*{o})" for o in program.outputs]
    if any(c.startswith("(_one*") for c in cols):
        fwd.append("    _one = np.ones_like(_a0[..., 0])")
    stacked = f"np.stack([{', '.join(cols)}], -1)" if cols else "_a0[..., :0]"
    fwd.append(f"    return {stacked}, ({''.join(w + ', ' for w in saved)})")
    bwd = ["def _backward(_G, _S, _s):", "    _eps = np.finfo(_G.dtype).eps"]
    if saved:
        bwd.append(f"    {', '.join(saved)}, = _S")
    used = {w for line in backward for w in _names(line)} | {a[0] for a in adjoint.values()}
    bwd += [f"    _g{j} = _G[..., {j}]" for j in range(len(program.outputs)) if f"_g{j}" in used]
    bwd += ["    " + line for line in backward]
    bwd.append("    _zero = np.zeros(_G.shape[:-1], _G.dtype)")
    results = []
    for group, need in zip((xs, us), needs[:2], strict=True):
        parts = [_signed(adjoint.get(n), "_zero") for n in group]
        stacked = f"np.stack([{', '.join(parts)}], -1)" if parts else "_G[..., :0]"
        results.append(stacked if need else "None")
    sums = [_signed(adjoint.get(n), "_zero") for n in qs]
    total = f"np.stack([{', '.join(sums)}]).reshape({len(qs)}, -1).sum(1)"
    if not qs:
        total = "np.zeros(0, _G.dtype)"
    results.append(total if needs[2] else "None")
    bwd.append(f"    return {', '.join(results)}")
    source = "\n".join(fwd) + "\n\n\n" + "\n".join(bwd) + "\n"
    namespace: dict[str, Any] = {
        **{f"_torch_{name}": _torch(name) for name, _ in _UNARY.values()},
        "_torch_pow": _torch("pow"),
        "_torch_sqrt": _torch("sqrt"),
        "np": np,
        "_max": _smooth_max,
        "_min": _smooth_min,
        "_max_d": _max_d,
        "_min_d": _min_d,
    }
    exec(compile(source, "<hybridwm.physics adjoint>", "exec"), namespace)
    return _Pair(namespace["_forward"], namespace["_backward"], source)


def _names(line: str) -> list[str]:
    """The value names a generated line reads (right of its ``=``)."""
    rhs = line.split("=", 1)[1]
    out, word = [], ""
    for ch in rhs + " ":
        if ch.isalnum() or ch == "_":
            word += ch
            continue
        if word.startswith("_"):
            out.append(word)
        word = ""
    return out


# ---------------------------------------------------------------- min / max as torch runs them
def _sharpness(k: float | None, smooth: tuple[bool, float | None]) -> float | None:
    """The sharpness a ``min``/``max`` call runs with (None: exact), as
    :func:`~hybridwm.physics.saturation.torch_binary` decides it."""
    enabled, default = smooth
    return (k if k is not None else default) if enabled else None


def _softplus(z: Any) -> Any:
    """torch's ``softplus``, as :func:`~hybridwm.physics.saturation.torch_binary` calls it."""
    return torch.nn.functional.softplus(torch.from_numpy(np.asarray(z))).numpy()


def _softplus_slope(z: Any) -> Any:
    """The derivative of :func:`_softplus` as torch has it: ``sigmoid(z)``, and 1 above the
    threshold 20 where softplus is ``z`` itself."""
    return np.where(z > 20.0, 1.0, expit(z)).astype(np.result_type(z), copy=False)


def _smooth_max(a: Any, b: Any, k: float | None, smooth: tuple[bool, float | None]) -> Any:
    sharp = _sharpness(k, smooth)
    return np.maximum(a, b) if sharp is None else b + _softplus(sharp * (a - b)) / sharp


def _smooth_min(a: Any, b: Any, k: float | None, smooth: tuple[bool, float | None]) -> Any:
    sharp = _sharpness(k, smooth)
    return np.minimum(a, b) if sharp is None else a - _softplus(sharp * (a - b)) / sharp


def _exact_weights(a: Any, b: Any) -> tuple[Any, Any]:
    """The derivatives of the exact ``max(a, b)`` in ``a`` and in ``b``, as ``torch.maximum``
    has them (half to each on a tie)."""
    wa = np.where(a > b, 1.0, np.where(a == b, 0.5, 0.0)).astype(np.result_type(a, b))
    return wa, 1.0 - wa


def _max_d(a: Any, b: Any, k: float | None, smooth: tuple[bool, float | None]) -> tuple:
    """``max(a, b)`` and its derivatives in ``a`` and ``b``."""
    sharp = _sharpness(k, smooth)
    if sharp is None:
        return np.maximum(a, b), _exact_weights(a, b)
    z = sharp * (a - b)
    wa = _softplus_slope(z)
    return b + _softplus(z) / sharp, (wa, 1.0 - wa)


def _min_d(a: Any, b: Any, k: float | None, smooth: tuple[bool, float | None]) -> tuple:
    """``min(a, b)`` and its derivatives in ``a`` and ``b``."""
    sharp = _sharpness(k, smooth)
    if sharp is None:
        wa, wb = _exact_weights(a, b)
        return np.minimum(a, b), (wb, wa)
    z = sharp * (a - b)
    wb = _softplus_slope(z)
    return a - _softplus(z) / sharp, (1.0 - wb, wb)


# ---------------------------------------------------------------- the autograd node
class _AdjointFeatures(torch.autograd.Function):
    """The features and their gradient by the generated numpy code (see the module)."""

    @staticmethod
    def forward(ctx: Any, evaluate: Any, program: AdjointProgram, x: Any, u: Any, q: Any) -> Any:
        pair = program.pair(ctx.needs_input_grad[2:])
        smooth = saturation_state()
        with np.errstate(all="ignore"):  # inf and nan pass silently, as in torch
            features, saved = pair.forward(*(t.detach().numpy() for t in (x, u, q)), smooth)
        ctx.evaluate, ctx.pair, ctx.smooth, ctx.numpy_saved = evaluate, pair, smooth, saved
        ctx.save_for_backward(x, u, q)
        return torch.from_numpy(features)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> Any:
        x, u, q = ctx.saved_tensors
        needs = ctx.needs_input_grad[2:]
        if torch.is_grad_enabled():  # a graph of the gradient: differentiate the torch code
            inputs = [t for t, need in zip((x, u, q), needs, strict=True) if need]
            with torch.enable_grad(), smooth_saturation(ctx.smooth[1], enabled=ctx.smooth[0]):
                out = ctx.evaluate(x, u, q)
                grads = iter(
                    torch.autograd.grad(out, inputs, grad, create_graph=True, allow_unused=True)
                )
            return None, None, *(next(grads) if need else None for need in needs)
        with np.errstate(all="ignore"):
            arrays = ctx.pair.backward(grad.detach().numpy(), ctx.numpy_saved, ctx.smooth)
        out = []
        for t, g in zip((x, u, q), arrays, strict=True):
            g = None if g is None else torch.from_numpy(g).to(t.dtype)
            out.append(None if g is None else g.sum_to_size(t.shape))
        return None, None, *out


def features_with_adjoint(
    evaluate: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    program: AdjointProgram | None,
    x: torch.Tensor,
    u: torch.Tensor,
    q: torch.Tensor,
) -> torch.Tensor:
    """The (..., n_out) features ``evaluate(x, u, q)`` at states ``x`` (..., n_x), actions ``u``
    (..., n_u) and hoisted terms ``q`` (n_q,), computed by ``program``'s numpy code as one
    autograd node where that is faster: a gradient is recorded, the program is large enough
    (:data:`MIN_NODES`), the tensors are float32/float64 on the CPU, the batch has at most
    :data:`MAX_ROWS` rows, and no ``torch.func`` transform is active. Otherwise the torch code
    ``evaluate`` runs and records its own graph. The choice depends on the program and the
    tensors alone, never on timing, so a fit's numbers do not depend on the machine's load."""
    if (
        program is None
        or program.graph_nodes < MIN_NODES
        or not torch.is_grad_enabled()
        or not (x.requires_grad or u.requires_grad or q.requires_grad)
        or any(t.device.type != "cpu" or t.dtype != x.dtype for t in (x, u, q))
        or x.dtype not in (torch.float32, torch.float64)
        or x.numel() > MAX_ROWS * max(x.shape[-1], 1)
        or transform_active()
    ):
        return evaluate(x, u, q)
    return _AdjointFeatures.apply(evaluate, program, x, u, q)  # type: ignore[no-any-return]
