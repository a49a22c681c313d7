"""fill_queue writes what its truth says, on the SQLite demo's timeline; bulk_load_tasks."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
from _queue_helpers import new_database

from dsa110_ws.demo.queue.bulk import bulk_load_tasks
from dsa110_ws.demo.queue.day import fill_queue, queue_url_for
from dsa110_ws.demo.queue.db import connect
from dsa110_ws.demo.queue.plan import GROUP_ERROR, TASK_NAMES, WORKERS, QueueDay, plan_day
from dsa110_ws.errors import NotPermittedError

DAY = QueueDay.for_demo("/data/dsa110-demo/data")
NOW = datetime.fromtimestamp(DAY.now_unix, UTC)


@pytest.fixture(scope="module")
def filled_url(pg_server):
    """One filled database for the module's read-only tests."""
    with new_database(pg_server) as url:
        yield url, fill_queue(url, day=DAY)


@pytest.fixture()
def filled(filled_url):
    url, truth = filled_url
    with connect(url, autocommit=True) as con:
        yield truth, con


def _by_status(con, queue) -> dict:
    return dict(
        con.execute(
            "SELECT status, count(*) FROM absurd.tasks WHERE queue_name = %s GROUP BY status",
            (queue,),
        ).fetchall()
    )


def test_the_demo_day_agrees_with_the_sqlite_demo():
    assert DAY.night == "2026-11-14"
    assert NOW.isoformat().startswith("2026-11-14T17:53:20")
    assert DAY.ms_paths[0] == "/data/dsa110-demo/data/ms/2026-11-14/2026-11-14T14:15:50.ms"
    assert len(DAY.ms_paths) == 8 and len(DAY.reprocess_ms_paths) == 8
    assert DAY.failed_groups == ("2026-11-14T15:53:20",)


def test_counts_per_status_per_queue_match_the_truth(filled):
    truth, con = filled
    for queue, counts in truth["counts"].items():
        assert _by_status(con, queue) == counts
    assert sum(truth["counts"]["dsa110-pipeline"].values()) + 3 == truth["n_tasks"]
    main = truth["counts"]["dsa110-pipeline"]
    assert main["claimed"] >= 3 and main["pending"] >= 3 and main["failed"] >= 5
    assert main["cancelled"] >= 1


def test_queue_stats_agree_with_a_group_by(filled):
    _, con = filled
    for queue in ("dsa110-pipeline", "dsa110-pipeline-dlq"):
        by = _by_status(con, queue)
        stats = con.execute("SELECT * FROM absurd.get_queue_stats(%s)", (queue,)).fetchone()
        names = ("pending", "claimed", "completed", "failed", "cancelled", "retrying")
        assert stats == (*(by.get(n, 0) for n in names), sum(by.values()))


def test_every_task_name_by_two_workers(filled):
    truth, con = filled
    names = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT task_name FROM absurd.tasks WHERE queue_name = 'dsa110-pipeline'"
        )
    }
    assert names == set(TASK_NAMES) == set(truth["task_names"])
    workers = {
        r[0]
        for r in con.execute(
            "SELECT DISTINCT worker_id FROM absurd.tasks WHERE worker_id IS NOT NULL"
        )
    }
    assert workers == set(WORKERS) == set(truth["workers"])


def test_the_stuck_task_is_claimed_far_past_its_timeout(filled):
    truth, con = filled
    (stuck,) = truth["stuck"]
    status, timeout, age = con.execute(
        "SELECT status, timeout_sec, extract(epoch FROM %s - claimed_at) FROM absurd.tasks "
        "WHERE task_id = %s",
        (NOW, stuck["task_id"]),
    ).fetchone()
    assert status == "claimed" and timeout == stuck["timeout_sec"] == 3600
    assert float(age) == pytest.approx(stuck["age_s"], abs=1e-3) and float(age) > 5 * timeout
    assert stuck["ms_path"] == DAY.ms_states["stuck"][0]["path"]


