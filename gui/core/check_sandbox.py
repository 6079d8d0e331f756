"""The checks that can run away, evaluated in a worker process: ``python`` expressions and
regexes.

A ``python`` check is an expression over ``output`` and the row's variables, for example
``len(output.split()) < 50 and topic in output``. It is made safe in layers:

1. :func:`validate_expression` parses it with :mod:`ast` and allows only a whitelist of
   nodes: no statements (so no ``import``), no lambdas, no f-strings, no walrus; a name is
   ``output``, a row variable, a comprehension's own name or one of :data:`SAFE_FUNCTIONS`;
   an attribute is one of :data:`SAFE_METHODS` (plain data methods: no ``format``, whose
   ``{0.__class__}`` reaches attributes, no ``_``-names); a call calls one of those.
2. Repetition, powers and shifts go through guards that refuse a result larger than
   :data:`MAX_ITEMS` items or :data:`MAX_INT_BITS` bits (``'a' * 10**10``, ``9**9**9``) before
   it is computed.
3. The expression is evaluated with an empty ``__builtins__`` in a separate process (this
   module's :func:`main`, started by :mod:`gui.core.checking`) whose address space is capped
   and which is killed when one check takes longer than the time limit (the cell's other
   checks then go on in a fresh worker). A regex runs
   there too: Python's ``re`` holds the GIL while it backtracks, so a pathological pattern in
   the app's own process would freeze the window.
"""

from __future__ import annotations

import ast
import json
import re
import reprlib
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any

from gui.core.templates import suggest_name

#: Functions a python check may call.
SAFE_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len,
    "min": min,
    "max": max,
    "sum": sum,
    "abs": abs,
    "any": any,
    "all": all,
    "sorted": sorted,
    "round": round,
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "list": list,
    "set": set,
    "tuple": tuple,
}
#: Methods (of str, list, dict) a python check may use.
SAFE_METHODS = frozenset(
    """lower upper strip lstrip rstrip split rsplit splitlines startswith endswith count find
    rfind index rindex replace isdigit isalpha isalnum isspace isupper islower istitle title
    capitalize casefold join partition rpartition removeprefix removesuffix get keys values
    items""".split()
)
#: Names that would reach the file system, the network or the interpreter: refused with a
#: message saying so (rather than "unknown name").
FORBIDDEN_NAMES = frozenset(
    """open exec eval compile __import__ getattr setattr delattr globals locals vars dir
    input breakpoint help exit quit memoryview type object super classmethod staticmethod
    property""".split()
)
#: Largest string, list or tuple a repetition may make.
MAX_ITEMS = 10_000_000
#: Largest integer (in bits) a power or shift may make.
MAX_INT_BITS = 100_000
#: Seconds one regex or python check may take on one answer before the worker is killed.
TIME_LIMIT_S = 2.0
#: Address space of the worker process (bytes), where the platform can cap it.
MEMORY_LIMIT = 1 << 30

_ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Pow,
    ast.LShift,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
    ast.IfExp,
    ast.Call,
    ast.keyword,
    ast.Name,
    ast.Load,
    ast.Store,
    ast.Constant,
    ast.Attribute,
    ast.Subscript,
    ast.Slice,
    ast.Tuple,
    ast.List,
    ast.Set,
    ast.Dict,
    ast.ListComp,
    ast.SetComp,
    ast.GeneratorExp,
    ast.DictComp,
    ast.comprehension,
)
_WHAT = {
    ast.Lambda: "lambda",
    ast.JoinedStr: "an f-string (use + to join text)",
    ast.NamedExpr: "the := operator",
    ast.Starred: "* unpacking",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}
_GUARDS = {ast.Mult: "_fanout_mul", ast.Pow: "_fanout_pow", ast.LShift: "_fanout_lshift"}


class SandboxError(ValueError):
    """A python check that is not allowed or not valid; ``str()`` says why and the fix."""


