"""connect(): the demo fallback, PIPELINE_DB errors, confinement, lazy services."""

from __future__ import annotations

import subprocess
import sys

import pytest

import dsa110_ws
from dsa110_ws.errors import DataUnavailableError, NotPermittedError


@pytest.mark.parametrize("kind", ["missing", "directory", "not_sqlite"])
def test_pipeline_db_problems_name_the_path_and_variable(tmp_path, monkeypatch, kind):
    target = tmp_path / "pipeline.sqlite3"
    if kind == "directory":
        target.mkdir()
    elif kind == "not_sqlite":
        target.write_text("this is a CSV, not a database\n")
    monkeypatch.setenv("PIPELINE_DB", str(target))
    with pytest.raises(DataUnavailableError) as err:
        dsa110_ws.connect()
    msg = str(err.value)
    assert str(target) in msg and "PIPELINE_DB" in msg


def test_connect_with_nothing_configured_generates_the_demo_once(tmp_path, demo_dir, capfd):
    import shutil

    target = tmp_path / "demo"
    shutil.copytree(demo_dir, target)  # pretend it was generated on an earlier first use
    w = dsa110_ws.connect(demo_dir=target, state_dir=tmp_path / "st")
    assert w.settings.is_demo
    assert w.db.path == (target / "pipeline.sqlite3").resolve()
    assert w.settings.data_roots == ((target / "data").resolve(),)
    assert "demo state" in capfd.readouterr().err
    assert w.repos.images.count() > 0


def test_paths_outside_the_data_roots_are_refused(tmp_path, demo_dir, state_dir):
    scratch = tmp_path / "scratch-data"  # a second data root of our own: the demo stays as is
    scratch.mkdir()
    workspace = dsa110_ws.connect(
        demo_dir / "settings.toml",
        state_dir=state_dir,
        data_roots=[str(demo_dir / "data"), str(scratch)],
    )
    outside = tmp_path / "elsewhere.fits"
    outside.write_bytes(b"SIMPLE")
    with pytest.raises(NotPermittedError, match="outside the data roots"):
        workspace.open_path(outside)
    escape = scratch / "escape_link_test.fits"
    escape.symlink_to(outside)
    with pytest.raises(NotPermittedError):
        workspace.open_path(escape)
    inside = next((demo_dir / "data" / "images").rglob("*.fits"))
    assert workspace.open_path(inside) == inside.resolve()
    good = scratch / "good_link.fits"  # a link that stays inside the roots is followed
    good.symlink_to(inside)
    assert workspace.open_path(good) == inside.resolve()
    workspace.close()


def test_import_is_light_and_side_effect_free(tmp_path):
    code = (
        "import sys, dsa110_ws; heavy = [m for m in ('casacore', 'matplotlib', 'ipywidgets',"
        " 'papermill', 'astropy', 'sqlalchemy', 'pandas') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    assert out.stdout.strip() == "[]"
    assert list(tmp_path.iterdir()) == []


def test_dir_shows_curated_names(workspace):
    names = dir(workspace)
    assert "images" in names and "qa" in names and "_services" not in names
    assert repr(workspace).startswith("<Workspace demo state")


def test_a_workspace_without_a_pipeline_database_reads_product_files(demo_dir, truth, tmp_path):
    """Files alone (a laptop with a copied MS, FITS and caltables): QA, MS summaries and
    caltables work; only what lives in the database says it needs one."""
    from dsa110_ws.config import load_settings
    from dsa110_ws.errors import ConfigurationError
    from dsa110_ws.workspace import Workspace

    settings = load_settings(
        env={}, data_roots=[str(demo_dir / "data")], state_dir=str(tmp_path / "state")
    )
    assert settings.pipeline_db is None
    w = Workspace(settings)
    image = truth["images"][0]["path"]
    assert w.qa.image(image, use_cache=False).grade in {"good", "warning", "bad"}
    ms = next((demo_dir / "data").rglob("*.ms"))
    assert w.ms.summary(ms, flags=False).n_rows > 0
    kcal = next((demo_dir / "data").rglob("*_kcal"))
    assert w.cal.load(kcal).table_type == "K"
    for call in (w.cal.find, w.ms.find):
        with pytest.raises(ConfigurationError, match="PIPELINE_DB"):
            call()
