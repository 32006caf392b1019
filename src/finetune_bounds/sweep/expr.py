"""A tiny, safe arithmetic evaluator for the ``[derived]`` table of a sweep config.

Expressions are parsed with :mod:`ast` and walked node by node; only numbers, names of cell
values, ``+ - * / // % **``, unary ``+ -`` and calls of :data:`FUNCTIONS` are accepted. Nothing
is ever passed to :func:`eval`, attributes and subscripts are refused, and exponents are bounded
so that an expression cannot hang the process.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["FUNCTIONS", "ExpressionError", "evaluate", "parse", "referenced_names"]

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
        raise ExpressionError(f"syntax error in {text!r}: {exc.msg}") from None
    _check(tree.body)
    return tree


def _check(node: ast.AST) -> None:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ExpressionError(f"only numeric constants are allowed, got {node.value!r}")
    elif isinstance(node, ast.Name):
        pass
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS:
            raise ExpressionError(f"operator {type(node.op).__name__} is not allowed")
        _check(node.left)
        _check(node.right)
    elif isinstance(node, ast.UnaryOp):
        if type(node.op) not in _UNARY:
            raise ExpressionError(f"operator {type(node.op).__name__} is not allowed")
        _check(node.operand)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise ExpressionError(f"only the functions {sorted(FUNCTIONS)} may be called")
        if node.keywords:
            raise ExpressionError(f"{node.func.id}() takes no keyword arguments here")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise ExpressionError("starred arguments are not allowed")
            _check(arg)
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
    except (ArithmeticError, TypeError, ValueError) as exc:
        raise ExpressionError(f"{type(exc).__name__}: {exc}") from None
    if isinstance(out, bool) or not isinstance(out, int | float):
        raise ExpressionError(f"result is not a number: {out!r}")
    if isinstance(out, float) and not math.isfinite(out):
        raise ExpressionError(f"result is not finite: {out!r}")
    return out


def _eval(node: ast.AST, names: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in names:
            raise ExpressionError(f"unknown name {node.id!r}; known: {sorted(names)}")
        return names[node.id]
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, names), _eval(node.right, names)
        big = isinstance(right, int | float) and abs(right) > _MAX_EXPONENT
        if isinstance(node.op, ast.Pow) and big:
            raise ExpressionError(f"exponent {right!r} is too large (limit {_MAX_EXPONENT})")
        out = _BINOPS[type(node.op)](left, right)
        if isinstance(out, int) and out.bit_length() > _MAX_INT_BITS:
            raise ExpressionError(f"integer result too large ({out.bit_length()} bits)")
        return out
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_eval(node.operand, names))
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        return FUNCTIONS[node.func.id](*(_eval(a, names) for a in node.args))
    raise ExpressionError(f"{type(node).__name__} is not allowed")  # pragma: no cover (checked)