def test_exhausted_tasks_are_dead_lettered_like_the_pipeline_did(filled):
    truth, con = filled
    rows = con.execute(
        "SELECT task_name, status, params FROM absurd.tasks "
        "WHERE queue_name = 'dsa110-pipeline-dlq'"
    ).fetchall()
    assert len(rows) == len(truth["dead_letter"]) == 3
    for name, status, params in rows:
        assert (name, status) == ("dead-letter", "pending")
        orig = con.execute(
            "SELECT task_name, status, attempt, max_retries, error FROM "
            "absurd.tasks WHERE task_id = %s",
            (params["original_task_id"],),
        ).fetchone()
        assert orig == (params["original_task_name"], "failed", 3, 3, params["error"])
        assert params["retry_count"] == 3 and params["original_queue"] == "dsa110-pipeline"
    errors = {params["error"] for *_, params in rows}
    assert GROUP_ERROR in errors and {m["error"] for m in DAY.ms_states["failed"]} <= errors


def test_retried_tasks_and_refused_retries(filled):
    truth, con = filled
    assert {r["task_name"] for r in truth["retried"]} >= {
        "calibration-apply",
        "imaging",
        "pipeline-job",
        "organize-files",
    }
    exhausted = [f["task_id"] for f in truth["failed"] if f["exhausted"]]
    for tid in exhausted:  # past max_retries: the queue itself refuses
        assert con.execute("SELECT absurd.retry_task(%s)", (tid,)).fetchone()[0] is False
    pending_retried = con.execute(
        "SELECT count(*) FROM absurd.tasks WHERE status = 'pending' "
        "AND attempt > 0 AND completed_at IS NOT NULL"
    ).fetchone()[0]
    assert pending_retried == 1  # keeps its failure's completed_at, as a deployment does


def test_failures_group_by_cause(filled):
    truth, con = filled
    errors = [r[0] for r in con.execute("SELECT error FROM absurd.tasks WHERE status = 'failed'")]
    locks = [e for e in errors if "when acquiring lock on" in e]
    assert len(locks) >= 3 and len(set(locks)) == len(locks)  # one cause, different MS
    assert any(e.startswith("TimeoutError") for e in errors)
    assert any("No space left on device" in e for e in errors)
    assert Counter(errors) == Counter(f["error"] for f in truth["failed"])


def test_times_are_on_the_demo_timeline_and_consistent(filled):
    _, con = filled
    lo, hi = con.execute(
        "SELECT min(created_at), max(greatest(created_at, claimed_at, "
        "completed_at)) FROM absurd.tasks"
    ).fetchone()
    assert (NOW - lo).total_seconds() < 86400 + 600 and hi <= NOW
    bad = con.execute(
        "SELECT count(*) FROM absurd.tasks WHERE status IN ('completed', 'failed') AND ("
        "abs(extract(epoch FROM claimed_at - created_at) - wait_time_sec) > 1e-3 OR "
        "abs(extract(epoch FROM completed_at - claimed_at) - execution_time_sec) > 1e-3 OR "
        "claimed_at < created_at)"
    ).fetchone()[0]
    assert bad == 0
    open_ = con.execute(
        "SELECT count(*) FROM absurd.tasks WHERE status = 'claimed' AND "
        "(worker_id IS NULL OR claimed_at IS NULL)"
    ).fetchone()[0]
    assert open_ == 0


def test_the_workflow_is_half_done(filled):
    truth, con = filled
    wf = truth["workflow"]
    row = con.execute(
        "SELECT name, status, total_tasks, completed_tasks, started_at IS NOT NULL "
        "FROM absurd.workflows WHERE workflow_id = %s",
        (wf["workflow_id"],),
    ).fetchone()
    assert row == ("standard-pipeline", "running", 8, 4, True)
    tasks = con.execute(
        "SELECT task_id::text, status, depends_on FROM absurd.tasks WHERE workflow_id = %s",
        (wf["workflow_id"],),
    ).fetchall()
    status = {tid: st for tid, st, _ in tasks}
    assert sorted(status.values()) == sorted(wf["statuses"])
    for _, st, deps in tasks:  # nothing started before all it depends on completed
        if st != "pending":
            assert all(status[str(d)] == "completed" for d in deps)
    assert sum(1 for *_, deps in tasks if not deps) == 1


def test_schedules_one_overdue_one_paused_one_disabled(filled):
    truth, con = filled
    rows = con.execute(
        "SELECT name, state, next_run_at, queue_name FROM absurd.scheduled_tasks"
    ).fetchall()
    assert [r[0] for r in rows] == truth["schedules"]["names"] and len(rows) >= 10
    overdue = [r[0] for r in rows if r[1] == "active" and r[2] < NOW]
    assert overdue == [o["name"] for o in truth["schedules"]["overdue"]] == ["hourly_health_check"]
    assert (
        Counter(r[1] for r in rows)["paused"] == 1 and Counter(r[1] for r in rows)["disabled"] == 1
    )
    assert {r[3] for r in rows} == {"dsa110-pipeline"}


