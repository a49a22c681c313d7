"""w.tasks over a real PostgreSQL holding the demo's queue day, checked against the day's
truth and against the same questions asked in plain SQL."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from _queue_helpers import digest

from dsa110_ws.demo.queue.db import connect
from dsa110_ws.errors import InvalidQueryError, NotFoundError, NotPermittedError

Q, DLQ = "dsa110-pipeline", "dsa110-pipeline-dlq"


def _sql(url: str, sql: str, *args) -> list[tuple]:
    with connect(url, autocommit=True) as con:
        return con.execute(sql, args).fetchall()


def test_stats_per_queue_are_the_deployments_own_counts(qws, day_url, day_truth):
    stats = qws.tasks.stats().set_index("queue_name")
    assert list(stats.index) == [Q, DLQ]
    for queue, counts in day_truth["counts"].items():
        row = stats.loc[queue]
        assert {s: int(row[s]) for s in counts} == counts
        assert int(row["total"]) == sum(counts.values())
    direct = _sql(day_url, "SELECT s.* FROM absurd.get_queue_stats(%s) AS s", Q)[0]
    assert (
        tuple(
            int(x)
            for x in stats.loc[
                Q, ["pending", "claimed", "completed", "failed", "cancelled", "retrying", "total"]
            ]
        )
        == direct
    )


def test_an_empty_dead_letter_queue_still_has_its_row(qws, day_url):
    with connect(day_url, autocommit=True) as con:
        con.execute("DELETE FROM absurd.tasks WHERE queue_name = %s", (DLQ,))
    stats = qws.tasks.stats().set_index("queue_name")
    assert int(stats.loc[DLQ, "total"]) == 0 and Q in stats.index


def test_list_filters_and_orders_newest_first(qws, day_truth):
    failed = qws.tasks.list(status="failed", limit=None)
    assert set(failed["task_id"].astype(str)) == {t["task_id"] for t in day_truth["failed"]}
    assert failed["created_at"].is_monotonic_decreasing
    lock = qws.tasks.list(name="pipeline-job", status="failed")
    assert len(lock) == sum(t["task_name"] == "pipeline-job" for t in day_truth["failed"])
    worker = day_truth["workers"][0]
    mine = qws.tasks.list(worker=worker, limit=None)
    assert len(mine) and set(mine["worker_id"]) == {worker}
    dlq = qws.tasks.list(queue=DLQ)
    assert len(dlq) == sum(day_truth["counts"][DLQ].values())


def test_list_limit_reports_truncation_and_a_window_narrows(qws, day_truth):
    with pytest.warns(Warning, match="truncated"):
        top = qws.tasks.list(limit=10)
    assert len(top) == 10 and top.attrs["truncated"]
    last_hour = qws.tasks.list(since="1h", limit=None)
    now = pd.Timestamp(day_truth["now"])
    assert len(last_hour) and (last_hour["created_at"] >= now - pd.Timedelta(hours=1)).all()
    assert len(last_hour) < day_truth["n_tasks"]


def test_list_refuses_an_unknown_status(qws):
    with pytest.raises(InvalidQueryError, match="Unknown task status 'broken'"):
        qws.tasks.list(status="broken")


def test_show_one_task_whole(qws, day_truth):
    wf = day_truth["workflow"]
    last = wf["task_ids"][-1]
    info = qws.tasks.show(last)
    assert info.task_id == last and info.workflow_id == wf["workflow_id"]
    assert info.depends_on and set(info.depends_on) <= set(wf["task_ids"])
    d = info.to_dict()
    for col in (
        "params",
        "result",
        "error",
        "attempt",
        "max_retries",
        "created_at",
        "claimed_at",
        "completed_at",
        "wait_time_sec",
        "execution_time_sec",
        "depends_on",
        "workflow_id",
        "queue_name",
        "task_name",
        "status",
    ):
        assert col in d


def test_show_a_failed_task_with_the_log_of_its_ms_job(qws, day_truth):
    ms_jobs = set(qws.jobs.find(limit=None)["ms_path"].dropna())
    candidates = [t for t in day_truth["failed"] if t["ms_path"] in ms_jobs]
    assert candidates, "the demo day must have a failed task on an MS with a pipeline job"
    info = qws.tasks.show(candidates[0]["task_id"])
    assert info.error == candidates[0]["error"]
    job = qws.jobs.find(ms_path=info.ms_path, limit=None).iloc[:1]
    assert info.job_id == int(job["id"].iloc[0])
    assert (
        info.log_excerpt
        and info.log_excerpt.splitlines()[-1] == str(job["logs"].iloc[0]).splitlines()[-1]
    )


def test_show_refuses_malformed_and_unknown_ids(qws):
    with pytest.raises(InvalidQueryError, match="not a UUID"):
        qws.tasks.show("12; DROP TABLE absurd.tasks")
    with pytest.raises(NotFoundError, match="No task 00000000-0000-0000-0000-000000000000"):
        qws.tasks.show("00000000-0000-0000-0000-000000000000")


def test_stuck_is_claimed_past_its_own_timeout(qws, day_truth):
    stuck = qws.tasks.stuck()
    assert list(stuck["task_id"].astype(str)) == [t["task_id"] for t in day_truth["stuck"]]
    assert stuck["age_s"].iloc[0] == pytest.approx(day_truth["stuck"][0]["age_s"], abs=1.0)
    assert stuck["limit_s"].iloc[0] == day_truth["stuck"][0]["timeout_sec"]
    # every other claimed task is within its limit
    claimed = qws.tasks.list(status="claimed", limit=None)
    assert len(claimed) > len(stuck)


def test_stuck_after_s_applies_to_tasks_without_a_timeout(qws, day_url, day_truth):
    with connect(day_url, autocommit=True) as con:
        con.execute("UPDATE absurd.tasks SET timeout_sec = NULL WHERE status = 'claimed'")
    held = {
        str(t): s
        for t, s in _sql(
            day_url,
            "SELECT task_id, extract(epoch FROM (%s::timestamptz - claimed_at)) FROM "
            "absurd.tasks WHERE status = 'claimed'",
            day_truth["now"],
        )
    }
    stuck = qws.tasks.stuck()
    want = {t for t, s in held.items() if s > qws.settings.sections.queue.stuck_after_s}
    assert set(stuck["task_id"].astype(str)) == want and (stuck["limit_s"] == 3600.0).all()


def test_dead_letter_has_the_dlq_and_the_exhausted_tasks(qws, day_truth):
    dl = qws.tasks.dead_letter().assign(task_id=lambda d: d["task_id"].astype(str))
    in_dlq = set(dl.loc[dl["why"] == "dead-letter queue", "task_id"])
    exhausted = set(dl.loc[dl["why"] == "retries exhausted", "task_id"])
    assert in_dlq == {t["task_id"] for t in day_truth["dead_letter"]}
    assert exhausted == {t["task_id"] for t in day_truth["failed"] if t["exhausted"]}


def test_workers_counts_agree_with_sql(qws, day_url, day_truth):
    df = qws.tasks.workers(since="7d").set_index("worker_id")
    assert set(df.index) == set(day_truth["workers"])
    rows = _sql(
        day_url,
        "SELECT worker_id, count(*) FILTER (WHERE status = 'claimed'), "
        "count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = "
        "'failed') FROM absurd.tasks WHERE worker_id IS NOT NULL GROUP BY 1",
    )
    for worker, running, done, failed in rows:
        assert (df.loc[worker, "running"], df.loc[worker, "done"], df.loc[worker, "failed"]) == (
            running,
            done,
            failed,
        )
        assert df.loc[worker, "failure_rate"] == pytest.approx(failed / (done + failed))


def test_failures_group_by_cause_with_ids_and_paths_normalised(qws, day_truth):
    groups = qws.tasks.failures(since="2d")
    by = {g["cause"]: g for _, g in groups.iterrows()}
    lock = [c for c in by if "acquiring lock" in c]
    assert len(lock) == 1, list(by)  # three errors on three paths are one cause
    n_lock = sum("acquiring lock" in (t["error"] or "") for t in day_truth["failed"])
    assert by[lock[0]]["n"] == n_lock and by[lock[0]]["task_names"] == ["pipeline-job"]
    assert int(groups["n"].sum()) == len(day_truth["failed"])
    assert groups["n"].is_monotonic_decreasing


def test_durations_percentiles_match_numpy(qws, day_url, day_truth):
    df = qws.tasks.durations(since="2d").set_index("task_name")
    rows = _sql(
        day_url,
        "SELECT task_name, wait_time_sec, execution_time_sec FROM absurd.tasks"
        " WHERE completed_at IS NOT NULL AND completed_at < %s",
        day_truth["now"],
    )
    name = Counter(r[0] for r in rows).most_common(1)[0][0]
    waits = np.array([r[1] for r in rows if r[0] == name and r[1] is not None], float)
    assert df.loc[name, "wait_p50_s"] == pytest.approx(np.percentile(waits, 50))
    assert df.loc[name, "wait_p99_s"] == pytest.approx(np.percentile(waits, 99))


def test_workflows_progress_and_graph(qws, day_truth):
    wf = day_truth["workflow"]
    df = qws.tasks.workflows().assign(workflow_id=lambda d: d["workflow_id"].astype(str))
    row = df.set_index("workflow_id").loc[wf["workflow_id"]]
    assert row["progress"] == pytest.approx(wf["completed_tasks"] / wf["total_tasks"])
    graph = qws.tasks.workflow_graph(wf["workflow_id"])
    assert list(graph["nodes"]["task_id"]) == wf["task_ids"]
    assert list(graph["nodes"]["status"]) == wf["statuses"]
    info = {t: qws.tasks.show(t) for t in wf["task_ids"]}
    assert set(graph["edges"]) == {(d, t) for t, i in info.items() for d in i.depends_on}


def test_schedules_say_which_is_overdue(qws, day_truth):
    df = qws.tasks.schedules().set_index("name")
    assert set(df.index) == set(day_truth["schedules"]["names"])
    overdue = set(df.index[df["overdue"]])
    assert overdue == {o["name"] for o in day_truth["schedules"]["overdue"]}


def test_summary_headline_numbers(qws, day_truth):
    s = qws.tasks.summary()
    main = day_truth["counts"][Q]
    assert s["pending"] == main.get("pending", 0) and s["running"] == main.get("claimed", 0)
    assert s["stuck"] == len(day_truth["stuck"])
    assert s["dead_letter"] == sum(day_truth["counts"][DLQ].values())
    now = datetime.fromisoformat(day_truth["now"])
    assert s["failed_1h"] == sum(
        1
        for t in qws.tasks.list(status="failed", limit=None)["completed_at"]
        if (now - t.to_pydatetime()).total_seconds() <= 3600
    )


def test_reads_change_nothing(qws, day_url, day_truth):
    before = digest(day_url)
    t = qws.tasks
    t.stats(), t.list(limit=None), t.stuck(), t.dead_letter(), t.workers(), t.failures()
    t.durations(), t.workflows(), t.schedules(), t.summary(), t.oldest_pending_s()
    (
        t.show(day_truth["failed"][0]["task_id"]),
        t.workflow_graph(day_truth["workflow"]["workflow_id"]),
    )
    qws.ingest.groups(), qws.ingest.incomplete(), qws.health.check(names=["task-queue"])
    assert digest(day_url) == before


def test_retry_and_cancel_need_writes_allowed(qws, day_url, day_truth):
    before = digest(day_url)
    with pytest.raises(NotPermittedError, match="writes to the task queue database are off"):
        qws.tasks.retry(day_truth["failed"][-1]["task_id"])
    assert digest(day_url) == before


def test_retry_goes_through_the_deployments_function_and_is_audited(qws_writable, day_truth):
    w = qws_writable
    task = next(t for t in day_truth["failed"] if not t["exhausted"])
    r = w.tasks.retry(task["task_id"])
    assert (r.before["status"], r.after["status"]) == ("failed", "pending")
    assert r.after["attempt"] == task["attempt"] and r.after["worker_id"] is None
    audit = w.state.audit_log(limit=5)
    row = audit[audit["id"] == r.audit_id].iloc[0]
    assert row["action"] == "task_retry" and row["target"] == task["task_id"]
    assert row["outcome"] == "done"


def test_a_retry_past_max_retries_is_refused_with_the_tasks_status(
    qws_writable, day_url, day_truth
):
    w = qws_writable
    task = next(t for t in day_truth["failed"] if t["exhausted"])
    before = digest(day_url)
    with pytest.raises(InvalidQueryError, match=r"is failed and has used 3 of its 3 attempts"):
        w.tasks.retry(task["task_id"])
    assert digest(day_url) == before
    refused = w.state.audit_log(limit=1).iloc[0]
    assert (refused["action"], refused["outcome"]) == ("task_retry", "failed")
    assert "3 of its 3 attempts" in refused["message"]


def test_cancel_of_a_claimed_task_is_refused_naming_its_worker(qws_writable, day_truth):
    stuck = day_truth["stuck"][0]
    with pytest.raises(InvalidQueryError, match=r"is claimed \(held by lxd110h"):
        qws_writable.tasks.cancel(stuck["task_id"])


def test_cancel_of_a_pending_task(qws_writable, day_truth):
    pending = qws_writable.tasks.list(queue=Q, status="pending", limit=None)
    r = qws_writable.tasks.cancel(pending["task_id"].iloc[0])
    assert (r.before["status"], r.after["status"]) == ("pending", "cancelled")


def test_retrying_a_failure_group_reports_both_kinds(qws_writable, day_truth):
    w = qws_writable
    groups = w.tasks.failures(since="2d")
    # the normalize-group failure exhausted its retries: refused; the lock errors: retried
    lock = groups[groups["cause"].str.contains("acquiring lock")].iloc[0]
    out = w.tasks.retry_failures(lock["cause"], since="2d")
    assert out["n_retried"] == lock["n"] and out["n_refused"] == 0
    exhausted = groups[groups["cause"].str.contains("integration time")].iloc[0]
    out = w.tasks.retry_failures(exhausted["cause"], since="2d")
    assert out["n_retried"] == 0 and out["n_refused"] == exhausted["n"]
    assert all("3 of its 3 attempts" in why for why in out["refused"].values())


def test_without_a_queue_every_view_says_how_to_configure_it(workspace_no_queue):
    from dsa110_ws.services.operations import QueueNotConfigured

    t = workspace_no_queue.tasks
    assert not t.configured
    for call in (t.stats, t.list, t.stuck, t.summary, lambda: t.show("x")):
        with pytest.raises(
            QueueNotConfigured, match="task queue not configured: set ABSURD_DATABASE_URL"
        ):
            call()
    assert "task-queue" not in [c["name"] for c in workspace_no_queue.health.checks()]


@pytest.fixture()
def workspace_no_queue(writable_demo, tmp_path):
    """The demo's SQLite without its queue directory: nothing to start, nothing configured."""
    import dsa110_ws

    w = dsa110_ws.connect(writable_demo / "settings.toml", state_dir=tmp_path / "s")
    yield w
    w.close()