def validate_expression(expr: str, variables: Sequence[str] | None = None) -> ast.Expression:
    """Parse and whitelist a python check, returning its tree with the size guards in.

    Args:
        expr: The expression.
        variables: The row's variables (``None``: any name that is not a function is taken
            for one, e.g. before a template exists).

    Raises:
        SandboxError: a syntax error (with the position), a construct, name, attribute or
            call that is not allowed (unknown names get the close one offered).
    """
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as exc:
        where = f" at position {exc.offset}" if exc.offset else ""
        raise SandboxError(
            f"not a Python expression{where}: {exc.msg}. Write one expression, e.g. "
            "len(output) < 500 (statements such as import are not allowed)."
        ) from None
    bound = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.comprehension)
        for target in ast.walk(node.target)
        if isinstance(target, ast.Name)
    }
    known = {"output", *SAFE_FUNCTIONS, *bound, *(variables or ())}
    # Forbidden constructs, then names: "open is not available" says more than the
    # attribute or call around it.
    nodes = sorted(
        ast.walk(tree),
        key=lambda n: (isinstance(n, _ALLOWED_NODES), not isinstance(n, ast.Name)),
    )
    for node in nodes:
        if not isinstance(node, _ALLOWED_NODES):
            what = _WHAT.get(type(node), type(node).__name__)
            raise SandboxError(f"{what} is not allowed in a python check.")
        if isinstance(node, ast.Name):
            _check_name(node.id, known, variables)
        elif isinstance(node, ast.Attribute):
            if node.attr.startswith("_") or node.attr not in SAFE_METHODS:
                raise SandboxError(
                    f"attribute .{node.attr} is not allowed in a python check; text methods "
                    "such as .lower(), .split(), .count() are."
                )
        elif isinstance(node, ast.Call):
            func = node.func
            if not isinstance(func, ast.Name | ast.Attribute):
                raise SandboxError("only named functions and methods can be called in a check.")
            if isinstance(func, ast.Name):
                _check_name(func.id, set(SAFE_FUNCTIONS), None)
            if isinstance(func, ast.Name) and func.id not in SAFE_FUNCTIONS:
                raise SandboxError(
                    f"{func.id}() cannot be called in a python check. Functions: "
                    f"{', '.join(SAFE_FUNCTIONS)}."
                )
        elif isinstance(node, ast.keyword) and (node.arg is None or node.arg.startswith("_")):
            raise SandboxError("** arguments are not allowed in a python check.")
    guarded: ast.Expression = _Guard().visit(tree)
    return ast.fix_missing_locations(guarded)


def _check_name(name: str, known: set[str], variables: Sequence[str] | None) -> None:
    if name.startswith("_") or name in FORBIDDEN_NAMES:
        raise SandboxError(
            f"{name} is not available in a python check: it has no access to files, the "
            "network, modules or the interpreter."
        )
    if name in known or variables is None:
        return
    guess = suggest_name(name, sorted(known - set(SAFE_FUNCTIONS)))
    hint = f"Did you mean {guess}? " if guess else ""
    names = ", ".join(["output", *variables])
    raise SandboxError(f"unknown name {name!r}. {hint}Names: {names}.")


