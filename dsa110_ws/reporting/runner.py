"""Run a report template: validate, execute with papermill, render, publish atomically.

Layout of an output root::

    <out>/index.html                      every report with status and headline metrics
    <out>/<kind>/<label>/report.ipynb     executed notebook
                         report.html      rendered without code cells
                         metrics.json     headline metrics and their status
                         provenance.json  parameters, versions, settings, data window, git
    <out>/<kind>/<label>.failed-<UTC stamp>/report.failed.ipynb, provenance.json

A run works in a hidden temporary folder next to its target and only a complete, good
run replaces ``<label>/`` (rename the old one aside, rename the new one in, delete the
old).  A failed run never touches the last good report.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dsa110_ws.core.severity import Severity, worst
from dsa110_ws.errors import NotPermittedError, WorkspaceError, one_line
from dsa110_ws.reporting._metric import overall_status, status_rank
from dsa110_ws.reporting.execute import cell_seconds, execute_notebook
from dsa110_ws.reporting.params import (
    ReportParameterError,
    ReportParams,
    report_settings,
    validate_params,
)
from dsa110_ws.reporting.publish import locked, publish, write_json
from dsa110_ws.reporting.templates import TEMPLATES, TITLES, template_path

if TYPE_CHECKING:
    from dsa110_ws.config import Settings

__all__ = [
    "run_report",
    "ReportResult",
    "default_out_dir",
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_INVALID",
    "EXIT_THRESHOLD",
]

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_THRESHOLD = 0, 1, 2, 3


@dataclasses.dataclass(frozen=True)
class ReportResult:
    """What :func:`run_report` did.

    Attributes
    ----------
    status
        ``ok`` (published), ``failed`` (kernel or template error; partial notebook kept) or
        ``invalid`` (bad parameters or template; nothing was started).
    exit_code
        0 ok, 1 failed, 2 invalid, 3 ok but metrics at or above ``fail_on``.
    output_dir
        The published folder, or the ``*.failed-*`` folder; ``None`` when invalid.
    kernel_started
        Whether papermill was invoked and a kernel came up.
    overall
        Worst metric status (``ok``/``unknown``/``warning``/``critical``), when published.
    timings
        Seconds: ``kernel_start_s``, ``data_s`` (cells), ``render_s``, ``total_s``.
    """

    kind: str
    status: str
    exit_code: int
    label: str | None = None
    output_dir: Path | None = None
    params: ReportParams | None = None
    error: str | None = None
    papermill_invoked: bool = False
    kernel_started: bool = False
    overall: str | None = None
    metrics: tuple[dict[str, Any], ...] = ()
    timings: Mapping[str, float] = dataclasses.field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def summary(self) -> str:
        """One line for the command line."""
        if self.status == "invalid":
            return f"error: {self.error}"
        if self.status == "failed":
            return f"report {self.kind} {self.label} FAILED: {self.error} (partial notebook in {self.output_dir})"
        return (
            f"report {self.kind} {self.label}: {self.overall} -> {self.output_dir} "
            f"({self.timings.get('total_s', 0):.1f} s)"
        )


def default_out_dir(settings: Settings) -> Path:
    """``[reports] out_dir`` from the settings file, else ``<state_dir>/reports``."""
    configured = settings.sections.reports.out_dir
    if configured:
        path = Path(os.path.expanduser(str(configured)))
        if not path.is_absolute() and settings.settings_file is not None:
            path = settings.settings_file.parent / path
        return path
    return Path(settings.state_dir) / "reports"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _prepare(
    kind: str, params: Mapping[str, Any] | None, template: Any, now: dt.datetime | None
) -> tuple[ReportParams, Any, Path]:
    if kind not in TEMPLATES:
        raise ReportParameterError(
            f"Unknown report kind {kind!r}; choose one of {sorted(TEMPLATES)}."
        )
    raw = dict(params or {})
    settings = report_settings(raw.get("settings") or None)
    if settings.settings_file is not None and not raw.get("settings"):
        raw["settings"] = str(settings.settings_file)  # pin the data source the kernel reads
    if now is None:
        now = (
            dt.datetime.fromisoformat(settings.now).replace(tzinfo=dt.UTC)
            if settings.now
            else _utcnow()
        )
    return validate_params(kind, raw, now=now), settings, template_path(kind, template)


def run_report(
    kind: str,
    params: Mapping[str, Any] | None = None,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    fail_on: str | None = None,
    template: str | os.PathLike[str] | None = None,
    timeout_s: float = 1800.0,
    start_timeout_s: float = 120.0,
    now: dt.datetime | None = None,
) -> ReportResult:
    """Validate parameters, execute a report template and publish it atomically.

    Parameters
    ----------
    kind
        ``"qa"`` (nightly QA) or ``"stats"``.
    params
        Report parameters (see ``reports/README.md``); unknown names are refused.
    out_dir
        Output root (default ``[reports] out_dir`` of the settings, else
        ``<state_dir>/reports``).
    fail_on
        ``"warning"`` or ``"critical"``: exit code 3 when the overall status is at least
        that bad (the report is still published).
    template
        Another template notebook (default ``reports/<kind template>``).
    timeout_s, start_timeout_s
        Per-cell execution timeout and kernel start-up timeout, seconds.
    now
        Clock for ``yesterday``/``today`` (default: the workspace clock).

    Returns
    -------
    ReportResult
        Never raises for bad parameters or a failing notebook: see ``status``/``exit_code``.
    """
    t0 = time.perf_counter()
    started = _utcnow()
    try:
        if fail_on not in (None, "warning", "critical"):
            raise ReportParameterError(f"fail_on={fail_on!r}: use 'warning' or 'critical'.")
        p, settings, tpl = _prepare(kind, params, template, now)
        root = _out_root(settings, out_dir)
        _check_replaceable(root / kind / p.label)
        tmp = _workdir(root / kind, p.label)
    except (ReportParameterError, WorkspaceError) as exc:
        return ReportResult(kind, "invalid", EXIT_INVALID, error=one_line(exc))
    marks: dict[str, float] = {}
    t_exec = time.perf_counter()
    error, t_cells = _execute_and_render(
        tpl,
        tmp,
        {**p.notebook_parameters(), "metrics_path": str(tmp / "metrics.json")},
        title=f"{TITLES[kind]}: {p.label}",
        timeout_s=timeout_s,
        start_timeout_s=start_timeout_s,
        marks=marks,
    )
    timings = _timings(
        t0,
        t_exec,
        t_cells,
        time.perf_counter(),
        marks,
        tmp / "report.ipynb",
        failed=error is not None,
    )
    common = dict(
        kind=kind,
        label=p.label,
        params=p,
        requested=dict(params or {}),
        settings=settings,
        template=tpl,
        started_at=started,
        timings=timings,
    )
    if error is not None:
        return _fail(tmp, root / kind, root, error=error, marks=marks, **common)
    return _succeed(tmp, root / kind / p.label, root, fail_on=fail_on, marks=marks, **common)


def _out_root(settings: Settings, out_dir: str | os.PathLike[str] | None) -> Path:
    """The output root: never among the pipeline's files (data and log roots, its
    database's folder), created when missing."""
    root = Path(out_dir) if out_dir is not None else default_out_dir(settings)
    out: Path = settings.path_policy().output_dir(root, what="report output folder")
    return out


