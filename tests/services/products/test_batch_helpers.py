"""w.batch.ms_summaries and w.batch.thumbnails, and w.images.types, against the truth file,
the counts its MS writer recorded, Pillow and sqlite3."""

from __future__ import annotations

import io
import sqlite3

import pytest
from PIL import Image


def test_ms_summaries_match_the_truth(workspace, truth):
    sets = truth["measurement_sets"][:3]
    out = workspace.batch.ms_summaries([m["path"] for m in sets] + ["/nowhere/x.ms"])
    assert list(out["status"]) == ["ok", "ok", "ok", "failed"]
    assert "/nowhere/x.ms" in out.iloc[3]["item"] and out.iloc[3]["error"]
    for (_, row), ms in zip(out.iloc[:3].iterrows(), sets, strict=True):
        assert row["n_rows"] == ms["n_rows"] and row["n_antennas"] == ms["n_antennas"]
        assert row["n_antennas_with_data"] == ms["n_antennas_with_data"]
        assert row["time_start_mjd"] == pytest.approx(ms["time_start_mjd"], abs=1e-9)
        assert row["integration_s"] == pytest.approx(ms["integration_s"])
        assert row["flag_fraction"] == pytest.approx(ms["flag_fraction"], abs=1e-12)


def test_thumbnails_render_every_image_and_report_its_png_size(workspace, truth):
    paths = [i["path"] for i in truth["images"][:3]]
    out = workspace.batch.thumbnails(paths, mode="serial", size=64)
    assert list(out["status"]) == ["ok"] * 3 and list(out["item"]) == paths
    for path, size in zip(paths, out["result"], strict=True):
        png = workspace.fits.thumbnail(path, size=64)  # now from the cache the batch filled
        assert len(png) == size > 0
        im = Image.open(io.BytesIO(png))
        assert im.format == "PNG" and max(im.size) == 64
    bad = workspace.batch.thumbnails(["/etc/passwd"], mode="serial")
    assert list(bad["status"]) == ["failed"] and "outside" in bad.iloc[0]["error"]


def test_image_types_are_the_distinct_types_in_the_database(writable_demo, tmp_path):
    import dsa110_ws

    db = writable_demo / "pipeline.sqlite3"
    con = sqlite3.connect(db)
    with con:
        con.execute(
            "INSERT INTO images (path, type, created_at) VALUES ('/x/pb.fits', 'pbcor', 1.79e9)"
        )
    expected = sorted(t for (t,) in con.execute("SELECT DISTINCT type FROM images"))
    con.close()
    w = dsa110_ws.connect(writable_demo / "settings.toml", state_dir=tmp_path / "st")
    try:
        assert sorted(w.images.types()) == expected == ["5min", "pbcor"]
    finally:
        w.close()