def test_ingestion_groups_with_missing_subbands(filled):
    truth, con = filled
    ing = truth["ingestion"]
    by_state = dict(con.execute("SELECT state, count(*) FROM absurd.ingestion_groups GROUP BY 1"))
    assert by_state == ing["groups_by_state"] and by_state["completed"] >= 8
    for g in DAY.incomplete_groups:
        have = {
            r[0]
            for r in con.execute(
                "SELECT subband_idx FROM absurd.ingestion_subbands WHERE group_id = %s",
                (g["group_id"],),
            )
        }
        assert (
            sorted(set(range(16)) - have)
            == g["missing_subbands"]
            == ing["missing_subbands"][g["group_id"]]
        )
        count, state = con.execute(
            "SELECT subband_count, state FROM absurd.ingestion_groups WHERE group_id = %s",
            (g["group_id"],),
        ).fetchone()
        assert (count, state) == (16 - len(g["missing_subbands"]), "collecting")
    failed = con.execute(
        "SELECT group_id, error_message, completed_at IS NOT NULL FROM "
        "absurd.ingestion_groups WHERE state = 'failed'"
    ).fetchall()
    assert failed == [(DAY.failed_groups[0], GROUP_ERROR, True)]
    ms = {
        r[0]
        for r in con.execute(
            "SELECT ms_path FROM absurd.ingestion_groups WHERE state = 'completed'"
        )
    }
    assert set(DAY.ms_paths) <= ms


def test_the_same_seed_gives_the_same_day_and_another_seed_another(filled, queue_url):
    truth, con = filled
    cols = (
        "task_name, status, attempt, worker_id, error, created_at, claimed_at, completed_at, "
        "wait_time_sec"
    )
    query = f"SELECT {cols} FROM absurd.tasks ORDER BY created_at, task_name"
    again = fill_queue(queue_url, day=DAY)
    with connect(queue_url) as other:
        assert other.execute(query).fetchall() == con.execute(query).fetchall()
    assert again["counts"] == truth["counts"]
    assert [t.created for t in plan_day(DAY, seed=1).tasks] != [
        t.created for t in plan_day(DAY, seed=42).tasks
    ]


def test_a_database_with_queue_rows_is_not_filled_again(filled_url):
    url, _ = filled_url
    with pytest.raises(NotPermittedError, match="already holds"):
        fill_queue(url, day=DAY, queue="another")


def test_queue_url_for_a_demo_dir_is_short_and_stable(tmp_path):
    url = queue_url_for(tmp_path / "demo")
    assert url.startswith("postgresql://postgres@/dsa110_absurd?host=/tmp/dsa110-pg-")
    assert url == queue_url_for(tmp_path / "demo" / ".." / "demo")


def test_bulk_load_writes_a_status_mix_with_the_indexes_kept(queue_url, con):
    out = bulk_load_tasks(queue_url, 20_000, seed=7)
    assert out["by_status"] == _by_status(con, "dsa110-pipeline")
    assert sum(out["by_status"].values()) == 20_000
    assert out["by_status"]["completed"] > 0.9 * 20_000 and out["by_status"]["failed"] > 0
    old_open = con.execute(
        "SELECT count(*) FROM (SELECT status FROM absurd.tasks ORDER BY "
        "created_at DESC OFFSET 50) AS old WHERE status IN ('pending', "
        "'claimed')"
    ).fetchone()[0]
    assert old_open == 0 and out["by_status"]["pending"] > 0  # only the newest are open
    n_idx = con.execute(
        "SELECT count(*) FROM pg_indexes WHERE schemaname = 'absurd' AND tablename = 'tasks'"
    ).fetchone()[0]
    assert n_idx == 8
    bad = con.execute(
        "SELECT count(*) FROM absurd.tasks WHERE status = 'completed' AND "
        "abs(extract(epoch FROM completed_at - claimed_at) - execution_time_sec) "
        "> 1e-3"
    ).fetchone()[0]
    assert bad == 0
