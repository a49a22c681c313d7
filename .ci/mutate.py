"""A small mutation run: flip comparisons in a module, run its tests, count the survivors.

    .venv/bin/python .ci/mutate.py dsa110_ws/core/severity.py tests/core/test_severity.py
    .venv/bin/python .ci/mutate.py MODULE TESTS... [--only 3,7] [--list] [--keep DIR]

Each comparison operator of MODULE gives up to two mutants: its negation (``<`` -> ``>=``,
``==`` -> ``!=``, ``in`` -> ``not in``, ``is`` -> ``is not``) and, for an ordering, its
boundary twin (``<`` <-> ``<=``, ``>`` <-> ``>=``).  Each mutant is written into a private
copy of the package (the checkout is never edited), put first on ``PYTHONPATH``, and the
TESTS run against it (``pytest -x``); a mutant is killed when they fail.  Prints one line
per mutant and the score (killed / total); ``--list`` only lists the mutants.
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NEGATE = {
    ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt,
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}  # fmt: skip
BOUNDARY = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt}
SYMBOL = {
    ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
    ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not",
}  # fmt: skip


def mutants(source: str) -> list[tuple[int, int, int, type, str]]:
    """(compare index, op index, line, new op, description) for every mutant of ``source``."""
    out = []
    compares = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Compare)]
    for i, node in enumerate(compares):
        for j, op in enumerate(node.ops):
            for table in (NEGATE, BOUNDARY):
                new = table.get(type(op))
                if new is not None:
                    desc = f"line {node.lineno}: {SYMBOL[type(op)]} -> {SYMBOL[new]}"
                    out.append((i, j, node.lineno, new, desc))
    return out


def apply(source: str, compare: int, op: int, new: type) -> str:
    tree = ast.parse(source)
    compares = [n for n in ast.walk(tree) if isinstance(n, ast.Compare)]
    compares[compare].ops[op] = new()
    return ast.unparse(tree)


def run(module: Path, tests: list[str], only: set[int] | None, keep: Path | None) -> int:
    source = module.read_text()
    todo = mutants(source)
    base = Path(keep or tempfile.mkdtemp(prefix="dsa110-mutate-"))
    pkg = base / "dsa110_ws"
    if pkg.exists():
        shutil.rmtree(pkg)
    skip = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "dsa110_ws", pkg, ignore=skip)
    # what the editable install maps into the package (see pyproject.toml)
    shutil.copytree(ROOT / "notebooks" / "dashboards", pkg / "dashboards", ignore=skip)
    shutil.copytree(ROOT / "reports", pkg / "report_templates", ignore=skip)
    target = pkg / module.resolve().relative_to(ROOT / "dsa110_ws")
    env = dict(os.environ, PYTHONPATH=f"{base}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    killed = total = 0
    survivors = []
    try:
        for k, (ci, oi, _line, new, desc) in enumerate(todo):
            if only is not None and k not in only:
                continue
            target.write_text(apply(source, ci, oi, new))
            # run from the copy's directory: ``python -m`` puts the working directory
            # first on sys.path, so the checkout's own package must not be it
            res = subprocess.run(
                [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                 "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT),
                 *[str((ROOT / t).resolve()) for t in tests]],
                cwd=base, env=env, capture_output=True, text=True,
            )  # fmt: skip
            total += 1
            dead = res.returncode != 0
            killed += dead
            if not dead:
                survivors.append(f"#{k} {desc}")
            last = (res.stdout.strip().splitlines() or ["(no output)"])[-1]
            print(f"#{k:<3} {desc:<32} {'killed' if dead else 'SURVIVED'}  ({last})", flush=True)
    finally:
        if keep is None:
            shutil.rmtree(base, ignore_errors=True)
    score = killed / total if total else float("nan")
    print(f"\n{module}: {killed}/{total} mutants killed ({score:.0%})")
    for s in survivors:
        print(f"  survived: {s}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("module", type=Path)
    ap.add_argument("tests", nargs="*")
    ap.add_argument("--only", default=None, help="comma-separated mutant numbers")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--keep", type=Path, default=None)
    args = ap.parse_args()
    if args.list:
        for k, m in enumerate(mutants(args.module.read_text())):
            print(f"#{k:<3} {m[4]}")
        return 0
    only = None if args.only is None else {int(x) for x in args.only.split(",")}
    return run(args.module, args.tests, only, args.keep)


if __name__ == "__main__":
    sys.exit(main())
