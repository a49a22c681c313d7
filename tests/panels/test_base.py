"""The panel machinery: status line, guarded callbacks, background work, the paged table
and the auto-refresh timer."""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest

from dsa110_ws.errors import NotFoundError
from dsa110_ws.panels._base import Panel
from dsa110_ws.panels._widgets import AutoRefresh, PagedTable, StatusLine


class Counting(Panel):
    title = "counting"

    def __init__(self, workspace, fail=None, **kwargs):
        self.fail = fail
        self.loads = 0
        self.shown = None
        super().__init__(workspace, **kwargs)

    def _load(self):
        self.loads += 1
        if self.fail is not None:
            raise self.fail
        return self.loads

    def _show(self, data):
        self.shown = data


def test_status_line_folds_to_one_escaped_line():
    s = StatusLine()
    s.show("line one\n  <b>two</b>", "error")
    assert s.message == "line one <b>two</b>" and s.level == "error"
    assert "&lt;b&gt;" in s.value and "\n" not in s.value


def test_paged_table_sends_one_page_and_navigates():
    df = pd.DataFrame({"id": range(45), "x": [i * 0.5 for i in range(45)]}).set_index(
        "id", drop=False
    )
    t = PagedTable(page_size=20, selectable=True)
    t.set_data(df)
    assert t.n_pages == 3 and t.html.value.count("<tr>") == 21  # header + 20 rows
    assert "rows 1-20 of 45" in t.info.value and t.prev.disabled and not t.next.disabled
    t.next.click()
    t.next.click()
    assert t.page == 2 and "rows 41-45 of 45" in t.info.value and t.next.disabled
    assert t.html.value.count("<tr>") == 6 and ">44<" in t.html.value and ">0<" not in t.html.value
    t.select(7)
    assert t.page == 0 and t.selected == 7
    t.set_data(df.iloc[:3])
    assert t.page == 0 and t.n_pages == 1 and t.selected is None


def test_workspace_errors_become_one_status_line(workspace):
    p = Counting(workspace, fail=NotFoundError("No job with id 7.\nTry another."))
    p.refresh()
    assert p.status.level == "error" and p.last_error == "No job with id 7. Try another."
    assert p.shown is None and not p.busy


def test_unexpected_errors_are_shown_with_their_type_and_logged(workspace, caplog):
    p = Counting(workspace, fail=ZeroDivisionError("division by zero"))
    with caplog.at_level("ERROR", logger="dsa110_ws.panels"):
        p.refresh()
    assert p.last_error == "ZeroDivisionError: division by zero"
    assert any("unexpected error" in r.message for r in caplog.records)
    cb = p.guard(lambda: 1 / 0)
    assert cb() is None and p.status.level == "error"


def test_background_work_runs_off_the_calling_thread_and_newest_wins(workspace):
    p = Counting(workspace, background=True)
    seen = []
    gate = threading.Event()

    def slow():
        gate.wait(5)
        seen.append(threading.current_thread().name)
        return "old"

    first = p.run(slow, lambda r: setattr(p, "shown", r))
    second = p.run(lambda: "new", lambda r: setattr(p, "shown", r))
    assert first is not None and p.busy
    gate.set()
    p.wait(10)
    assert second.done() and p.shown == "new" and not p.busy
    assert seen and seen[0].startswith("dsa110-ws-Counting")
    p.close()


def test_thread_timer_refreshes_and_stops_cleanly(workspace):
    p = Counting(workspace, refresh_s=60)
    p.auto.interval_s = 0.05
    p.auto.enabled = True
    deadline = time.monotonic() + 10
    while p.loads < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert p.loads >= 3 and p.auto.running
    p.close()
    assert not p.auto.running and not p.auto.enabled
    n = p.loads
    time.sleep(0.2)
    assert p.loads == n


def test_browser_timer_ticks_only_while_enabled(workspace):
    calls = []
    a = AutoRefresh(lambda: calls.append(1), interval_s=30, driver="browser")
    a.play.value += 1  # what the page's Play widget does every interval
    assert calls == [] and not a.play.playing
    a.checkbox.value = True
    assert a.enabled and a.play.playing and a.play.interval == 30_000
    seen = []
    a.play.observe(lambda ch: seen.append(ch["new"]), "playing")
    a.play._view_count = 1  # the page shows the timer: it is restarted (False, then True)
    a.every.value = 5  # a new interval restarts it too
    assert seen == [False, True, False, True] and a.play.interval == 5_000
    a.play.value += 1
    a.play.value += 1
    assert len(calls) == 2 and a.ticks == 2
    a.stop()
    a.play.value += 1
    assert len(calls) == 2 and not a.play.playing


def test_timer_is_off_by_default(workspace):
    p = Counting(workspace, refresh_s=1)
    assert not p.auto.enabled and not p.auto.running
    with pytest.raises(ValueError):
        AutoRefresh(lambda: None, driver="cron")


def test_png_memo_draws_once_per_distinct_data():
    """A refresh whose rows did not change reuses the PNG; any changed value redraws."""
    import pandas as pd

    from dsa110_ws.panels._widgets import png_memo

    calls: list[int] = []

    @png_memo
    def draw(df: pd.DataFrame, label: str) -> bytes:
        calls.append(len(df))
        return f"{label}:{df['x'].sum()}".encode()

    df = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    first = draw(df, "a")
    assert draw(df.copy(), "a") == first and calls == [3]  # equal content: no redraw
    changed = df.copy()
    changed.loc[1, "x"] = 2.5
    assert draw(changed, "a") == b"a:6.5" and calls == [3, 3]
    assert draw(df, "b") == b"b:6.0" and len(calls) == 3  # another argument: redrawn
    assert draw(df.rename(columns={"x": "y"}).rename(columns={"y": "x"}), "a") == first
    assert len(calls) == 3
