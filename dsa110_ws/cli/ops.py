"""``dsa110-ws jobs | health | logs | cal | stats``: operations from the command line.

Thin wrappers over ``w.jobs``, ``w.actions``, ``w.health``, ``w.logs``, ``w.calhealth`` and
``w.stats``.  ``--json`` output is the services' ``to_dict()`` / DataFrame records.
``health`` exits 2 when any check is critical, 1 on a warning, 0 otherwise.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from dsa110_ws.cli._common import echo_json, echo_table, interruptible, note, workspace

if TYPE_CHECKING:
    from astropy.time import Time

    from dsa110_ws.workspace import Workspace

__all__ = ["jobs", "health", "logs", "cal", "stats"]


def _time(w: Workspace, text: str | None) -> Time | None:
    """TIME (ISO, MJD, 'yesterday') or a duration before now ('6h', '2d'); None stays None.

    Read on the workspace clock by the one parser (:func:`dsa110_ws.core.time.to_time`).
    """
    if text is None:
        return None
    from dsa110_ws.core.time import parse_duration, to_time
    from dsa110_ws.errors import InvalidQueryError

    try:
        ago = parse_duration(text)
    except InvalidQueryError:
        value: Any = text
        with contextlib.suppress(ValueError):
            value = float(text)
        return to_time(value, now=w.now(), what="time")
    return to_time(f"{ago.total_seconds()}s ago", now=w.now())


def _utc(unix: Any) -> str:
    import math

    from dsa110_ws.core.time import iso_utc

    try:
        x = float(unix)
    except (TypeError, ValueError):
        return ""
    return "" if math.isnan(x) else iso_utc(x)[:19]


#: Columns holding paths: printed cut on the left, so the file name stays.
_PATHS = ("ms_path", "path", "image_path", "source_ms_path")


def _table(df: Any, columns: list[str]) -> None:
    echo_table(df, columns, paths=_PATHS)


# -- jobs ------------------------------------------------------------------------------------
@click.group(invoke_without_command=True)
@click.option("--status", "statuses", multiple=True, help="Stored status (repeatable).")
@click.option("--type", "jtype", default=None, help="Job type (convert, calibrate, image, ...).")
@click.option("--since", default=None, help="Created at/after TIME or duration ago (6h, 2d).")
@click.option("--until", default=None, help="Created before TIME.")
@click.option(
    "--limit",
    default=100,
    show_default=True,
    type=click.IntRange(1, 100_000_000),
    help="Most recent jobs shown.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def jobs(
    ctx: click.Context,
    statuses: tuple[str, ...],
    jtype: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """List pipeline jobs (newest first), or act on them (rerun, cancel, retry, show)."""
    if ctx.invoked_subcommand is not None:
        return
    w = workspace()
    df = w.jobs.find(
        status=list(statuses) or None,
        type=jtype,
        start=_time(w, since),
        end=_time(w, until),
        limit=limit,
    )
    if as_json:
        keep = [
            "id",
            "type",
            "status",
            "ms_path",
            "created_at",
            "started_at",
            "finished_at",
            "duration_s",
            "failure_reason",
            "artifact_paths",
        ]
        echo_json(df[keep])
        return
    df = df.assign(created=[_utc(x) for x in df["created_at"]])
    _table(df, ["id", "type", "status", "created", "duration_s", "failure_reason", "ms_path"])
    if df.attrs.get("truncated"):
        note(f"showing the newest {limit} jobs; pass --limit for more")


@jobs.command("show")
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True)
def jobs_show(job_id: str, as_json: bool) -> None:
    """One job with its logs."""
    info = workspace().jobs.get(job_id)
    if as_json:
        echo_json(info.to_dict())
        return
    for k, v in info.to_dict().items():
        if k == "logs":
            continue
        if k.endswith("_at") and v is not None:
            v = f"{_utc(v)} UTC"  # stored as Unix seconds
        click.echo(f"{k:>15}: {'' if v is None else v}".rstrip())
    click.echo(info.logs or "")


@jobs.command("rerun")
@click.argument("job_id", required=False)
@click.option("--ms", "ms_path", default=None, help="Rerun this MS instead of a job's.")
@click.option("--reason", default=None, help="Why (kept in the job's params and the audit).")
@click.option("--no-command", is_flag=True, help="Only queue the job; skip rerun_command.")
def jobs_rerun(
    job_id: str | None, ms_path: str | None, reason: str | None, no_command: bool
) -> None:
    """Queue a rerun (a pending 'pipeline_rerun' job) of JOB_ID's MS or of --ms PATH."""
    if (job_id is None) == (ms_path is None):
        raise click.UsageError("give either JOB_ID or --ms PATH")
    w = workspace()
    if ms_path is not None:
        r = w.actions.rerun_ms(ms_path, reason=reason, run_command=not no_command)
    else:
        r = w.actions.rerun_job(job_id, reason=reason, run_command=not no_command)
    job = r.after.get("pending_rerun_job") or {}
    verb = "queued" if r.changed else "already pending:"
    click.echo(
        f"{verb} rerun job {job.get('id')} for {job.get('ms_path')} (audit record {r.audit_id})"
    )
    cmd = r.after.get("command")
    if cmd:
        click.echo(
            f"ran: {cmd['command_line']} -> exit {cmd['returncode']}"
            + (f" ({cmd['error']})" if cmd.get("error") else "")
        )


