"""w.ingest: ingestion groups, incomplete groups with missing subbands, UVH5 files per night.

Over the demo the groups come from the task queue's absurd.ingestion_groups (one day);
without a queue (the ``sqlite_ws`` fixture) from the pipeline SQLite's tables (every night).
"""

from __future__ import annotations

import pytest
from _ops_helpers import connect, execute, rows


@pytest.fixture()
def sqlite_ws(writable_demo, state_dir):
    """The demo's SQLite alone: no queue, so the SQLite ingestion tables are read."""
    w = connect(writable_demo, state_dir)
    yield w
    w.close()


def test_the_queue_is_read_when_it_has_the_tables(workspace, sqlite_ws):
    assert workspace.ingest.source == "absurd.ingestion_groups"
    assert sqlite_ws.ingest.source == "pipeline ingestion_groups"


def test_counts_by_state_match_the_truth(workspace, sqlite_ws, truth):
    assert sqlite_ws.ingest.counts() == truth["counts"]["ingestion_by_state"]
    assert workspace.ingest.counts() == truth["queue"]["ingestion"]["groups_by_state"]


@pytest.mark.parametrize("which", ["queue", "sqlite"])
def test_incomplete_groups_missing_subbands_and_age(workspace, sqlite_ws, truth, which):
    w = workspace if which == "queue" else sqlite_ws
    df = w.ingest.incomplete().set_index("group_id")
    expect = {g["group_id"]: g for g in truth["incomplete_groups"]}
    assert set(df.index) == set(expect)
    for gid, g in expect.items():
        assert df.loc[gid, "missing_subbands"] == g["missing_subbands"]
        assert df.loc[gid, "n_received"] == 16 - len(g["missing_subbands"])
        # the queue stamps a group when its first file arrives, seconds after its id's time
        tol = 0.5 if which == "queue" else 1e-3
        assert df.loc[gid, "age_minutes"] == pytest.approx(g["age_minutes"], abs=tol)


@pytest.mark.parametrize("which", ["queue", "sqlite"])
def test_failed_groups(workspace, sqlite_ws, truth, which):
    df = (workspace if which == "queue" else sqlite_ws).ingest.failed()
    assert list(df["group_id"]) == truth["failed_groups"]
    assert df["error_message"].str.contains("integration time").all()


def test_a_complete_group_still_collecting_is_not_incomplete(writable_demo, state_dir, truth):
    """Missing subbands come from ingestion_subbands, not from the stored subband_count."""
    db = writable_demo / "pipeline.sqlite3"
    gid = truth["incomplete_groups"][1]["group_id"]
    missing = truth["incomplete_groups"][1]["missing_subbands"]
    execute(
        db,
        *[
            (
                "INSERT INTO ingestion_subbands (group_id, subband_idx, file_path, "
                "recorded_at) VALUES (?, ?, ?, ?)",
                (gid, sb, f"/x/{gid}_{sb}.hdf5", truth["now_unix"]),
            )
            for sb in missing
        ],
    )
    w = connect(writable_demo, state_dir)
    try:
        df = w.ingest.incomplete()
    finally:
        w.close()
    assert gid not in set(df["group_id"]) and len(df) == len(truth["incomplete_groups"]) - 1


def test_hdf5_files_per_night(workspace, demo_dir, truth):
    df = workspace.ingest.hdf5_per_night().set_index("obs_date")
    raw = dict(
        rows(
            demo_dir / "pipeline.sqlite3",
            "SELECT obs_date, COUNT(*) FROM hdf5_files GROUP BY obs_date",
        )
    )
    assert df["n_files"].to_dict() == raw
    assert set(df.index) == set(truth["nights"])
    first = truth["nights"][0]
    n_images = sum(t["night"] == first for t in truth["images"])
    assert df.loc[first, "n_groups"] == n_images and df.loc[first, "n_files"] == 16 * n_images
    total = rows(demo_dir / "pipeline.sqlite3", "SELECT SUM(file_size_bytes) FROM hdf5_files")
    assert df["total_bytes"].sum() == total[0][0]
    one = workspace.ingest.hdf5_per_night(start=first, end=truth["nights"][1])
    assert list(one["obs_date"]) == [first]