def _check_replaceable(final: Path) -> None:
    """A report folder is replaced only when a report run made it (its provenance.json)."""
    if final.exists() and not (final / "provenance.json").is_file():
        raise NotPermittedError(
            f"{final} exists and is not a report this workspace published (no provenance.json):"
            " refusing to replace it; choose another --out."
        )


def _workdir(kind_dir: Path, label: str) -> Path:
    """A fresh hidden folder next to the target (same file system: renames are atomic)."""
    try:
        kind_dir.mkdir(parents=True, exist_ok=True)
        tmp = kind_dir / f".tmp-{label}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
    except OSError as exc:
        raise ReportParameterError(
            f"Cannot create the report folder under {kind_dir}: {exc.strerror or exc}; "
            "choose a writable --out."
        ) from None
    return tmp


def _execute_and_render(
    tpl: Path,
    tmp: Path,
    injected: dict[str, Any],
    *,
    title: str,
    timeout_s: float,
    start_timeout_s: float,
    marks: dict[str, float],
) -> tuple[str | None, float]:
    """Run the notebook in ``tmp`` and render its HTML; ``(error or None, time cells ended)``."""
    nb_path = tmp / "report.ipynb"
    try:
        execute_notebook(
            tpl,
            nb_path,
            injected,
            cwd=tmp,
            timeout_s=timeout_s,
            start_timeout_s=start_timeout_s,
            marks=marks,
        )
        t_cells = time.perf_counter()
        if not (tmp / "metrics.json").is_file():
            raise RuntimeError(
                "the template did not write metrics.json "
                "(it must call write_metrics(..., metrics_path))"
            )
        from dsa110_ws.reporting.render import render_html

        render_html(nb_path, tmp / "report.html", title=title)
    except Exception as exc:  # noqa: BLE001 - any failure must keep the partial output
        return _describe(exc), time.perf_counter()
    return None, t_cells


