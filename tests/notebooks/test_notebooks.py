"""Every curated notebook and dashboard: committed stripped, with a well-formed
``parameters`` cell, and run top to bottom on a real kernel over the demo state."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
CURATED = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
DASHBOARDS = sorted((ROOT / "notebooks" / "dashboards").glob("*.ipynb"))
ALL = CURATED + DASHBOARDS
FIRST_CELL = "import dsa110_ws as ws; w = ws.connect()"
PARAM_LINE = re.compile(r"^[a-z_][a-z0-9_]*: [A-Za-z_][\w\[\], |]* = .+  # \S.*$")


def _id(p: Path) -> str:
    return str(p.relative_to(ROOT / "notebooks"))


def test_the_curated_set_is_complete():
    names = [p.name for p in CURATED]
    assert [n[:3] for n in names] == ["01_", "02_", "03_", "04_", "05_", "06_"], names
    assert [p.name for p in DASHBOARDS] == ["operations.ipynb", "science.ipynb", "wall.ipynb"]


@pytest.mark.parametrize("path", ALL, ids=_id)
def test_notebook_is_stripped_and_parameterised(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert nb.cells[0].cell_type == "code" and nb.cells[0].source.strip() == FIRST_CELL
    for c in code:
        assert c.outputs == [] and c.execution_count is None, f"outputs left in {path.name}"
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1, "exactly one cell tagged 'parameters'"
    lines = [ln for ln in params[0].source.splitlines() if ln.strip()]
    assert lines, "the parameters cell is empty"
    for ln in lines:
        assert PARAM_LINE.match(ln), f"parameter line not `name: type = value  # help`: {ln!r}"
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.fixture()
def kernel_env(monkeypatch, demo_dir, tmp_path):
    """The kernel inherits this process's environment: point it at the demo state."""
    monkeypatch.setenv("DSA110_WS_SETTINGS", str(demo_dir / "settings.toml"))
    monkeypatch.setenv("DSA110_WS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return tmp_path


@pytest.mark.notebook
@pytest.mark.slow
@pytest.mark.parametrize("path", ALL, ids=_id)
def test_notebook_runs_top_to_bottom(path, kernel_env):
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(kernel_env)}}
    )
    client.execute()
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", "".join(out.get("traceback", []))
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                assert "Traceback" not in out["text"], out["text"]
            text = str(out.get("data", {}).get("text/plain", ""))
            assert "Error" not in text or "Error" in cell.source, text
