"""The task-queue panels over the demo state's PostgreSQL, checked against its truth."""

from __future__ import annotations

import pytest

from dsa110_ws.panels import (
    FailuresPanel,
    OperationsDashboard,
    TaskQueuePanel,
    WorkersPanel,
    WorkflowPanel,
)

Q, DLQ = "dsa110-pipeline", "dsa110-pipeline-dlq"


def test_task_queue_panel_counts_tasks_and_stuck(workspace, truth):
    q = truth["queue"]
    p = TaskQueuePanel(workspace)
    assert p.last_error == "" and p.status.level == "warning"  # one task is stuck
    stats = p.stats.set_index("queue_name")
    for queue, counts in q["counts"].items():
        assert {s: int(stats.loc[queue, s]) for s in counts} == counts
    html = p.counts_html.value
    assert f"data-queue='{DLQ}'" in html and f"failed <b>{q['counts'][Q]['failed']}</b>" in html
    assert list(p.stuck["task_id"].astype(str)) == [t["task_id"] for t in q["stuck"]]
    assert "6.7 h" in p.stuck_table.html.value
    assert p.summary == workspace.tasks.summary()
    assert not hasattr(p, "retry_button")  # read-only: no action buttons at all
    assert any("DSA110_WS_ALLOW_WRITES=1" in getattr(c, "value", "") for c in p.children)


def test_task_queue_panel_filters_and_shows_a_task_with_its_log(workspace, truth):
    q = truth["queue"]
    p = TaskQueuePanel(workspace)
    p.status_select.value = "failed"
    p.window_select.value = "last 7 days"
    assert set(p.tasks["task_id"].astype(str)) == {t["task_id"] for t in q["failed"]}
    p.name_text.value = "pipeline-job"
    assert set(p.tasks["task_name"]) == {"pipeline-job"} and len(p.tasks) == 3
    with_job = set(workspace.jobs.find(limit=None)["ms_path"].dropna())
    tid = next(
        t["task_id"]
        for t in q["failed"]
        if t["task_name"] == "pipeline-job" and t["ms_path"] in with_job
    )
    p.task_table.select(tid)
    assert p.selected_task == tid and p.info is not None and p.info.task_id == tid
    assert "acquiring lock" in p.detail.value and "dsa-task-error" in p.detail.value
    assert p.info.log_excerpt and "dsa-task-log" in p.detail.value
    p.queue_select.value = DLQ
    assert p.tasks.empty and p.detail.value == ""  # the selection left the table


def test_workers_failures_and_workflow_panels(workspace, truth):
    q = truth["queue"]
    w = WorkersPanel(workspace)
    assert set(w.workers["worker_id"]) == set(q["workers"]) and w.last_error == ""
    assert "%" in w.table.html.value
    f = FailuresPanel(workspace)
    f.window_select.value = "last 7 days"
    assert int(f.failures["n"].sum()) == len(q["failed"])
    lock = f.failures[f.failures["cause"].str.contains("acquiring lock")]
    assert len(lock) == 1 and int(lock["n"].iloc[0]) == 3
    assert not hasattr(f, "retry_button")
    wf = WorkflowPanel(workspace)
    assert list(wf.workflows["workflow_id"].astype(str)) == [q["workflow"]["workflow_id"]]
    wf.wait()
    assert wf.graph.value[:8] == b"\x89PNG\r\n\x1a\n" and len(wf.graph.value) > 5000


def test_the_operations_dashboard_has_the_queue_section_and_headline(workspace, truth):
    d = OperationsDashboard(workspace, timer="thread")
    d.wait()
    s = workspace.tasks.summary()
    assert {k: d.kpis[k] for k in ("pending", "running", "failed_1h", "stuck_tasks")} == {
        "pending": s["pending"],
        "running": s["running"],
        "failed_1h": s["failed_1h"],
        "stuck_tasks": s["stuck"],
    }
    assert s["stuck"] == len(truth["queue"]["stuck"])
    for label in (">pending<", ">running<", ">failed (1 h)<", ">stuck<"):
        assert label in d.kpi_html.value
    assert {"tasks", "failures", "workers", "ingest"} <= set(d.parts)
    for name in ("tasks", "failures", "workers"):
        assert d.parts[name].last_error == "", name
    d.close()


def test_without_a_queue_the_dashboard_says_so_and_shows_na(writable_demo, tmp_path):
    import dsa110_ws

    w = dsa110_ws.connect(writable_demo / "settings.toml", state_dir=tmp_path / "s")
    d = OperationsDashboard(w, timer="thread")
    try:
        d.wait()
        assert "tasks" not in d.parts
        assert all(d.kpis[k] == "n/a" for k in ("pending", "running", "failed_1h", "stuck_tasks"))
        section = [c for c in d.children if "dsa-queue-section" in c._dom_classes]
        assert section and "task queue not configured: set ABSURD_DATABASE_URL" in section[0].value
        p = TaskQueuePanel(w)
        assert p.status.level == "error" and "ABSURD_DATABASE_URL" in p.last_error
    finally:
        d.close()
        w.close()


@pytest.mark.parametrize("cls", [TaskQueuePanel, WorkersPanel, FailuresPanel, WorkflowPanel])
def test_an_unreachable_queue_is_one_line_in_every_panel(demo_dir, tmp_path, cls):
    import dsa110_ws

    w = dsa110_ws.connect(
        demo_dir / "settings.toml",
        state_dir=tmp_path / "s",
        queue_url="postgresql://absurd:hunter2@127.0.0.1:1/dsa110_absurd",
    )
    try:
        p = cls(w)
        p.wait()
        assert p.status.level == "error" and "127.0.0.1:1" in p.last_error
        assert "hunter2" not in p.last_error and "\n" not in p.last_error
    finally:
        w.close()


def test_a_page_that_finished_building_gets_every_widget_state_again(workspace, monkeypatch):
    import ipywidgets as widgets

    from dsa110_ws.panels._beacon import walk

    d = OperationsDashboard(workspace, timer="thread")
    try:
        d.wait()
        sent: list[widgets.Widget] = []
        real = widgets.Widget.send_state
        monkeypatch.setattr(
            widgets.Widget,
            "send_state",
            lambda self, key=None: (sent.append(self), real(self, key))[1],
        )
        d.beacon.ready += 1  # what the beacon's front end does once the page rendered it
        everything = [w for w in walk(d) if w is not d.beacon]
        resent = [w for w in sent if w is not d.beacon]  # (the bump itself syncs the beacon)
        assert d.resyncs == 1 and len(resent) == len(everything) > 100
        assert {id(w) for w in resent} == {id(w) for w in everything}
        assert d.parts["tasks"].counts_html in sent and d.kpi_html in sent
    finally:
        d.close()