def _describe(exc: BaseException) -> str:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PapermillExecutionError):
        return f"cell {exc.exec_count}: {exc.ename}: {' '.join(str(exc.evalue).split())}"
    return one_line(exc)


def _timings(
    t0: float,
    t_exec: float,
    t_cells: float,
    t_end: float,
    marks: dict[str, float],
    nb_path: Path,
    *,
    failed: bool,
) -> dict[str, float]:
    ready = marks.get("ready")
    kernel = (ready - t_exec) if ready else 0.0
    data = cell_seconds(nb_path)
    return {
        "prepare_s": round(t_exec - t0, 4),
        "kernel_start_s": round(kernel, 4),
        "data_s": round(data, 4),
        "kernel_other_s": round(max(t_cells - t_exec - kernel - data, 0.0), 4)
        if not failed
        else 0.0,
        "render_s": round(t_end - t_cells, 4) if not failed else 0.0,
        "total_s": round(t_end - t0, 4),
    }


def _provenance(status: str, error: str | None, files: dict[str, str], **common: Any):
    from dsa110_ws.reporting.provenance import build_provenance

    return build_provenance(
        status=status, error=error, finished_at=_utcnow(), files=files, **common
    )


def _fail(
    tmp: Path, kind_dir: Path, root: Path, *, error: str, marks: dict[str, float], **common: Any
) -> ReportResult:
    label = common["label"]
    if (tmp / "report.ipynb").exists():
        os.replace(tmp / "report.ipynb", tmp / "report.failed.ipynb")
    (tmp / "report.html").unlink(missing_ok=True)
    files = {"notebook": "report.failed.ipynb"} if (tmp / "report.failed.ipynb").exists() else {}
    write_json(tmp / "provenance.json", _provenance("failed", error, files, **common))
    stamp = _utcnow().strftime("%Y%m%dT%H%M%SZ")
    failed = kind_dir / f"{label}.failed-{stamp}-{uuid.uuid4().hex[:4]}"
    with locked(root):
        os.replace(tmp, failed)
        _rebuild_index(root)
    return ReportResult(
        common["kind"],
        "failed",
        EXIT_FAILED,
        label=label,
        output_dir=failed,
        params=common["params"],
        error=error,
        papermill_invoked=True,
        kernel_started="ready" in marks,
        timings=common["timings"],
    )


def _succeed(
    tmp: Path,
    final: Path,
    root: Path,
    *,
    fail_on: str | None,
    marks: dict[str, float],
    **common: Any,
) -> ReportResult:
    doc = json.loads((tmp / "metrics.json").read_text())
    metrics = tuple(doc.get("metrics", []))
    # a section that failed raised the document's status (reporting._sections)
    overall = worst([overall_status(metrics), Severity.parse(doc.get("status"))]).value
    files = {"notebook": "report.ipynb", "html": "report.html", "metrics": "metrics.json"}
    write_json(tmp / "provenance.json", _provenance("ok", None, files, **common))
    with locked(root):
        publish(tmp, final)
        _rebuild_index(root)
    breach = fail_on is not None and status_rank(overall) >= status_rank(fail_on)
    return ReportResult(
        common["kind"],
        "ok",
        EXIT_THRESHOLD if breach else EXIT_OK,
        label=common["label"],
        output_dir=final,
        params=common["params"],
        papermill_invoked=True,
        kernel_started="ready" in marks,
        overall=overall,
        metrics=metrics,
        timings=common["timings"],
    )


def _rebuild_index(root: Path) -> None:
    from dsa110_ws.reporting.index import write_index

    write_index(root)