# -- the health check ---------------------------------------------------------------------------
def _queue_check(w):
    rep = w.health.check(names=["task-queue"])
    return rep, rep["task-queue"]


def test_health_grades_the_queue_against_its_thresholds(qws, day_truth):
    rep, c = _queue_check(qws)
    assert c.kind == "queue" and rep.status == c.status == "warning"
    s = qws.tasks.summary()
    assert {k: c.value[k] for k in s} == s
    assert 1 <= s["failed_1h"] < 10 and s["dead_letter"] >= 1 and s["stuck"] == 1
    assert c.value["graded"] == {
        "failed_1h": "warning",
        "dead_letter": "warning",
        "oldest_pending_minutes": "warning",
        "stuck": "warning",
    }
    assert 30 <= c.value["oldest_pending_minutes"] < 180
    assert f"DLQ {s['dead_letter']}" in c.detail and f"{s['stuck']} stuck" in c.detail


def test_health_thresholds_come_from_the_settings(demo_dir, tmp_path, day_url):
    import dsa110_ws

    health = {
        "queue_dead_letter": [10, 20],
        "queue_stuck": [2, 3],
        "queue_failed_1h": [5, 9],
        "queue_oldest_pending_minutes": [600, 900],
    }
    w = dsa110_ws.connect(
        demo_dir / "settings.toml",
        state_dir=tmp_path / "s",
        queue_url=day_url,
        sections={"health": health},
    )
    try:
        assert _queue_check(w)[1].status == "ok"
    finally:
        w.close()


