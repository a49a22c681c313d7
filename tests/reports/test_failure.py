"""Safe failure: a report whose data path is missing fails with a non-zero exit, keeps its
partial notebook, and never touches the last good report."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from dsa110_ws.reporting import list_reports, run_report
from dsa110_ws.reporting.publish import publish

pytestmark = [pytest.mark.notebook, pytest.mark.slow]
NIGHT = "2026-11-10"


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture()
def bad_settings(tmp_path, demo_dir) -> Path:
    """The demo's settings, but the pipeline database is missing."""
    d = tmp_path / "gone"
    d.mkdir()
    text = (demo_dir / "settings.toml").read_text()
    text = text.replace(
        'pipeline_db = "pipeline.sqlite3"',
        f'pipeline_db = "{tmp_path / "moved-away" / "pipeline.sqlite3"}"',
    )
    text = text.replace('data_roots = ["data"]', f'data_roots = ["{demo_dir / "data"}"]')
    text = text.replace('log_roots = ["logs"]', f'log_roots = ["{demo_dir / "logs"}"]')
    (d / "settings.toml").write_text(text)
    return d / "settings.toml"


def test_missing_database_fails_safely(qa_run, report_root, tmp_path, bad_settings):
    assert qa_run["status"] == "ok"
    root = tmp_path / "out"
    shutil.copytree(report_root, root)  # a root that holds a good report of the night
    good = root / "qa" / NIGHT
    before = tree_digest(good)

    result = run_report("qa", {"night": NIGHT, "settings": str(bad_settings)}, out_dir=root)

    assert result.status == "failed" and result.exit_code == 1
    assert result.papermill_invoked and result.kernel_started
    assert "does not exist" in result.error and "moved-away" in result.error
    # the last good report is untouched, byte for byte
    assert tree_digest(good) == before
    # the failed run kept its partial notebook under a failed name, with the traceback
    failed = result.output_dir
    assert failed.parent == root / "qa" and failed.name.startswith(f"{NIGHT}.failed-")
    assert sorted(p.name for p in failed.iterdir()) == ["provenance.json", "report.failed.ipynb"]
    nb = nbformat.read(failed / "report.failed.ipynb", as_version=4)
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert len(errors) == 1 and errors[0]["ename"] == "DataUnavailableError"
    prov = json.loads((failed / "provenance.json").read_text())
    assert prov["status"] == "failed" and "does not exist" in prov["error"]
    assert prov["data_source"]["settings_file"] == str(bad_settings)
    # nothing half-written is left in the kind folder
    assert sorted(p.name for p in (root / "qa").iterdir()) == sorted([NIGHT, failed.name])
    # the index and `report list` show both, the failure as failed
    entries = {(e.label, e.status) for e in list_reports(root) if e.kind == "qa"}
    assert (NIGHT, "critical") in entries and (NIGHT, "failed") in entries
    index = (root / "index.html").read_text()
    assert f'href="qa/{failed.name}/report.failed.ipynb"' in index


def test_publish_replaces_a_folder_whole(tmp_path):
    """The swap used for a good rerun: the new folder replaces the old one entirely and no
    aside copy is left."""
    final = tmp_path / "qa" / NIGHT
    final.mkdir(parents=True)
    (final / "report.html").write_text("old")
    (final / "stale.png").write_text("old only")
    new = tmp_path / "qa" / ".tmp-new"
    new.mkdir()
    (new / "report.html").write_text("new")
    publish(new, final)
    assert sorted(p.name for p in (tmp_path / "qa").iterdir()) == [NIGHT]
    assert [p.name for p in final.iterdir()] == ["report.html"]
    assert (final / "report.html").read_text() == "new"
    fresh = tmp_path / "qa" / "2026-11-11"
    other = tmp_path / "qa" / ".tmp-other"
    other.mkdir()
    publish(other, fresh)  # nothing to replace
    assert fresh.is_dir() and not other.exists()
