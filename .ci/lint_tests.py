"""Refuse tests that cannot fail (run by ``make test`` before pytest).

Three faults, found with :mod:`ast` in every ``*.py`` under the given directories
(default ``tests``):

* an ``assert`` whose test is a constant (``assert True``, ``assert "x"``), a non-empty
  tuple (``assert (a, "message")``: always true) or a conditional with a constant true
  branch (``assert a if c else True``: the check runs only when ``c`` holds);
* a bare ``except:`` whose body is only ``pass`` (an error swallowed unseen);
* a test function (``test_*``) with no explicit check: no ``assert``, no
  ``pytest.raises``/``warns``/``fail``, no ``assert_*`` call (``np.testing``, pandas), and
  no call of a helper function of the suite that itself checks.

Prints one line per fault (``path:line: what``) and exits 1 if there is any.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

CHECK_CALLS = {"raises", "warns", "fail", "deprecated_call", "approx_equal"}


def _always_true(node: ast.expr) -> bool:
    """A test expression that holds whatever the code under test does."""
    if isinstance(node, ast.Constant):
        return bool(node.value)
    if isinstance(node, ast.Tuple | ast.List | ast.Set | ast.Dict):
        return len(getattr(node, "elts", getattr(node, "keys", []))) > 0
    if isinstance(node, ast.IfExp):
        return _always_true(node.body) or _always_true(node.orelse)
    return False


def _call_name(call: ast.Call) -> str:
    f = call.func
    if isinstance(f, ast.Name):
        return f.id
    if isinstance(f, ast.Attribute):
        return f.attr
    return ""


def _has_direct_check(fn: ast.AST) -> bool:
    for node in ast.walk(fn):
        if isinstance(node, ast.Assert):
            return True
        if isinstance(node, ast.Raise) and node.exc is not None:  # raise AssertionError(...)
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id == "AssertionError":
                return True
        if isinstance(node, ast.Call):
            name = _call_name(node)
            if name in CHECK_CALLS or name.startswith("assert"):
                return True
    return False


def _functions(tree: ast.AST) -> list[ast.FunctionDef | ast.AsyncFunctionDef]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]


def _checking_helpers(trees: dict[Path, ast.AST]) -> set[str]:
    """Names of the suite's non-test functions that check (directly, or through another)."""
    defs: dict[str, list[ast.AST]] = {}
    for tree in trees.values():
        for fn in _functions(tree):
            if not fn.name.startswith("test_"):
                defs.setdefault(fn.name, []).append(fn)
    checking = {name for name, fns in defs.items() if any(_has_direct_check(f) for f in fns)}
    changed = True
    while changed:  # helpers that call checking helpers check too
        changed = False
        for name, fns in defs.items():
            if name in checking:
                continue
            for fn in fns:
                calls = {_call_name(c) for c in ast.walk(fn) if isinstance(c, ast.Call)}
                if calls & checking:
                    checking.add(name)
                    changed = True
                    break
    return checking


def lint(paths: list[Path]) -> list[str]:
    """Every fault in the files under ``paths``, as ``path:line: message``."""
    files = sorted(p for root in paths for p in (root.rglob("*.py") if root.is_dir() else [root]))
    trees = {p: ast.parse(p.read_text(), filename=str(p)) for p in files}
    helpers = _checking_helpers(trees)
    faults = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Assert) and _always_true(node.test):
                faults.append(f"{path}:{node.lineno}: assert of a constant (always true)")
            if (
                isinstance(node, ast.ExceptHandler)
                and node.type is None
                and all(isinstance(s, ast.Pass) for s in node.body)
            ):
                faults.append(f"{path}:{node.lineno}: bare 'except: pass' swallows every error")
        for fn in _functions(tree):
            if not fn.name.startswith("test_") or _has_direct_check(fn):
                continue
            calls = {_call_name(c) for c in ast.walk(fn) if isinstance(c, ast.Call)}
            if not calls & helpers:
                faults.append(f"{path}:{fn.lineno}: {fn.name} checks nothing (no assert)")
    return faults


def main(argv: list[str]) -> int:
    faults = lint([Path(a) for a in argv] or [Path("tests")])
    for f in faults:
        print(f)
    if faults:
        print(f"lint_tests: {len(faults)} test(s) that cannot fail", file=sys.stderr)
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
