"""Nothing the pipeline owns is ever written by a read; outputs replace only what the
workspace wrote; destructive demo commands refuse foreign directories."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from dsa110_ws.cli import main


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def env(writable_demo, tmp_path, monkeypatch):
    """The demo's SQLite copied (its folder is the pipeline database's folder), products and
    logs shared read-only, a private state dir."""
    monkeypatch.setenv("DSA110_WS_SETTINGS", str(writable_demo / "settings.toml"))
    monkeypatch.setenv("DSA110_WS_STATE_DIR", str(tmp_path / "state"))
    return writable_demo


def _run(capsys, *args):
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def _image(demo_dir, truth) -> Path:
    return Path(truth["images"][0]["path"])


@pytest.mark.parametrize("target", ["db", "db_dir", "log", "data"])
def test_thumbnail_never_writes_among_the_pipelines_files(env, demo_dir, truth, capsys, target):
    db = env / "pipeline.sqlite3"
    log = next((demo_dir / "logs").iterdir())
    where = {"db": db, "db_dir": env / "new.png", "log": log, "data": demo_dir / "data" / "x.png"}[
        target
    ]
    before = {p: _digest(p) for p in (db, log)}
    code, out, err = _run(capsys, "thumbnail", _image(demo_dir, truth), "-o", where)
    assert code == 1 and not out and "Refusing to write" in err and len(err.splitlines()) == 1
    assert {p: _digest(p) for p in (db, log)} == before
    assert not (env / "new.png").exists() and not (demo_dir / "data" / "x.png").exists()
    code, _, err = _run(capsys, "thumbnail", _image(demo_dir, truth), "-o", where, "--force")
    assert code == 1 and "Refusing to write" in err  # --force never opens the pipeline's files


def test_an_existing_file_is_replaced_only_with_force_and_only_if_ours(
    env, demo_dir, truth, capsys, tmp_path
):
    img = _image(demo_dir, truth)
    theirs = tmp_path / "out" / "someone-elses.png"
    theirs.parent.mkdir()
    theirs.write_bytes(b"a colleague's figure")
    code, _, err = _run(capsys, "thumbnail", img, "-o", theirs)
    assert code == 1 and "exists; pass --force" in err
    code, _, err = _run(capsys, "thumbnail", img, "-o", theirs, "--force")
    assert code == 1 and "the workspace did not write it" in err
    assert theirs.read_bytes() == b"a colleague's figure"
    ours = tmp_path / "out" / "ours.png"
    assert _run(capsys, "thumbnail", img, "-o", ours)[0] == 0
    first = ours.read_bytes()
    code, _, err = _run(capsys, "thumbnail", img, "-o", ours, "--size", "64", "--force")
    assert code == 0, err
    assert ours.read_bytes() != first and ours.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ours.write_bytes(ours.read_bytes() + b"edited by hand")  # no longer what we wrote
    code, _, err = _run(capsys, "thumbnail", img, "-o", ours, "--force")
    assert code == 1 and "changed since" in err


def test_exports_and_mocs_follow_the_same_rules(workspace, tmp_path, truth):
    from dsa110_ws.errors import InvalidQueryError, NotPermittedError

    lc = workspace.sources.lightcurve(truth["sources"]["variables"][0]["source_id"])
    out = workspace.sources.export(lc, tmp_path / "lc.csv")
    with pytest.raises(InvalidQueryError, match="exists; pass --force"):
        workspace.sources.export(lc, out)
    assert workspace.sources.export(lc, out, overwrite=True) == out
    foreign = tmp_path / "notes.xml"
    foreign.write_text("<mine/>")
    with pytest.raises(NotPermittedError, match="did not write it"):
        workspace.sources.export(lc, foreign, overwrite=True)
    assert foreign.read_text() == "<mine/>"
    with pytest.raises(NotPermittedError, match="data root"):
        workspace.sources.export(lc, Path(truth["images"][0]["path"]).parent / "lc.csv")


def test_a_report_never_goes_among_the_pipelines_files_or_over_a_foreign_folder(
    env, demo_dir, capsys, tmp_path
):
    for out in (demo_dir / "data" / "reports", env):
        code, _, err = _run(capsys, "report", "run", "qa", "--out", out)
        assert code == 2 and "Refusing to write report output folder" in err, err
    assert not (demo_dir / "data" / "reports").exists()
    root = tmp_path / "reports"
    label = root / "qa" / "2026-11-13"
    label.mkdir(parents=True)
    (label / "important.txt").write_text("keep me")
    code, _, err = _run(capsys, "report", "run", "qa", "--out", root)
    assert code == 2 and "is not a report this workspace published" in err
    assert (label / "important.txt").read_text() == "keep me"


def test_demo_overwrite_refuses_a_directory_it_did_not_make(tmp_path, capsys):
    data = tmp_path / "pipeline-data"
    (data / "ms").mkdir(parents=True)
    (data / "ms" / "precious.ms").write_text("irreplaceable")
    code, _, err = _run(capsys, "demo", data, "--overwrite", "--no-queue")
    assert code == 1 and "is not a demo state" in err and "refusing to delete it" in err
    assert (data / "ms" / "precious.ms").read_text() == "irreplaceable"
    from dsa110_ws.demo import make_scale_state

    with pytest.raises(FileExistsError, match="does not write"):
        make_scale_state(data, overwrite=True, n_images=10, n_photometry=10)
    assert (data / "ms" / "precious.ms").exists()


def test_the_state_database_records_what_was_written(workspace, tmp_path, truth):
    png = tmp_path / "t.png"
    workspace.fits.write_output(png, b"\x89PNG fake", what="thumbnail")
    assert (
        workspace.state.output_sha256(png.resolve()) == hashlib.sha256(b"\x89PNG fake").hexdigest()
    )
    shutil.copy(png, tmp_path / "copy.png")
    assert workspace.state.output_sha256((tmp_path / "copy.png").resolve()) is None
    assert json.dumps(str(png))  # (a path, not a secret)


@pytest.mark.parametrize(
    "metrics, provenance, words",
    [
        ("[1, 2]", '{"status": "ok", "label": "a"}', "metrics.json is not a JSON object"),
        ('{"metrics": "x", "status": "critical"}', '{"status": "ok"}', "no list of metrics"),
        ('{"metrics": [], "status": 5}', '{"status": "ok"}', None),
        ("\xff\xfe", '{"status": "ok"}', "metrics.json unreadable"),
        ('{"metrics": []}', "{}", "no run status"),
        ('{"metrics": []}', "[]", "not a JSON object"),
        ('{"metrics": []}', '{"status": "ok", "data_time_range": 7, "label": 3}', None),
    ],
)
def test_report_list_says_what_is_wrong_with_a_damaged_report(
    tmp_path, capsys, monkeypatch, writable_demo, metrics, provenance, words
):
    monkeypatch.setenv("DSA110_WS_SETTINGS", str(writable_demo / "settings.toml"))
    folder = tmp_path / "reports" / "qa" / "2026-11-13"
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_bytes(
        metrics.encode("utf-8", "surrogateescape") if "\xff" not in metrics else b"\xff\xfe"
    )
    (folder / "provenance.json").write_text(provenance)
    code, out, err = _run(capsys, "report", "list", "--out", tmp_path / "reports")
    assert code == 0 and "Traceback" not in out + err, err
    line = next(ln for ln in out.splitlines() if "2026-11-13" in ln or "  qa " in ln)
    assert " unknown " in line  # never a verdict read from a damaged file
    if words:
        assert words in line