def test_failures_in_the_last_hour_make_it_critical(qws, day_url, day_truth):
    base = qws.tasks.failed_count(since="1h")
    with connect(day_url, autocommit=True) as con:
        ids = [
            con.execute(
                "SELECT absurd.spawn_task(%s, 'imaging', '{}', 1000)",  # first out
                (Q,),
            ).fetchone()[0]
            for _ in range(12)
        ]
        for tid in ids:
            con.execute("SELECT absurd.claim_task(%s, 'lxd110h99-feedbeef')", (Q,))
            con.execute("SELECT absurd.fail_task(%s, 'casacore: table is locked')", (tid,))
        # on the demo's clock: failed ten minutes before its "now" (and 5 after: not counted)
        con.execute(
            "UPDATE absurd.tasks SET completed_at = %s::timestamptz - interval '10 min'"
            " WHERE task_id = ANY(%s)",
            (day_truth["now"], ids[:11]),
        )
        con.execute(
            "UPDATE absurd.tasks SET completed_at = %s::timestamptz + interval '5 min'"
            " WHERE task_id = %s",
            (day_truth["now"], ids[11]),
        )
    qws.tasks.memo.clear()  # reads are shared for [queue] cache_s; we changed it behind them
    rep, c = _queue_check(qws)
    assert c.value["failed_1h"] == base + 11 and c.value["graded"]["failed_1h"] == "critical"
    assert rep.status == "critical" and rep.exit_code == 2


