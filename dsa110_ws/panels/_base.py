"""The base of every panel: a status line, progress, guarded callbacks and background work.

A panel is an ``ipywidgets.VBox`` whose state lives in traits and attributes, so a test
can set a control and check the derived state without a browser.  Work that reads the
database or files runs through :meth:`Panel.run`: in a worker thread when the panel lives
in a Jupyter kernel (the page stays responsive), synchronously otherwise (plain Python,
tests).  Every callback is guarded: the package's errors become one readable line in the
status line, unexpected ones too (and are logged); nothing raises into the kernel.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import functools
import html
import logging
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import ipywidgets as widgets
import traitlets

from dsa110_ws.errors import WorkspaceError, as_schema_error, one_line
from dsa110_ws.panels._paged import PagedTable
from dsa110_ws.panels._table import DataTable
from dsa110_ws.panels._widgets import AutoRefresh, StatusLine

if TYPE_CHECKING:
    from dsa110_ws.workspace import Workspace

__all__ = ["Panel", "in_kernel", "truncation_allowed"]

log = logging.getLogger("dsa110_ws.panels")
log.addHandler(logging.NullHandler())


_WARNINGS_LOCK = threading.Lock()


@contextlib.contextmanager
def truncation_allowed() -> Iterator[None]:
    """Silence the repositories' ``TruncatedResultWarning`` (the panel reads
    ``df.attrs["truncated"]`` and says so on its status line instead).

    ``warnings.catch_warnings`` is process-global, so panel threads take turns.
    """
    from dsa110_ws.repositories import TruncatedResultWarning

    with _WARNINGS_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", TruncatedResultWarning)
        yield


def in_kernel() -> bool:
    """Whether we run inside a Jupyter kernel (where widgets have a live front end)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with ipywidgets
        return False
    ip = get_ipython()
    return ip is not None and getattr(ip, "kernel", None) is not None


