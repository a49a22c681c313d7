"""Retry and cancel from the panels, with writes allowed: confirmed first, audited, and a
refusal shown as one line with the task's actual status."""

from __future__ import annotations

from _queue_helpers import digest

from dsa110_ws.panels import FailuresPanel, TaskQueuePanel


def test_retry_from_the_task_panel_asks_first_then_acts(qws_writable, day_url, day_truth):
    p = TaskQueuePanel(qws_writable)
    p.status_select.value, p.window_select.value = "failed", "last 7 days"
    task = next(t for t in day_truth["failed"] if not t["exhausted"])
    p.task_table.select(task["task_id"])
    assert p.selected_task == task["task_id"] and not p.retry_button.disabled
    before = digest(day_url)
    p.retry_button.click()
    assert p.pending_action == f"retry:{task['task_id']}" and digest(day_url) == before
    p.abort()
    assert p.pending_action == "" and digest(day_url) == before  # nothing changed
    p.retry_button.click()
    p.confirm_box.confirm_button.click()
    assert p.status.level == "ok", p.last_error
    assert f"retry {task['task_id'][:8]}: failed -> pending (audit record" in p.status.message
    assert qws_writable.tasks.show(task["task_id"]).status == "pending"
    assert p.info.status == "pending"  # the detail was read again


def test_a_refused_cancel_is_one_line_naming_the_status(qws_writable, day_truth):
    p = TaskQueuePanel(qws_writable)
    stuck = day_truth["stuck"][0]["task_id"]
    p.stuck_table.select(stuck)  # picked where an operator sees it: the stuck tasks
    assert p.selected_task == stuck and "held for" in p.detail.value
    p.cancel_button.click()
    p.confirm_box.confirm_button.click()
    assert p.status.level == "error" and "is claimed (held by" in p.last_error
    assert qws_writable.tasks.show(stuck).status == "claimed"


def test_retrying_a_failure_group_from_the_panel_reports_the_split(qws_writable, day_truth):
    f = FailuresPanel(qws_writable)
    f.window_select.value = "last 7 days"
    lock = f.failures[f.failures["cause"].str.contains("acquiring lock")].iloc[0]
    f.table.select(lock["cause"])
    f.ask()
    assert f.pending_cause == lock["cause"] and "Retry all 3 tasks" in f.confirm_box.text.value
    f.confirm()
    assert "3 retried, 0 not." in f.status.value and f.status.level == "ok"
    exhausted = f.failures[f.failures["cause"].str.contains("integration time")].iloc[0]
    f.table.select(exhausted["cause"])
    f.ask()
    f.confirm()
    assert "0 retried, 1 not" in f.status.value and f.status.level == "warning"
    assert "spawn a new task instead" in f.status.value
