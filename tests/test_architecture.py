"""The house rules of docs/architecture.md, checked on the code's own imports.

* Layers: a module imports only its own layer and the layers below it.
* Privacy: a name that is private to a package (a ``_module`` or a ``_name``) is imported
  only from inside that package; the domain packages of ``services`` are separate packages.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import dsa110_ws

ROOT = Path(dsa110_ws.__file__).parent

#: Lowest first; a module may import modules of its own layer and of the layers below.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("dsa110_ws.errors", "dsa110_ws.models"),
    ("dsa110_ws.core",),
    ("dsa110_ws.config",),
    ("dsa110_ws.repositories", "dsa110_ws.demo"),
    ("dsa110_ws.services",),
    ("dsa110_ws.workspace",),
    ("dsa110_ws.panels",),
    ("dsa110_ws.reporting",),
    ("dsa110_ws.cli", "dsa110_ws.__main__"),
)
#: Packages whose private names stay inside them (the domain packages are separate).
UNITS = (
    "dsa110_ws.services.products",
    "dsa110_ws.services.sources",
    "dsa110_ws.services.operations",
    "dsa110_ws.services",
    "dsa110_ws.repositories",
    "dsa110_ws.core",
    "dsa110_ws.panels",
    "dsa110_ws.reporting",
    "dsa110_ws.cli",
    "dsa110_ws.demo",
)


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, here: str | None = None) -> list[tuple[str, str | None, int]]:
    """(module, imported name or None, line) for every ``dsa110_ws`` import, anywhere in
    the file (function-level imports included); ``here`` is the file's module name."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = here or _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            out += [(base, a.name, node.lineno) for a in node.names]
    return [(m, n, ln) for m, n, ln in out if m == "dsa110_ws" or m.startswith("dsa110_ws.")]


def _layer(module: str) -> int | None:
    for rank, names in enumerate(LAYERS):
        if any(module == n or module.startswith(n + ".") for n in names):
            return rank
    return None


def _unit(module: str) -> str:
    return next((u for u in UNITS if module == u or module.startswith(u + ".")), module)


def _private(module: str, name: str | None) -> bool:
    parts = module.split(".")[1:]
    return any(p.startswith("_") and p != "__init__" for p in parts) or bool(
        name and name.startswith("_") and not name.startswith("__")
    )


SOURCES = sorted(ROOT.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_point_down_the_layers(path):
    here = _module_name(path)
    mine = _layer(here)
    if mine is None:  # the package's own __init__: a small facade over the layers
        return
    wrong = [f"line {ln}: {m}" for m, _, ln in _imports(path) if (_layer(m) or 0) > mine]
    assert not wrong, f"{here} imports from a higher layer: {wrong}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_private_names_stay_inside_their_package(path):
    here = _module_name(path)
    wrong = [
        f"line {ln}: {m}{'.' + n if n else ''}"
        for m, n, ln in _imports(path)
        if _private(m, n) and _unit(m) != _unit(here)
    ]
    assert not wrong, f"{here} imports names private to another package: {wrong}"


def test_the_rules_catch_what_they_are_for(tmp_path):
    """A deliberately bad panel module is flagged by both rules; a good one by neither."""
    bad = tmp_path / "probe.py"
    bad.write_text(
        "from dsa110_ws.services.products._fitsio import open_image\n"
        "def f():\n    from dsa110_ws.reporting import run_report\n"
        "from ..services.sources import _ese\n"
    )
    imports = _imports(bad, "dsa110_ws.panels.probe")
    assert [m for m, _, _ in imports] == [
        "dsa110_ws.services.products._fitsio",
        "dsa110_ws.services.sources",
        "dsa110_ws.reporting",
    ]
    private = [(m, n) for m, n, _ in imports if _private(m, n)]
    assert private == [
        ("dsa110_ws.services.products._fitsio", "open_image"),
        ("dsa110_ws.services.sources", "_ese"),
    ]
    assert [m for m, _, _ in imports if _layer(m) > _layer("dsa110_ws.panels")] == [
        "dsa110_ws.reporting"
    ]
    good = tmp_path / "good.py"
    good.write_text(
        "from dsa110_ws.services.products import FitsImageService\n"
        "from dsa110_ws.panels._base import Panel\n"
    )
    imports = _imports(good, "dsa110_ws.panels.good")
    assert not [
        m for m, n, _ in imports if _private(m, n) and _unit(m) != _unit("dsa110_ws.panels.good")
    ]