@jobs.command("cancel")
@click.argument("batch_id")
def jobs_cancel(batch_id: str) -> None:
    """Cancel a pending or running batch job and its pending items."""
    r = workspace().actions.cancel_batch(batch_id)
    click.echo(
        f"batch {batch_id}: {r.before['status']} -> {r.after['status']}"
        f"{'' if r.changed else ' (nothing to change)'} (audit record {r.audit_id})"
    )


@jobs.command("retry")
@click.argument("batch_id")
def jobs_retry(batch_id: str) -> None:
    """Re-queue the failed items of a batch job."""
    r = workspace().actions.retry_batch_failed(batch_id)
    n = r.before["items"].get("failed", 0) if r.changed else 0
    click.echo(
        f"batch {batch_id}: {n} failed item(s) re-queued, status {r.after['status']} "
        f"(audit record {r.audit_id})"
    )


@jobs.command("batches")
@click.option("--json", "as_json", is_flag=True)
def jobs_batches(as_json: bool) -> None:
    """Batch jobs with item progress."""
    df = workspace().jobs.batches()
    if as_json:
        echo_json(df)
        return
    df = df.assign(
        created=[_utc(x) for x in df["created_at"]],
        progress=[f"{100 * p:.0f}%" for p in df["progress"]],
    )
    _table(
        df,
        [
            "id",
            "type",
            "status",
            "created",
            "n_items",
            "n_done",
            "n_failed",
            "n_pending",
            "n_cancelled",
            "progress",
        ],
    )


