"""The panel machinery: status line, guarded callbacks, background work, the paged table
and the auto-refresh timer."""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest

from dsa110_ws.errors import NotFoundError
from dsa110_ws.panels._base import Panel
from dsa110_ws.panels._paged import PagedTable
from dsa110_ws.panels._widgets import AutoRefresh, StatusLine


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
    assert t.first.layout.display is None and t.filter.layout.display is None  # all usable
    t.set_data(df.iloc[:3])
    assert t.page == 0 and t.n_pages == 1 and t.selected is None
    # one page of three rows: no pager, no sort or filter (nothing for them to do)
    assert t.first.layout.display == t.next.layout.display == "none"
    assert t.sort_by.layout.display == t.filter.layout.display == "none"


def _rows(t: PagedTable) -> list[str]:
    """The first cell of each shown row, read from the HTML the page gets."""
    import re

    return re.findall(r"<tr><td[^>]*>([^<]*)</td>", t.html.value)


def test_paged_table_sorts_the_whole_frame_numerically_with_missing_values_last():
    # 25 rows over three pages; 1- to 3-digit fluxes, where text order differs from numbers'
    flux = [float((i * 37) % 101) for i in range(25)]
    flux[3] = float("nan")
    df = pd.DataFrame({"name": [f"s{i:02d}" for i in range(25)], "flux": flux})
    by_flux = sorted((v, f"s{i:02d}") for i, v in enumerate(flux) if v == v)
    t = PagedTable(page_size=10)
    t.set_data(df)
    assert _rows(t)[:3] == ["s00", "s01", "s02"]  # as listed
    t.sort_by.value = "flux"
    assert _rows(t) == [n for _, n in by_flux[:10]]  # the frame's 10 smallest, not the page's
    assert pd.isna(t.view["flux"].iloc[-1])  # missing last
    t.descending.value = True
    assert pd.isna(t.view["flux"].iloc[-1])  # missing last either way
    t.next.click()
    assert t.page == 1 and _rows(t) == [n for _, n in by_flux[::-1][10:20]]
    t.set_data(df.iloc[::-1])  # a refresh keeps the viewer's sort
    assert t.sort_by.value == "flux" and _rows(t) == [n for _, n in by_flux[::-1][:10]]


def test_paged_table_filter_matches_shown_text_and_clears_a_hidden_selection():
    df = pd.DataFrame(
        {
            "ms": ["/d/2026-11-10T01.ms", "/d/2026-11-11T02.ms", "/d/2026-11-11T03.ms"],
            "state": ["FAILED", "ok", "Failed"],
        },
        index=[10, 11, 12],
    )
    t = PagedTable(selectable=True, formatters={"state": str.lower})
    t.set_data(df)
    t.select(10)
    assert t.selected == 10
    t.filter.value = "failed"  # case-insensitive, on the shown (formatted) text
    assert list(t.view.index) == [10, 12] and "(filtered from 3)" in t.info.value
    assert t.selected == 10
    t.filter.value = "11-11"
    assert list(t.view.index) == [11, 12] and t.selected is None  # filtered out: cleared
    t.filter.value = "nothing like it"
    assert t.n_rows == 0 and "No row matches" in t.html.value and "0 of 3" in t.info.value
    t.select(10)  # selecting a hidden row clears the filter
    assert t.filter.value == "" and t.selected == 10


def test_paged_table_sorts_a_mixed_column_as_text():
    df = pd.DataFrame({"v": [3, "b", None, "a", 1]})
    t = PagedTable()
    t.set_data(df)
    t.sort_by.value = "v"
    assert list(t.view["v"].iloc[:4]) == [1, 3, "a", "b"] and t.view["v"].iloc[4] is None


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


def test_paged_table_controls_appear_from_six_rows_and_a_vanished_sort_column_resets():
    t = PagedTable()
    t.set_data(pd.DataFrame({"a": range(5), "b": range(5)}))
    assert t.sort_by.layout.display == "none" and "filtered" not in t.info.value
    t.set_data(pd.DataFrame({"a": range(6), "b": range(6)}))
    assert t.sort_by.layout.display is None and t.filter.layout.display is None
    t.sort_by.value = "a"
    t.descending.value = True
    t.set_data(pd.DataFrame({"a": range(8), "c": range(8)}))  # new columns, "a" still there
    assert t.sort_by.value == "a" and t.view["a"].iloc[0] == 7
    t.sort_by.value = "c"
    t.set_data(pd.DataFrame({"a": range(7)}))  # the sorted column is gone: as listed
    assert t.sort_by.value == "(as listed)" and list(t.sort_by.options) == ["(as listed)", "a"]
    assert "rows 1-7 of 7 " in t.info.value and "filtered" not in t.info.value


def test_a_small_table_builds_no_controls_until_it_needs_them():
    """Every widget is a model each viewer's page creates: a table of a handful of rows on
    one page holds its label and its HTML only; more rows build the pager, sort and
    filter, which then work; a table without a picker builds none."""
    import ipywidgets as widgets

    def models(t: PagedTable) -> set:
        seen, todo = set(), [t]
        while todo:
            x = todo.pop()
            if id(x) in seen:
                continue
            seen.add(id(x))
            for name in x.keys:
                v = getattr(x, name, None)
                todo += [
                    c
                    for c in (v if isinstance(v, list | tuple) else [v])
                    if isinstance(c, widgets.Widget)
                ]
        return seen

    t = PagedTable(page_size=3)
    t.set_data(pd.DataFrame({"a": [3, 1, 2]}))
    assert t._nav is None and t._picker is None and len(models(t)) <= 8
    assert t.info.value.startswith("rows 1-3 of 3") and ">3<" in t.html.value
    small = len(models(t))
    t.set_data(pd.DataFrame({"a": range(9, -1, -1)}))  # 10 rows, 4 pages: controls appear
    assert t._nav is not None and t.children[0] is t._nav and t.info in t._nav.children
    assert len(models(t)) > small + 10
    t.next.click()
    assert t.page == 1 and t.info.value.startswith("rows 4-6 of 10")
    t.sort_by.value = "a"
    assert t.page == 0 and list(t.page_frame()["a"]) == [0, 1, 2]
    picked = PagedTable(selectable=True)
    picked.set_data(pd.DataFrame({"a": [1, 2]}))
    assert picked.picker in picked.children and len(picked.picker.options) == 2
