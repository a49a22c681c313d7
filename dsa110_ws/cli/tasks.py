"""``dsa110-ws tasks ...`` and ``dsa110-ws ingest``: the pipeline's task queue (Absurd).

Thin wrappers over ``w.tasks`` and ``w.ingest``.  ``--json`` records use the deployment's
column names (``absurd.tasks``, ``absurd.get_queue_stats``, ``absurd.ingestion_groups``).
Without a configured queue every ``tasks`` command says so in one line and exits 1.
"""

from __future__ import annotations

from typing import Any

import click

from dsa110_ws.cli._common import echo_json, echo_table, iso_text, note, workspace

__all__ = ["tasks", "ingest"]

_LIST_COLUMNS = [
    "task_id",
    "queue_name",
    "task_name",
    "status",
    "worker_id",
    "attempt",
    "max_retries",
    "created_at",
    "claimed_at",
    "completed_at",
    "error",
]


def _short(df: Any, *, times: tuple[str, ...] = ("created_at",)) -> Any:
    """A listing made readable in a terminal: short ids, times to the second, one-line errors."""

    out = df.copy()
    if "task_id" in out:
        out["task_id"] = [str(t)[:8] for t in out["task_id"]]
    for col in times:
        if col in out:
            out[col] = [iso_text(t)[:19] for t in out[col]]
    if "error" in out:
        out["error"] = [
            "" if not isinstance(e, str) else e.splitlines()[0][:60] for e in out["error"]
        ]
    return out


def _table(df: Any, columns: list[str]) -> None:
    echo_table(df, columns, paths=("ms_path", "file_path"))


def _truncated(df: Any, limit: int | None) -> None:
    if df.attrs.get("truncated"):
        note(f"first {limit} shown; pass --limit for more")


@click.group()
def tasks() -> None:
    """The pipeline's task queue (Absurd, PostgreSQL): what waits, runs, failed, is stuck."""


@tasks.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def tasks_stats(as_json: bool) -> None:
    """Tasks per queue and status, as absurd.get_queue_stats counts them."""
    df = workspace().tasks.stats()
    if as_json:
        echo_json(df)
        return
    _table(df, list(df.columns))


@tasks.command("list")
@click.option("--queue", default=None, help="Queue name (e.g. dsa110-pipeline).")
@click.option("--status", default=None, help="pending, claimed, completed, failed, ...")
@click.option("--name", "task_name", default=None, help="Task name (e.g. calibration-solve).")
@click.option("--worker", default=None, help="Worker id.")
@click.option("--since", default=None, help="Created since TIME or duration ago (6h, 2d).")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000_000))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def tasks_list(
    queue: str | None,
    status: str | None,
    task_name: str | None,
    worker: str | None,
    since: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Tasks newest first, filtered."""
    df = workspace().tasks.list(
        queue=queue, status=status, name=task_name, worker=worker, since=since, limit=limit
    )
    if as_json:
        echo_json(df)
        return
    _table(_short(df), _LIST_COLUMNS[:-4] + ["created_at", "error"])
    _truncated(df, limit)


@tasks.command("show")
@click.argument("task_id")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def tasks_show(task_id: str, as_json: bool) -> None:
    """One task whole: params, result, error, attempts, timings, depends_on, workflow."""
    info = workspace().tasks.show(task_id).to_dict()
    if as_json:
        echo_json(info)
        return
    for key, value in info.items():
        if key not in ("error", "log_excerpt") and value not in (None, [], {}):
            click.echo(f"{key:>18}: {value}")
    if info["error"]:
        click.echo(f"{'error':>18}:\n{info['error']}")
    if info["log_excerpt"]:
        click.echo(f"log of job {info['job_id']} (last lines):\n{info['log_excerpt']}")


@tasks.command("stuck")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def tasks_stuck(as_json: bool) -> None:
    """Claimed tasks held longer than their timeout_sec (or [queue] stuck_after_s)."""
    df = workspace().tasks.stuck()
    if as_json:
        echo_json(df)
        return
    out = _short(df, times=("claimed_at",)).assign(
        held_h=[round(a / 3600, 2) for a in df["age_s"]],
        limit_h=[round(x / 3600, 2) for x in df["limit_s"]],
    )
    _table(out, ["task_id", "task_name", "worker_id", "claimed_at", "held_h", "limit_h"])


@tasks.command("failures")
@click.option("--since", default=None, help="Window start: TIME or duration ago (default 24h).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def tasks_failures(since: str | None, as_json: bool) -> None:
    """Failed tasks grouped by cause (ids, paths and numbers normalised), most frequent first."""
    df = workspace().tasks.failures(since=since)
    if as_json:
        echo_json(df)
        return
    if df.empty:
        click.echo("(no failures in the window)")
        return
    for _, g in df.iterrows():
        click.echo(f"{g['n']:>5} x {g['cause']}")
        click.echo(f"        tasks: {', '.join(g['task_names'])}; example: {g['task_ids'][0]}")
    if df.attrs.get("truncated"):
        click.echo("(only the newest failures were grouped; narrow --since)")


@tasks.command("retry")
@click.argument("task_id")
def tasks_retry(task_id: str) -> None:
    """Retry a failed or cancelled task through absurd.retry_task (needs writes allowed)."""
    r = workspace().tasks.retry(task_id)
    click.echo(
        f"task {r.target}: {r.before['status']} -> {r.after['status']} "
        f"(attempt {r.after['attempt']} of {r.after['max_retries']}; audit record {r.audit_id})"
    )


@tasks.command("cancel")
@click.argument("task_id")
def tasks_cancel(task_id: str) -> None:
    """Cancel a pending task through absurd.cancel_task (needs writes allowed)."""
    r = workspace().tasks.cancel(task_id)
    click.echo(
        f"task {r.target}: {r.before['status']} -> {r.after['status']} (audit record {r.audit_id})"
    )


@click.command()
@click.option("--state", "states", multiple=True, help="Group state (repeatable).")
@click.option("--limit", default=500, show_default=True, type=click.IntRange(1, 100_000_000))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def ingest(states: tuple[str, ...], limit: int, as_json: bool) -> None:
    """Subband groups being ingested, with the missing subband indices (0-15)."""
    svc = workspace().ingest
    df = svc.groups(state=list(states) or None, limit=limit)
    keep = [
        "group_id",
        "state",
        "subband_count",
        "expected_subbands",
        "missing_subbands",
        "n_received",
        "minutes_since_last_file",
        "created_at",
        "updated_at",
        "completed_at",
        "ms_path",
        "error_message",
    ]
    if as_json:
        from dsa110_ws.core.time import iso_utc

        out = df[keep].copy()
        for col in ("created_at", "updated_at", "completed_at"):  # Unix seconds -> ISO UTC
            out[col] = [None if x != x else iso_utc(x) for x in out[col]]
        echo_json(out)
        return
    click.echo(f"source: {svc.source}")
    out = df.assign(
        missing_subbands=[
            "?" if m is None else (",".join(str(i) for i in m) or "-")
            for m in df["missing_subbands"]
        ]
    )
    _table(out, keep[:5] + ["ms_path", "error_message"])
    _truncated(df, limit)
