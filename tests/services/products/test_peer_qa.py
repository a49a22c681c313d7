"""w.qa.peers: image QA relative to the image's peers, against the demo's truth (the
deliberately noisy image and the peer outlier) and an independent median/MAD computation."""

from __future__ import annotations

import numpy as np
import pytest

from dsa110_ws.errors import InvalidQueryError


@pytest.fixture(scope="module")
def peers(ws):
    return ws.qa.peers(ws.images.find(limit=None))


def test_the_noisy_image_and_the_peer_outlier_are_flagged(peers, truth):
    noisy = next(i["path"] for i in truth["images"] if i["bad_reason"] == "high_noise")
    flagged = set(peers.loc[peers["peer_grade"] != "good", "path"])
    assert flagged == {noisy, *truth["peer_outliers"]}
    row = peers.set_index("path").loc[truth["peer_outliers"][0]]
    assert row["grade"] == "good" and row["peer_grade"] == "bad"  # absolute QA misses it
    assert row["grade_with_peers"] == "bad"
    (check,) = [c for c in row["peer_checks"] if c.verdict != "pass"]
    assert check.metric == "peer_rms_jy" and check.value > 6 and "7 peers" in check.reason


def test_z_scores_equal_a_direct_median_and_mad(peers, truth):
    night = {i["path"]: i["night"] for i in truth["images"]}
    df = peers.assign(night=peers["path"].map(night))
    for _, r in df.iterrows():
        others = df[(df["night"] == r["night"]) & (df["path"] != r["path"])]
        v = others["rms_jy"].to_numpy()
        med = np.median(v)
        sigma = max(1.482602218505602 * np.median(np.abs(v - med)), 0.05 * med)
        assert r["rms_jy_peer_median"] == pytest.approx(med, rel=1e-12)
        assert r["rms_jy_z"] == pytest.approx((r["rms_jy"] - med) / sigma, rel=1e-9)
        assert r["n_peers"] == len(others)


def test_an_image_without_a_beam_is_not_compared_on_it(peers, truth):
    nobeam = next(i["path"] for i in truth["images"] if i["bad_reason"] == "missing_beam")
    row = peers.set_index("path").loc[nobeam]
    check = next(c for c in row["peer_checks"] if c.metric == "peer_beam_major_arcsec")
    assert check.verdict == "pass" and "not compared" in check.reason and check.value is None


def test_paths_take_time_and_declination_from_the_headers(ws, truth, peers):
    night = truth["nights"][-2]
    paths = [i["path"] for i in truth["images"] if i["night"] == night]
    got = ws.qa.peers(paths).set_index("path")
    want = peers.set_index("path").loc[paths]
    assert got["obs_mjd"].to_numpy() == pytest.approx(
        want["obs_mjd"].to_numpy() - 150 / 86400, abs=2e-5
    )  # DATE-OBS is the start of the 5-minute snapshot, obs_mjd its middle
    assert list(got["peer_grade"]) == list(want["peer_grade"])


def test_thresholds_and_too_few_peers(ws, truth):
    night = truth["nights"][-2]
    some = [i["path"] for i in truth["images"] if i["night"] == night][:3]
    few = ws.qa.peers(some)
    assert (few["peer_grade"] == "good").all() and (few["n_peers"] == 2).all()
    assert all("only 2 peer(s)" in c.reason for ch in few["peer_checks"] for c in ch)
    loose = ws.qa.peers(
        [i["path"] for i in truth["images"] if i["night"] == night], thresholds={"peer_z_max": 50}
    )
    assert set(loose["peer_grade"]) == {"good", "warning"}
    with pytest.raises(InvalidQueryError, match="'path' column"):
        import pandas as pd

        ws.qa.peers(pd.DataFrame({"x": [1]}))