class _Guard(ast.NodeTransformer):
    """Turns ``a * b``, ``a ** b`` and ``a << b`` into calls of the size guards."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        guard = _GUARDS.get(type(node.op))
        if guard is None:
            return node
        return ast.copy_location(
            ast.Call(ast.Name(guard, ast.Load()), [node.left, node.right], []), node
        )


def _mul(a: Any, b: Any) -> Any:
    for seq, n in ((a, b), (b, a)):
        if isinstance(seq, str | list | tuple | bytes) and isinstance(n, int):
            if len(seq) * max(n, 0) > MAX_ITEMS:
                raise OverflowError(f"repetition too large (over {MAX_ITEMS:,} items)")
    return a * b


def _int_bits(value: Any) -> int:
    return abs(value).bit_length() if isinstance(value, int) else 0


def _pow(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1:
        if _int_bits(a) * b > MAX_INT_BITS:
            raise OverflowError(f"power too large (over {MAX_INT_BITS:,} bits)")
    return a**b


def _lshift(a: Any, b: Any) -> Any:
    if isinstance(b, int) and _int_bits(a) + b > MAX_INT_BITS:
        raise OverflowError(f"shift too large (over {MAX_INT_BITS:,} bits)")
    return a << b


_GUARD_FUNCTIONS = {"_fanout_mul": _mul, "_fanout_pow": _pow, "_fanout_lshift": _lshift}
_REPR = reprlib.Repr()
_REPR.maxstring = 80
_REPR.maxother = 80
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxdict = 8


@lru_cache(maxsize=256)
def _compiled(expr: str) -> Any:
    return compile(validate_expression(expr), "<check>", "eval")


def evaluate_expression(expr: str, output: str, row: Mapping[str, str]) -> tuple[bool, str]:
    """Pass and the expression's value (bounded repr) for one answer; an error fails it.

    Call only in the worker process (:func:`main`): the time and memory limits live there.
    """
    try:
        code = _compiled(expr)
    except SandboxError as exc:
        return False, f"not allowed: {exc}"
    namespace: dict[str, Any] = {"__builtins__": {}, **SAFE_FUNCTIONS, **_GUARD_FUNCTIONS}
    namespace.update({k: v for k, v in row.items() if not k.startswith("_")})
    namespace["output"] = output
    try:
        value = eval(code, namespace)  # whitelisted tree, no builtins, own process
        passed = bool(value)
    except Exception as exc:  # the expression's own error fails the check, with the reason
        return False, f"error: {type(exc).__name__}: {exc}"
    return passed, f"value {_REPR.repr(value)}"


def evaluate_regex(pattern: str, flags: int, output: str) -> tuple[bool, str]:
    """Whether ``pattern`` matches somewhere in ``output``, and where or that it missed."""
    found = re.search(pattern, output, flags)
    if found is None:
        return False, f"no match for /{pattern}/"
    text = _REPR.repr(found.group(0))
    return True, f"/{pattern}/ matched {text} at {found.start()}"


def evaluate_request(request: Mapping[str, Any]) -> Iterator[tuple[bool, str]]:
    """The results of one cell's worker checks (``items`` of regex or python checks), one
    at a time: the worker replies to each as it ends, so a runaway check is known by name."""
    output = str(request.get("output", ""))
    row = {str(k): str(v) for k, v in (request.get("row") or {}).items()}
    for item in request.get("items", ()):
        try:
            if item.get("kind") == "regex":
                yield evaluate_regex(item["pattern"], int(item["flags"]), output)
            else:
                yield evaluate_expression(item["expr"], output, row)
        except MemoryError:
            yield False, "error: the check used too much memory"
        except Exception as exc:  # one bad item fails only itself
            yield False, f"error: {type(exc).__name__}: {exc}"


def _limit_memory() -> None:
    try:
        import resource
    except ImportError:  # Windows: the time limit still ends a runaway
        return
    try:
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = MEMORY_LIMIT if hard == resource.RLIM_INFINITY else min(MEMORY_LIMIT, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ValueError, OSError):
        pass


def main() -> None:
    """The worker: one JSON request per line on stdin; on stdout, one JSON line per item of
    the request (``{"result": [passed, detail]}``) as soon as that item ends, or one
    ``{"error": ...}`` line for a request that cannot be read."""
    _limit_memory()
    stdin = sys.stdin
    stdout = sys.stdout
    # Ready: the client's time limit counts from here, never the interpreter's start-up.
    stdout.write(json.dumps({"ready": True}) + "\n")
    stdout.flush()
    for line in stdin:
        try:
            request = json.loads(line)
        except Exception as exc:  # a broken request must not end the worker
            stdout.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
            stdout.flush()
            continue
        for result in evaluate_request(request):
            stdout.write(json.dumps({"result": result}) + "\n")
            stdout.flush()


if __name__ == "__main__":
    main()
