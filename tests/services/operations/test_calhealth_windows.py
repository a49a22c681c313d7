"""w.calhealth.valid_at and required_types, against the truth file's caltables."""

from __future__ import annotations

import pytest
from _ops_helpers import connect


def test_valid_at_lists_the_nights_set_in_apply_order(workspace, truth):
    img = truth["images"][-1]
    set_name = f"{img['night']}_3C286"
    tables = [t for t in truth["calibration"]["caltables"] if t["set_name"] == set_name]
    got = workspace.calhealth.valid_at(img["mid_mjd"])
    assert set(got["set_name"]) == {set_name}
    assert sorted(got["path"]) == sorted(t["path"] for t in tables)
    assert list(got["order_index"]) == sorted(got["order_index"])
    gap = truth["calibration"]["coverage_gap_mjd"]
    assert workspace.calhealth.valid_at((gap[0] + gap[1]) / 2).empty
    retired = truth["calibration"]["retired_sets"][0]
    assert retired not in set(workspace.calhealth.valid_at(img["mid_mjd"])["set_name"])


def test_required_types_default_and_setting(demo_dir, tmp_path):
    w = connect(demo_dir, tmp_path / "a")
    try:
        assert w.calhealth.required_types == ("BP", "GA", "GP")  # the documented default
    finally:
        w.close()
    w = connect(demo_dir, tmp_path / "b", sections={"calibration": {"required_types": ["k", "bp"]}})
    try:
        assert w.calhealth.required_types == ("K", "BP")
        sets = w.calhealth.sets()
        assert (sets["missing_types"].map(len) == 0).sum() >= 1  # the demo's sets have K, BP
    finally:
        w.close()


@pytest.mark.parametrize("bad", ["yesterday-ish", "2026-13-01"])
def test_valid_at_refuses_a_time_it_cannot_read(workspace, bad):
    from dsa110_ws.errors import InvalidQueryError

    with pytest.raises(InvalidQueryError):
        workspace.calhealth.valid_at(bad)