# -- health ----------------------------------------------------------------------------------
@click.command()
@click.option("--check", "names", multiple=True, help="Only this check (repeatable).")
@click.option(
    "--strict",
    is_flag=True,
    help="Treat an overall 'unknown' (a check that could not run) as a warning (exit 1).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def health(ctx: click.Context, names: tuple[str, ...], strict: bool, as_json: bool) -> None:
    """Service and data health; exit status 0 ok, 1 warning, 2 critical, 3 unknown."""
    from dsa110_ws.errors import (
        ConfigurationError,
        DatabaseBusyError,
        DataUnavailableError,
        InvalidQueryError,
        WorkspaceError,
        one_line,
    )

    try:
        w = workspace()
        rep = w.health.check(names=list(names) or None)
    except WorkspaceError as exc:  # no workspace: the database (or the settings) is unusable
        if isinstance(exc, InvalidQueryError) and not isinstance(exc, ConfigurationError):
            raise  # a wrong --check name: the usual one-line error, exit 1
        bad = isinstance(exc, (DataUnavailableError, DatabaseBusyError))
        status, what = ("critical", "database") if bad else ("unknown", "settings")
        if as_json:
            echo_json(
                {
                    "status": status,
                    "checks": [{"name": what, "status": status, "detail": one_line(exc)}],
                    "exit_code": 2 if bad else 3,
                }
            )
        else:
            click.echo(f"overall: {status.upper()}")
            click.echo(f"  {status:<8} {what:<28} {one_line(exc)}")
        ctx.exit(2 if bad else 3)
    code = rep.exit_code
    if strict and rep.status == "unknown":
        code = 1
    if as_json:
        echo_json({**rep.to_dict(), "dashboard_kernels": w.kernels.summary(), "exit_code": code})
    else:
        click.echo(f"overall: {rep.status.upper()}  (at {rep.at[:19]} UTC)")
        for c in rep.checks:
            click.echo(f"  {c.status:<8} {c.name:<28} {c.detail}  [{c.latency_ms:.0f} ms]")
        click.echo(f"  {w.kernels.describe()}")
    ctx.exit(code)


# -- logs ------------------------------------------------------------------------------------
@click.command()
@click.argument("run_id", required=False, metavar="[RUN_ID|JOB_ID]")
@click.option("--level", default=None, help="Minimum level (INFO, WARNING, ERROR, ...).")
@click.option("--grep", "pattern", default=None, help="Regular expression to keep lines.")
@click.option("--since", default=None, help="Lines at/after TIME.")
@click.option("--until", default=None, help="Lines before TIME.")
@click.option(
    "--tail",
    "n_tail",
    default=200,
    show_default=True,
    type=click.IntRange(0, 1_000_000),
    help="Last N lines.",
)
@click.option("--follow", "-f", is_flag=True, help="Keep printing new lines (Ctrl-C stops).")
@click.option("--interval", default=1.0, show_default=True, help="--follow poll interval, s.")
@click.option("--max-seconds", default=None, type=float, help="Stop following after this.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines instead of text.")
def logs(
    run_id: str | None,
    level: str | None,
    pattern: str | None,
    since: str | None,
    until: str | None,
    n_tail: int,
    follow: bool,
    interval: float,
    max_seconds: float | None,
    as_json: bool,
) -> None:
    """Show a run's log: RUN_ID is a run id (calibrate-000026) or the job id that
    `dsa110-ws jobs` prints (26); without RUN_ID list the runs."""
    w = workspace()
    if run_id is None:
        df = w.logs.runs()
        df = df.assign(modified=[_utc(x) for x in df["modified_at"]])
        _table(df, ["run_id", "size_bytes", "modified", "path"])
        return
    emit = _emit_json if as_json else _emit_text
    if not follow:
        df = w.logs.read(
            run_id,
            level=level,
            pattern=pattern,
            start=_time(w, since),
            end=_time(w, until),
            tail=n_tail,
        )
        emit(df)
        if df.attrs.get("truncated"):
            click.echo(f"({df.attrs['truncated']})", err=True)
        return
    _follow(
        w,
        run_id,
        level=level,
        pattern=pattern,
        n_tail=n_tail,
        interval=interval,
        max_seconds=max_seconds,
        emit=emit,
    )


def _emit_text(df: Any) -> None:
    for raw in df["raw"]:
        click.echo(raw)


def _emit_json(df: Any) -> None:
    import json

    from dsa110_ws.cli._common import to_jsonable

    for rec in df.drop(columns=["raw"]).to_dict(orient="records"):
        click.echo(json.dumps(to_jsonable(rec)))


def _follow(
    w: Any,
    run_id: str,
    *,
    level: str | None,
    pattern: str | None,
    n_tail: int,
    interval: float,
    max_seconds: float | None,
    emit: Any,
) -> None:
    interruptible()  # Ctrl-C stops, even when started in the background with SIGINT ignored
    # the last lines first, read from the end (never the whole file), then what is new
    df, offset = w.logs.start_follow(run_id, n_tail, level=level, pattern=pattern)
    emit(df)
    sys.stdout.flush()
    t0 = time.monotonic()
    try:
        while max_seconds is None or time.monotonic() - t0 < max_seconds:
            time.sleep(max(0.05, interval))
            df, offset = w.logs.follow(run_id, offset, level=level, pattern=pattern)
            if df.attrs.get("restarted"):
                click.echo(f"-- {df.attrs['restarted']} --", err=True)
            if len(df):
                emit(df)
                sys.stdout.flush()
    except KeyboardInterrupt:
        pass


# -- cal -------------------------------------------------------------------------------------
@click.group()
def cal() -> None:
    """Calibration health: validity, staleness, apply list, calibrator flux."""


@cal.command("health")
@click.option("--at", "at", default=None, help="TIME to judge (default now).")
@click.option("--json", "as_json", is_flag=True)
@click.option("--exit-status", is_flag=True, help="Exit 2 critical, 1 warning, 0 ok.")
@click.pass_context
def cal_health(ctx: click.Context, at: str | None, as_json: bool, exit_status: bool) -> None:
    """Nearest valid caltable set, staleness, missing types, apply list, flux alerts."""
    from dsa110_ws.services.operations import FLUX_SUMMARY_COLUMNS

    w = workspace()
    rep = w.calhealth.health(_time(w, at))
    if as_json:
        echo_json(rep.to_dict())
    else:
        n = rep.nearest
        click.echo(f"calibration: {rep.status.upper()}  at {rep.to_dict()['at_utc'][:19]} UTC")
        for r in rep.reasons:
            click.echo(f"  - {r}")
        if n.set_name:
            click.echo(
                f"nearest set: {n.set_name} ({'valid' if n.valid else 'NOT valid'}, "
                f"{n.distance_h:.1f} h, {n.staleness}); types {', '.join(n.types)}"
            )
        for i, p in enumerate(n.apply_list):
            click.echo(f"  apply {i}: {p}")
        _table(rep.flux, FLUX_SUMMARY_COLUMNS)
    if exit_status:
        ctx.exit(rep.exit_code)


@cal.command("timeline")
@click.option("--since", default=None, help="Window start (default 7 days ago).")
@click.option("--until", default=None, help="Window end (default now).")
@click.option("--json", "as_json", is_flag=True)
def cal_timeline(since: str | None, until: str | None, as_json: bool) -> None:
    """Validity coverage and gaps of the active caltable sets."""
    w = workspace()
    tl = w.calhealth.timeline(start=_time(w, since), end=_time(w, until))
    if as_json:
        echo_json(tl.to_dict())
        return
    click.echo(
        f"coverage {100 * tl.coverage_fraction:.1f}% of MJD {tl.start_mjd:.3f}-"
        f"{tl.end_mjd:.3f}; {len(tl.gaps)} gap(s)"
    )
    if tl.n_unknown_windows:
        click.echo(
            f"({tl.n_unknown_windows} active set(s) have no validity window and are not "
            "counted: see `dsa110-ws cal health`)"
        )
    from dsa110_ws.core.time import mjd_to_iso

    gaps = tl.gaps.assign(
        start_utc=[mjd_to_iso(x) for x in tl.gaps["start_mjd"]],
        end_utc=[mjd_to_iso(x) for x in tl.gaps["end_mjd"]],
    )
    _table(gaps, ["start_utc", "end_utc", "duration_h", "start_mjd", "end_mjd"])


# -- stats -----------------------------------------------------------------------------------
@click.command()
@click.option("--since", default=None, help="Window start: TIME or duration ago (default 24h).")
@click.option("--until", default=None, help="Window end (default now).")
@click.option("--per", type=click.Choice(["hour", "night"]), default="hour", show_default=True)
@click.option("--json", "as_json", is_flag=True)
def stats(since: str | None, until: str | None, per: str, as_json: bool) -> None:
    """Counts, throughput, success rates and QA over a time window."""
    w = workspace()
    start, end = _time(w, since), _time(w, until)
    summary = w.stats.summary(start=start, end=end)
    if as_json:
        echo_json(summary)
        return
    click.echo(f"window {summary['start'][:19]} - {summary['end'][:19]} UTC")
    for key, value in summary["counts"].items():
        if isinstance(value, dict):
            click.echo(f"  {key:<20} " + ", ".join(f"{k}={v}" for k, v in value.items()))
    j = summary["jobs"]
    rate = "n/a" if j["success_rate"] is None else f"{100 * j['success_rate']:.1f}%"
    click.echo(
        f"  jobs: {j['n_total']} total, {j['n_success']} ok, {j['n_failed']} failed "
        f"(success {rate})"
    )
    click.echo("  throughput: " + ", ".join(f"{k}={v}" for k, v in summary["throughput"].items()))
    tp = w.stats.throughput(start=start, end=end, per=per)
    counts = [c for c in tp.columns if c.startswith("n_")]
    _table(tp[tp[counts].sum(axis=1) > 0], list(tp.columns))
