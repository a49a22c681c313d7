"""w.provenance.image: the chain behind an image on the demo (truth.json): complete for a
good image, the gap named for the image whose applied caltable the registry lacks, tables an
older database lacks, unregistered files."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest

import dsa110_ws
from dsa110_ws.errors import NotFoundError


def _by_step(p):
    out: dict[str, list] = {}
    for x in p.links:
        out.setdefault(x.step, []).append(x)
    return out


def test_a_good_image_has_a_complete_chain(ws, truth):
    path = truth["provenance"]["complete_image"]
    im = next(i for i in truth["images"] if i["path"] == path)
    p = ws.provenance.image(path)
    assert p.complete and p.gaps == [] and p.status == "ok"
    steps = _by_step(p)
    assert list(steps) == ["image", "job", "ms", "stages", "calibration", "pointing", "qa", "log"]
    assert p.ms_path == im["ms_path"] and steps["ms"][0].key == im["ms_path"]
    (job,) = steps["job"]
    assert job.view == "job" and ws.jobs.get(job.key).artifact_paths == (path,)
    cal = steps["calibration"]
    assert sorted(x.data["table_type"] for x in cal) == ["BP", "GA", "GP", "K"]
    assert all(x.data["valid"] and x.data["set_name"] == f"{im['night']}_3C286" for x in cal)
    assert all("solved" in x.detail and "valid" in x.detail for x in cal)
    (pointing,) = steps["pointing"]
    assert pointing.data["pointing_ra_deg"] == pytest.approx(im["center_ra_deg"])
    assert pointing.data["separation_arcmin"] == pytest.approx(0.0, abs=1e-6)
    assert [x.label for x in steps["qa"]] == ["image QA", "MS QA", "caltable QA"]
    assert "pipeline: good (image_qa" in steps["qa"][0].detail
    assert "from the pixels: good" in steps["qa"][0].detail
    assert "convert" in steps["stages"][0].detail and "state done" in steps["stages"][0].detail
    (log,) = steps["log"]
    assert log.data["lines"] and "finished OK" in log.data["lines"][-1]  # the job's stored logs
    json.dumps(p.to_dict(), allow_nan=False)


def test_the_missing_caltable_is_named_with_its_table(ws, truth):
    prov = truth["provenance"]
    p = ws.provenance.image(prov["gap_image"])
    assert not p.complete and p.status == "warning"
    (missing,) = [x for x in p.links if x.missing]
    assert missing.step == "calibration" and missing.missing == prov["missing_from"] == "caltables"
    assert prov["missing_caltable"] in missing.detail and "not on disk" in missing.detail
    assert missing.view is None  # nothing to open
    assert p.gaps == [f"calibration: {missing.detail}"]
    assert len([x for x in p.links if x.step == "calibration" and not x.missing]) == 4
    (log,) = [x for x in p.links if x.step == "log"]  # this run has a log file
    assert log.view == "log" and log.key.startswith("image-") and len(log.data["lines"]) == 4


def test_by_catalogue_id_and_without_file_qa(ws, truth):
    path = truth["provenance"]["complete_image"]
    iid = int(ws.images.get_by_path(path).id)
    p = ws.provenance.image(str(iid), file_qa=False)
    assert p.image_path == path and p.image_id == iid and p.complete
    assert all("from the" not in x.detail for x in p.links if x.step == "qa")
    with pytest.raises(NotFoundError):
        ws.provenance.image("999999")


def test_an_unregistered_file_names_the_images_table(scratch_ws, scratch_root, truth):
    copy = scratch_root / "loose.fits"
    shutil.copy(truth["images"][0]["path"], copy)
    p = scratch_ws.provenance.image(copy)
    assert p.image_id is None and not p.complete
    assert {x.missing for x in p.links if x.missing} >= {"images", "jobs"}
    assert "images has no row" in p.gaps[0]


def test_tables_an_older_database_lacks_are_named(writable_demo, tmp_path, truth):
    con = sqlite3.connect(writable_demo / "pipeline.sqlite3")
    con.execute("DROP TABLE calibration_applied")
    con.execute("DROP TABLE ms_state")
    con.commit()
    con.close()
    w = dsa110_ws.connect(writable_demo / "settings.toml", state_dir=tmp_path / "st")
    try:
        p = w.provenance.image(truth["provenance"]["complete_image"], file_qa=False)
        missing = {x.step: x for x in p.links if x.missing}
        assert missing["calibration"].missing == "calibration_applied"
        assert "has no such table" in missing["calibration"].detail
        assert missing["stages"].missing == "ms_state"
    finally:
        w.close()


def test_a_stored_qa_row_without_a_grade_says_not_graded(writable_demo, tmp_path, truth):
    """A QA row whose overall_quality is NULL: "pipeline: not graded", never "None"."""
    path = truth["provenance"]["complete_image"]
    with sqlite3.connect(writable_demo / "pipeline.sqlite3") as con:
        con.execute("UPDATE image_qa SET overall_quality = NULL WHERE image_path = ?", (path,))
        con.execute("UPDATE calibration_qa SET overall_quality = NULL")
    w = dsa110_ws.connect(writable_demo / "settings.toml", state_dir=tmp_path / "st")
    try:
        qa = {x.label: x for x in w.provenance.image(path, file_qa=False).links if x.step == "qa"}
    finally:
        w.close()
    assert set(qa) == {"image QA", "MS QA", "caltable QA"}
    for x in qa.values():
        assert "pipeline: not graded (" in x.detail and "None" not in x.detail, x.detail
        assert x.status == "unknown"  # no grade is no green light


def test_an_image_without_a_type_says_so(writable_demo, tmp_path, truth):
    path = truth["provenance"]["complete_image"]
    with sqlite3.connect(writable_demo / "pipeline.sqlite3") as con:
        con.execute("UPDATE images SET type = NULL WHERE path = ?", (path,))
    w = dsa110_ws.connect(writable_demo / "settings.toml", state_dir=tmp_path / "st")
    try:
        p = w.provenance.image(path, file_qa=False)
    finally:
        w.close()
    (image,) = [x for x in p.links if x.step == "image"]
    assert "(no type recorded)" in image.detail and image.data["type"] is None, image
    json.dumps(p.to_dict(), allow_nan=False)  # NaN before: not JSON


def test_ms_qa_from_the_flags(ws, truth):
    ms = truth["measurement_sets"][0]
    r = ws.qa.ms(ms["path"])
    assert r.flag_fraction_cross == pytest.approx(ms["flag_fraction_cross"], abs=1e-12)
    assert r.fully_flagged_antennas == tuple(ms["antennas_fully_flagged"])
    assert r.grade == "good" and r.check("flag_fraction_cross").verdict == "pass"
    strict = ws.qa.ms(ms["path"], thresholds={"flag_fraction_max": 0.2})
    assert strict.grade == "bad" and "above the limit 0.200" in strict.reasons[0]