class Panel(widgets.VBox):
    """Base class: ``status`` line, ``progress`` bar, :meth:`run`, :meth:`refresh`.

    Parameters
    ----------
    workspace
        The :class:`~dsa110_ws.Workspace` to show.
    background
        Run loads in a worker thread (default: only inside a Jupyter kernel).
    refresh_s
        Auto-refresh interval in seconds; ``None`` hides the auto-refresh control.
    auto_refresh
        Start refreshing on the timer immediately.
    timer
        ``"thread"`` (a kernel thread) or ``"browser"`` (ticks from the page; lets Voila
        cull the kernel of an abandoned page).
    """

    title: ClassVar[str] = ""
    refresh_label: ClassVar[str] = "auto-refresh"
    #: Names of the attributes that decide what :meth:`_load` reads, when its result may
    #: be shared with every other kernel over the same state (``w.shared``); ``None``: not
    #: shared (the load has side effects, or its result is private to this panel).
    shared_params: ClassVar[tuple[str, ...] | None] = None
    busy = traitlets.Bool(False)
    last_error = traitlets.Unicode("")
    refreshed_at = traitlets.Float(0.0)

    def __init__(
        self,
        workspace: Workspace,
        *,
        background: bool | None = None,
        refresh_s: float | None = None,
        auto_refresh: bool = False,
        timer: str = "thread",
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.w = workspace
        self.background = in_kernel() if background is None else bool(background)
        self.status = StatusLine("", layout=widgets.Layout(min_height="1.6em"))
        self.progress = widgets.FloatProgress(
            value=0.0, min=0.0, max=1.0, layout=widgets.Layout(visibility="hidden", width="30%")
        )
        self.errors: list[BaseException] = []
        self._executor: cf.ThreadPoolExecutor | None = None
        self._pending: list[cf.Future] = []
        self._generations: dict[str, int] = {}
        self._lock = threading.Lock()
        self.auto: AutoRefresh | None = None
        if refresh_s is not None:
            self.auto = AutoRefresh(
                self.refresh, interval_s=refresh_s, driver=timer, label=self.refresh_label
            )
        body = self._guarded_build()
        header = (
            [widgets.HTML(f"<h3 style='margin:4px 0'>{html.escape(self.title)}</h3>")]
            if self.title
            else []
        )
        controls = [self.auto] if self.auto is not None else []
        footer = widgets.HBox([self.status, self.progress])
        self.children = [*header, *controls, *body, footer]
        self.add_class("dsa-panel")
        if self.auto is not None and auto_refresh:
            self.auto.enabled = True

    def __repr__(self) -> str:  # short text instead of the widget tree (plain-text outputs)
        state = self.status.message or "loading"
        return f"<{type(self).__name__} {self.title!r}: {state}>"

    def link_values(self, *pairs: tuple[widgets.Widget, str]) -> None:
        """Two-way link each control's ``value`` to the panel trait of that name; the
        control starts at the trait's value (the panel's default or argument)."""
        for control, name in pairs:
            value = getattr(self, name)
            options = getattr(control, "options", None)
            if options is None or value in [o[1] if isinstance(o, tuple) else o for o in options]:
                control.value = value  # (a choice not offered yet waits for its options)
            widgets.link((control, "value"), (self, name))

    # -- to override -------------------------------------------------------------------
    def _build(self) -> list[widgets.Widget]:
        """Create the panel's widgets (no database access here)."""
        return []

    def _load(self) -> Any:
        """Read what the panel shows (runs in the worker thread; no widget changes)."""
        return None

    def _show(self, data: Any) -> None:
        """Put loaded data on screen."""

    # -- status --------------------------------------------------------------------------
    def show_status(self, message: str, level: str = "info") -> None:
        """Show one line of status text."""
        self.status.show(message, level)

    def show_error(self, exc: BaseException) -> None:
        """Show an error as one readable line (and keep it in ``errors``); a ``KeyError``
        naming a pipeline column is shown as the schema mismatch it is."""
        exc = as_schema_error(exc, f"the {self.title or type(self).__name__} panel")
        self.errors.append(exc)
        self.last_error = one_line(exc)
        self.status.show(self.last_error, "error")
        if not isinstance(exc, WorkspaceError):
            log.error("panel %s: unexpected error", type(self).__name__, exc_info=exc)

    def report_progress(self, done: float, total: float, text: str | None = None) -> None:
        """Update the progress bar (safe to call from the worker thread)."""
        self.progress.value = 0.0 if total <= 0 else min(1.0, float(done) / float(total))
        if text:
            self.status.show(text, "busy")

    # -- guarded calls ----------------------------------------------------------------------
    def guard(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Wrap a callback so that errors go to the status line, never into the kernel."""

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - shown on the status line, logged
                self.show_error(exc)
                return None

        return wrapper

    def _guarded_build(self) -> list[widgets.Widget]:
        try:
            return self._build()
        except Exception as exc:  # noqa: BLE001
            self.show_error(exc)
            return []

    # -- work ---------------------------------------------------------------------------------
    def run(
        self,
        work: Callable[[], Any],
        done: Callable[[Any], Any] | None = None,
        *,
        what: str = "loading",
        channel: str = "main",
        failed: Callable[[BaseException], Any] | None = None,
    ) -> cf.Future | None:
        """Run ``work()`` and then ``done(result)``, in the background when enabled.

        A newer call on the same ``channel`` supersedes an older one still running: the
        older result is dropped.  Errors end up on the status line (and go to ``failed``,
        if given).  Returns the future in background mode.
        """
        with self._lock:
            gen = self._generations.get(channel, 0) + 1
            self._generations[channel] = gen

        def current() -> bool:
            return self._generations.get(channel) == gen

        self.busy = True
        self.progress.value = 0.0
        self.progress.layout.visibility = "visible"
        self.status.show(f"{what} ...", "busy")

        def job() -> None:
            t0 = time.perf_counter()
            try:
                result = work()
                if not current():
                    return
                if done is not None:
                    done(result)
                if self.status.level == "busy":
                    self.status.show(f"{what}: done in {time.perf_counter() - t0:.1f} s", "ok")
            except Exception as exc:  # noqa: BLE001 - shown, logged; never into the kernel
                if current():
                    if failed is not None:  # (first: what it triggers must not hide the error)
                        with contextlib.suppress(Exception):
                            failed(exc)
                    self.show_error(exc)
            finally:
                if current():
                    self.busy = False
                    self.progress.layout.visibility = "hidden"

        if not self.background:
            job()
            return None
        if self._executor is None:
            self._executor = cf.ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"dsa110-ws-{type(self).__name__}"
            )
        fut = self._executor.submit(job)
        self._pending = [f for f in self._pending if not f.done()] + [fut]
        return fut

    def refresh(self) -> cf.Future | None:
        """Reload what the panel shows."""

        def done(data: Any) -> None:
            self.last_error = ""  # (set again if what is shown still has a failed part)
            self._show(data)
            self.refreshed_at = time.time()

        load = self._load if self.shared_params is None else self._shared_load
        return self.run(
            load,
            done,
            what=f"refreshing {self.title or 'panel'}".strip(),
            failed=self._show_unavailable,
        )

    def _show_unavailable(self, exc: BaseException) -> None:
        """A refresh failed: every table of this panel says so in one line (none keeps
        its empty text, an "all clear", or rows of an earlier refresh).  Panels with
        other views override it."""
        why = one_line(as_schema_error(exc, f"the {self.title or type(self).__name__} panel"))
        for table in self.own_tables():
            table.set_unavailable(why)

    def own_tables(self) -> list[PagedTable | DataTable]:
        """This panel's tables (not those of panels nested in it)."""
        out: list[PagedTable | DataTable] = []

        def walk(widget: Any) -> None:
            for child in getattr(widget, "children", ()):
                if isinstance(child, PagedTable | DataTable):
                    out.append(child)
                elif not isinstance(child, Panel):
                    walk(child)

        walk(self)
        return out

    def _shared_load(self) -> Any:
        """:meth:`_load` through the workspace's shared cache: the first kernel of a
        refresh reads the databases, the others take its result."""
        s = self.w.settings
        key = (
            "panel",
            type(self).__qualname__,
            tuple((n, getattr(self, n)) for n in self.shared_params or ()),
            str(s.settings_file),
            str(s.pipeline_db),
            repr(self.w.clock),  # a frozen clock's time; "real time" otherwise
        )
        return self.w.shared.get(key, self._load)

    def wait(self, timeout: float = 120.0) -> None:
        """Block until queued background work has finished (for scripts and tests)."""
        deadline = time.monotonic() + timeout
        while True:
            pending = [f for f in self._pending if not f.done()]
            if not pending:
                return
            cf.wait(pending, timeout=max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"{type(self).__name__}: background work still running after {timeout:g} s"
                )

    def close(self) -> None:
        """Stop the timer and the worker thread, then close the widgets."""
        if self.auto is not None:
            self.auto.stop()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
        super().close()
