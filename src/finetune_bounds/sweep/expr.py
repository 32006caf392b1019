"""A tiny, safe arithmetic evaluator for the ``[derived]`` table of a sweep config.

Expressions are parsed with :mod:`ast` and walked node by node; only numbers, names of cell
values, ``+ - * / // % **``, unary ``+ -`` and calls of :data:`FUNCTIONS` are accepted. Nothing
is ever passed to :func:`eval`, attributes and subscripts are refused, and exponents are bounded
so that an expression cannot hang the process.

Limits (so that a config cannot exhaust time or memory): an expression is at most
``_MAX_LENGTH`` = 500 characters and ``MAX_DEPTH`` = 50 syntax-tree levels deep; exponents are at
most 1024 in absolute value; every value an expression produces — intermediate or final — has at
most ``_MAX_INT_BITS`` = 4096 bits (integers) or ``MAX_SIZE`` = 10 000 characters / elements
(strings, lists), checked *before* the value is built; ``%`` on a string (formatting) is refused.
Error messages show values through :func:`short_repr` (at most ~80 characters).
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_SIZE",
    "ExpressionError",
    "evaluate",
    "parse",
    "referenced_names",
    "short_repr",
]

#: functions a derived expression may call
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "round": round,
    "min": min,
    "max": max,
    "int": int,
    "float": float,
    "abs": abs,
}

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}

_MAX_EXPONENT = 1024
_MAX_LENGTH = 500
_MAX_INT_BITS = 4096
#: most characters of a string / elements of a list an expression may produce
MAX_SIZE = 10_000
#: deepest syntax tree (nesting of operators and calls) an expression may have
MAX_DEPTH = 50
_REPR_WIDTH = 80


def short_repr(value: Any, width: int = _REPR_WIDTH) -> str:
    """``repr(value)`` cut to about ``width`` characters (with "…"), cheap for huge values."""
    if isinstance(value, str | bytes) and len(value) > 4 * width:
        value = value[: 4 * width]  # repr of a huge string would copy it all
        text = repr(value)
        return text[: width - 1] + "…"
    if isinstance(value, list | tuple) and len(value) > width:
        text = repr(type(value)(value[:width]))
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 4 * width:
        return f"<integer of {value.bit_length()} bits>"
    else:
        text = repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def short_text(text: str, width: int = 4 * _REPR_WIDTH) -> str:
    """``text`` on one line, cut to ``width`` characters (with "…")."""
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


class ExpressionError(ValueError):
    """An expression is not allowed or cannot be evaluated (message says why)."""


def parse(text: str) -> ast.Expression:
    """Parse and check an expression; raise :class:`ExpressionError` on anything not allowed."""
    if not isinstance(text, str):
        raise ExpressionError(f"expected a string expression, got {type(text).__name__}")
    if len(text) > _MAX_LENGTH:
        raise ExpressionError(f"expression longer than {_MAX_LENGTH} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"syntax error in {short_repr(text)}: {exc.msg}") from None
    except (RecursionError, MemoryError):
        raise ExpressionError(f"expression nested too deeply (limit {MAX_DEPTH} levels)") from None
    try:
        _check(tree.body)
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise ExpressionError(f"expression nested too deeply (limit {MAX_DEPTH} levels)") from None
    return tree


def _check(node: ast.AST, depth: int = 1) -> None:
    if depth > MAX_DEPTH:
        raise ExpressionError(f"expression nested too deeply (more than {MAX_DEPTH} levels)")
    depth += 1
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ExpressionError(
                f"only numeric constants are allowed, got {short_repr(node.value)}"
            )
    elif isinstance(node, ast.Name):
        pass
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS:
            raise ExpressionError(f"operator {type(node.op).__name__} is not allowed")
        _check(node.left, depth)
        _check(node.right, depth)
    elif isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY:
            raise ExpressionError(f"operator {type(node.op).__name__} is not allowed")
        _check(node.operand, depth)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise ExpressionError(f"only the functions {sorted(FUNCTIONS)} may be called")
        if node.keywords:
            raise ExpressionError(f"{node.func.id}() takes no keyword arguments here")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise ExpressionError("starred arguments are not allowed")
            _check(arg, depth)
    else:
        raise ExpressionError(f"{type(node).__name__} is not allowed in a derived expression")


def referenced_names(tree: ast.Expression) -> set[str]:
    """Names of cell values an expression reads (function names excluded)."""
    calls = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in calls}


def evaluate(tree: ast.Expression | str, names: Mapping[str, Any]) -> int | float:
    """Evaluate a checked expression with ``names`` bound to cell values.

    Returns an ``int`` or a finite ``float``; raises :class:`ExpressionError` on an unknown name,
    division by zero, an oversized exponent, a non-numeric or non-finite result.
    """
    if isinstance(tree, str):
        tree = parse(tree)
    try:
        out = _eval(tree.body, names)
    except ExpressionError:
        raise
    except RecursionError:
        raise ExpressionError(f"expression nested too deeply (limit {MAX_DEPTH} levels)") from None
    except MemoryError:
        raise ExpressionError("out of memory while evaluating the expression") from None
    except (ArithmeticError, TypeError, ValueError) as exc:
        raise ExpressionError(f"{type(exc).__name__}: {short_text(str(exc))}") from None
    if isinstance(out, bool) or not isinstance(out, int | float):
        raise ExpressionError(f"result is not a number: {short_repr(out)}")
    if isinstance(out, float) and not math.isfinite(out):
        raise ExpressionError(f"result is not finite: {out!r}")
    return out


def _size(value: Any) -> int | None:
    """Length of a sized value (string, list …), None for a number."""
    if isinstance(value, str | bytes | list | tuple | dict | set | frozenset):
        return len(value)
    return None


def _as_count(value: Any) -> int | None:
    """``value`` as a repetition count (an int or bool), None otherwise."""
    return int(value) if isinstance(value, int) else None


def _check_binop(op: ast.operator, left: Any, right: Any) -> None:
    """Refuse an operation whose result would be too large, before computing it."""
    ls, rs = _size(left), _size(right)
    if isinstance(op, ast.Mult):
        for seq, count in ((ls, _as_count(right)), (rs, _as_count(left))):
            if seq is not None and count is not None and seq * count > MAX_SIZE:
                raise ExpressionError(
                    f"result too large: {seq} × {count} elements (limit {MAX_SIZE})"
                )
        if isinstance(left, int) and isinstance(right, int):
            bits = left.bit_length() + right.bit_length()
            if bits > _MAX_INT_BITS + 1:
                raise ExpressionError(f"integer result too large (~{bits} bits)")
    elif isinstance(op, ast.Add):
        if ls is not None and rs is not None and ls + rs > MAX_SIZE:
            raise ExpressionError(f"result too large: {ls} + {rs} elements (limit {MAX_SIZE})")
    elif isinstance(op, ast.Mod):
        if isinstance(left, str | bytes):
            raise ExpressionError("string formatting (str % ...) is not allowed")
    elif isinstance(op, ast.Pow):
        if isinstance(right, int | float) and abs(right) > _MAX_EXPONENT:
            raise ExpressionError(
                f"exponent {short_repr(right)} is too large (limit {_MAX_EXPONENT})"
            )
        if isinstance(left, int) and isinstance(right, int) and right > 0:
            bits = max(left.bit_length() - 1, 0) * right
            if bits > _MAX_INT_BITS:
                raise ExpressionError(f"integer result too large (~{bits} bits)")


def _check_value(value: Any) -> Any:
    """Refuse a produced value that is too large (a call's result, a name's value …)."""
    if isinstance(value, int) and value.bit_length() > _MAX_INT_BITS:
        raise ExpressionError(f"integer result too large ({value.bit_length()} bits)")
    size = _size(value)
    if size is not None and size > MAX_SIZE:
        raise ExpressionError(f"value too large: {size} elements (limit {MAX_SIZE})")
    return value


def _eval(node: ast.AST, names: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in names:
            known = short_text(str(sorted(names)))
            raise ExpressionError(f"unknown name {short_repr(node.id)}; known: {known}")
        return names[node.id]
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, names), _eval(node.right, names)
        _check_binop(node.op, left, right)
        return _check_value(_BINOPS[type(node.op)](left, right))
    if isinstance(node, ast.UnaryOp):
        return _check_value(_UNARY[type(node.op)](_eval(node.operand, names)))
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        args = [_eval(a, names) for a in node.args]
        return _check_value(FUNCTIONS[node.func.id](*args))
    raise ExpressionError(f"{type(node).__name__} is not allowed")  # pragma: no cover (checked)
