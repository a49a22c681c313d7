"""JobMonitor, IngestionPanel and LogViewer over the demo state, checked against its truth."""

from __future__ import annotations

import shutil

import pytest

from dsa110_ws.panels import IngestionPanel, JobMonitor, LogViewer


def test_job_monitor_counts_and_filters_failed_jobs(workspace, truth):
    p = JobMonitor(workspace)
    assert p.status.level == "ok", p.last_error
    assert p.summary.n_failed == len(truth["failed_jobs"]) == 4
    assert ">4</b> failed" in p.summary_html.value
    n_any = len(p.jobs)
    p.status_select.value = "failed"
    assert sorted(p.jobs["id"]) == sorted(j["id"] for j in truth["failed_jobs"])
    reasons = dict(zip(p.jobs["id"], p.jobs["failure_reason"], strict=True))
    assert reasons == {j["id"]: j["reason"] for j in truth["failed_jobs"]}
    assert p.job_table.n_rows == 4 and p.job_table.info.value == "4 rows" and n_any > 4
    assert list(p.job_table.shown.columns[:3]) == ["id", "type", "status"]
    assert "duration (s)" in p.job_table.shown.columns  # units in the headers
    p.type_select.value = "calibrate"
    assert list(p.jobs["id"]) == [j["id"] for j in truth["failed_jobs"] if j["type"] == "calibrate"]
    p.window_select.value = "all"
    assert set(p.jobs["type"]) == {"calibrate"} and len(p.batches) == 6


def test_job_monitor_detail_shows_reason_and_log(workspace, truth):
    p = JobMonitor(workspace, status="failed")
    job = truth["failed_jobs"][1]
    p.job_table.select(job["id"])
    assert f"Job {job['id']}" in p.detail.value
    assert job["reason"].replace("<", "&lt;") in p.detail.value
    statuses = dict(zip(p.batches["id"], p.batches["status"], strict=True))
    partial = next(b for b, s in statuses.items() if s == "partial")
    p.batch_table.select(partial)
    assert f"Batch {partial}" in p.detail.value and "failed: 2" in p.detail.value


def test_job_monitor_is_read_only_without_writes(workspace):
    p = JobMonitor(workspace)
    shown = p.actions_box.children
    assert p.rerun_button not in shown and "Read-only" in shown[0].value
    p._ask("rerun")  # even when forced, nothing is selected: a warning, no action
    assert p.pending_action == "" and p.status.level == "warning"


def test_job_monitor_rerun_and_cancel_ask_first_then_go_through_actions(writable_workspace, truth):
    w = writable_workspace
    p = JobMonitor(w, window="all")
    before = w.repos.jobs.count()
    job = truth["failed_jobs"][0]["id"]
    p.job_table.select(job)
    p.rerun_button.click()
    assert p.pending_action == f"rerun:{job}" and p.confirm_box.layout.display == "flex"
    p.confirm_box.abort_button.click()
    assert p.pending_action == "" and w.repos.jobs.count() == before
    p.rerun_button.click()
    p.confirm_box.confirm_button.click()
    assert p.status.level == "ok", p.last_error
    assert w.repos.jobs.count() == before + 1
    assert (w.repos.jobs.find(type="pipeline_rerun", limit=None)["status"] == "pending").all()
    running = int(p.batches.loc[p.batches["status"] == "running", "id"].iloc[0])
    p.batch_table.select(running)
    p.cancel_button.click()
    p.confirm_box.confirm_button.click()
    assert w.repos.batch_jobs.get(running).status == "cancelled"
    audit = w.state.audit_log()
    assert list(audit["action"])[:2] == ["cancel_batch", "rerun"] and audit["ok"].all()


def test_queue_panel_lists_incomplete_groups_with_missing_subbands(workspace, truth):
    p = IngestionPanel(workspace)
    assert p.status.level == "warning" and p.last_error == ""
    want = {g["group_id"]: g["missing_subbands"] for g in truth["incomplete_groups"]}
    got = dict(zip(p.incomplete["group_id"], p.incomplete["missing_subbands"], strict=True))
    assert got == want
    assert "3, 7, 12" in p.incomplete_table.html.value
    assert list(p.failed["group_id"]) == truth["failed_groups"]
    assert p.counts == truth["queue"]["ingestion"]["groups_by_state"]  # the queue's, not SQLite's


def test_log_viewer_filters_and_follows(demo_dir, truth, tmp_path):
    import dsa110_ws

    run, info = next((r, i) for r, i in truth["logs"].items() if i["n_error"] == 1)
    logs = tmp_path / "logs"
    logs.mkdir()
    shutil.copy(demo_dir / "logs" / f"{run}.log", logs / f"{run}.log")
    w = dsa110_ws.connect(demo_dir / "settings.toml", state_dir=tmp_path / "s", log_roots=str(logs))
    p = LogViewer(w, run, follow=False)
    assert len(p.lines) == info["n_lines"] and p.status.level == "ok"
    p.level_select.value = "ERROR"
    assert list(p.lines["level"]) == ["ERROR"]
    reason = next(j["reason"] for j in truth["failed_jobs"] if j["id"] == info["job_id"])
    assert reason.replace("<", "&lt;") in p.text.value
    with open(logs / f"{run}.log", "a") as fh:
        fh.write(
            "2026-11-14T15:00:00.000 ERROR   dsa110.pipeline[x]: a new failure\n"
            "2026-11-14T15:00:01.000 INFO    dsa110.pipeline[x]: ignored by the filter\n"
        )
    p.refresh()  # what each follow tick does
    assert list(p.lines["message"])[-1] == "a new failure" and len(p.lines) == 2
    p.pattern_text.value = "(unclosed"
    assert p.status.level == "error" and "regular expression" in p.last_error
    p.pattern_text.value = ""
    p.run_box.value = "../../etc/passwd"
    assert p.status.level == "error" and "Invalid run id" in p.last_error
    p.close()


@pytest.mark.parametrize("cls", [JobMonitor, IngestionPanel, LogViewer])
def test_a_broken_database_path_gives_a_status_line(cls, broken_workspace):
    p = cls(broken_workspace)
    if cls is LogViewer:
        p.run_box.value = "calibrate-000001"
    assert p.status.level == "error"
    assert "missing.sqlite3" in p.last_error or "log" in p.last_error.lower()
    p.close()