def test_an_unreachable_queue_is_critical_in_one_line(demo_dir, tmp_path):
    import dsa110_ws

    w = dsa110_ws.connect(
        demo_dir / "settings.toml",
        state_dir=tmp_path / "s",
        queue_url="postgresql://absurd:pw@127.0.0.1:1/dsa110_absurd",
    )
    try:
        rep, c = _queue_check(w)
    finally:
        w.close()
    assert c.status == "critical" and "task queue unreachable" in c.detail
    assert "127.0.0.1:1" in c.detail and "pw@" not in c.detail and "\n" not in c.detail


def test_views_refreshing_together_share_one_read_until_a_write(qws_writable, day_url, day_truth):
    t = qws_writable.tasks
    first = t.stats()
    assert t.memo.misses == 1
    with connect(day_url, autocommit=True) as con:  # a worker spawns a task meanwhile
        con.execute("SELECT absurd.spawn_task(%s, 'imaging', '{}')", (Q,))
    again = t.stats()
    assert t.memo.hits == 1 and again.equals(first)  # the same moment's answer, not re-read
    again.loc[0, "total"] = -1  # a caller's copy: the shared frame is untouched
    assert t.stats().loc[0, "total"] == first.loc[0, "total"]
    t.retry(next(x for x in day_truth["failed"] if not x["exhausted"])["task_id"])
    fresh = t.stats().set_index("queue_name")  # a write clears the shared reads
    assert int(fresh.loc[Q, "total"]) == int(first.set_index("queue_name").loc[Q, "total"]) + 1


def test_concurrent_callers_make_one_query(qws):
    import concurrent.futures as cf

    t = qws.tasks
    with cf.ThreadPoolExecutor(4) as pool:
        frames = list(pool.map(lambda _: t.stats(), range(8)))
    assert t.memo.misses == 1 and t.memo.hits == 7
    assert all(f.equals(frames[0]) for f in frames)


def test_cache_s_zero_reads_every_time(demo_dir, tmp_path, day_url):
    import dsa110_ws

    w = dsa110_ws.connect(
        demo_dir / "settings.toml",
        state_dir=tmp_path / "s",
        queue_url=day_url,
        sections={"queue": {"cache_s": 0}},
    )
    try:
        before = int(w.tasks.stats().set_index("queue_name").loc[Q, "total"])
        with connect(day_url, autocommit=True) as con:
            con.execute("SELECT absurd.spawn_task(%s, 'imaging', '{}')", (Q,))
        assert int(w.tasks.stats().set_index("queue_name").loc[Q, "total"]) == before + 1
    finally:
        w.close()
