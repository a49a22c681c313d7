"""``dsa110-ws report run|list|schedule``: a thin layer over :mod:`dsa110_ws.reporting`.

Exit codes of ``report run``: 0 published; 1 the report failed (partial notebook kept as
``report.failed.ipynb``, last good report untouched); 2 invalid parameters (nothing was
started); 3 published but the overall status reached ``--fail-on``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from dsa110_ws.cli._common import echo_json

__all__ = ["report"]


@click.group()
def report() -> None:
    """Papermill QA and stats reports: run, list, schedule."""


def _parse_pairs(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise click.UsageError(f"-p {pair!r}: write parameters as NAME=VALUE.")
        out[name.strip()] = value
    return out


@report.command("run")
@click.argument("kind", type=click.Choice(["qa", "stats"]))
@click.option("--night", help="qa: YYYY-MM-DD, 'yesterday' (default) or 'today' (UTC day).")
@click.option("--start", help="Window start (ISO UTC); qa needs --end too.")
@click.option("--end", help="Window end, exclusive (ISO UTC; stats default 'today').")
@click.option("--days", type=int, help="stats: period length in days when --start is not given.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output root (default: [reports] out_dir in the settings, else <state_dir>/reports).",
)
@click.option("--settings", help="Settings TOML file naming the data source.")
@click.option(
    "--fail-on",
    type=click.Choice(["warning", "critical"]),
    help="Exit 3 when the overall status is at least this bad.",
)
@click.option(
    "-p",
    "--param",
    "pairs",
    multiple=True,
    metavar="NAME=VALUE",
    help="Any report parameter (thresholds ...); see reports/README.md.",
)
@click.option(
    "--template", type=click.Path(dir_okay=False, path_type=Path), help="Another template notebook."
)
@click.option(
    "--timeout",
    "timeout_s",
    type=float,
    default=1800.0,
    show_default=True,
    help="Per-cell timeout, seconds.",
)
@click.option("--quiet", is_flag=True, help="Print nothing on success (for cron mail).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def run(
    ctx: click.Context,
    kind: str,
    night: str | None,
    start: str | None,
    end: str | None,
    days: int | None,
    out_dir: Path | None,
    settings: str | None,
    fail_on: str | None,
    pairs: tuple[str, ...],
    template: Path | None,
    timeout_s: float,
    quiet: bool,
    as_json: bool,
) -> None:
    """Run report KIND (qa or stats) and publish it into the output root.

    \b
    Exit status: 0 published; 1 the report failed (partial notebook kept as
    report.failed.ipynb, last good report untouched); 2 invalid parameters (nothing
    started); 3 published, but the overall status reached --fail-on.
    """
    from dsa110_ws.reporting.runner import EXIT_INVALID, run_report

    params: dict[str, Any] = dict(_parse_pairs(pairs))
    given = {"night": night, "start": start, "end": end, "days": days, "settings": settings}
    params.update({k: v for k, v in given.items() if v is not None})
    if kind == "qa" and night is not None and (start or end):
        click.echo("error: give either --night or --start/--end, not both", err=True)
        ctx.exit(EXIT_INVALID)
    result = run_report(
        kind, params, out_dir=out_dir, fail_on=fail_on, template=template, timeout_s=timeout_s
    )
    if as_json:
        echo_json(
            {
                "kind": result.kind,
                "status": result.status,
                "exit_code": result.exit_code,
                "label": result.label,
                "output_dir": result.output_dir,
                "overall": result.overall,
                "error": result.error,
                "papermill_invoked": result.papermill_invoked,
                "kernel_started": result.kernel_started,
                "timings": dict(result.timings),
                "metrics": list(result.metrics),
            }
        )
    elif not (quiet and result.exit_code == 0):
        click.echo(result.summary(), err=result.exit_code in (1, 2))
        if result.exit_code == 3:
            from dsa110_ws.reporting.attention import needs_attention

            for line in needs_attention(result.metrics):
                click.echo(f"  {line.severity.value}: {line.text}")
    ctx.exit(result.exit_code)


def _out_root(out_dir: Path | None, settings: str | None) -> Path:
    if out_dir is not None:
        return out_dir
    from dsa110_ws.reporting.params import report_settings
    from dsa110_ws.reporting.runner import default_out_dir

    return default_out_dir(report_settings(settings))


@report.command("list")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output root (default as for 'report run').",
)
@click.option("--settings", help="Settings TOML file (for the default output root).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_(out_dir: Path | None, settings: str | None, as_json: bool) -> None:
    """Every report in the output root with its status and headline metrics."""
    from dsa110_ws.reporting.index import list_reports

    root = _out_root(out_dir, settings)
    entries = list_reports(root)
    if as_json:
        reports = [
            {**e.to_dict(), "attention": [ln.to_dict() for ln in e.attention()]} for e in entries
        ]
        echo_json({"root": str(root), "reports": reports})
        return
    click.echo(f"reports in {root} (index: {root / 'index.html'})")
    if not entries:
        click.echo("  (none)")
    for e in entries:
        lines = [] if e.error else e.attention()
        first = e.error or (lines[0].text if lines else "nothing breached a threshold")
        more = f" (+{len(lines) - 1} more)" if len(lines) > 1 else ""
        click.echo(f"  {e.kind:<6} {e.label:<28} {e.status:<9} {first}{more}")


@report.command("schedule")
@click.option("--print", "print_", is_flag=True, help="Print the crontab line and systemd units.")
@click.option("--kind", type=click.Choice(["qa", "stats"]), default="qa", show_default=True)
@click.option("--at", help="UTC time HH:MM (default 07:30 daily for qa, Monday 08:00 for stats).")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output root (default as for 'report run').",
)
@click.option("--settings", help="Settings TOML file the scheduled run reads.")
@click.option(
    "--fail-on", type=click.Choice(["warning", "critical"]), default="critical", show_default=True
)
def schedule(
    print_: bool,
    kind: str,
    at: str | None,
    out_dir: Path | None,
    settings: str | None,
    fail_on: str,
) -> None:
    """Print a crontab line and a systemd service/timer pair for a scheduled report."""
    from dsa110_ws.reporting.schedule import render_schedule

    if not print_:
        raise click.UsageError(
            "only --print is supported: install the printed lines yourself (see reports/README.md)."
        )
    from dsa110_ws.reporting.params import ReportParameterError
    from dsa110_ws.reporting.schedule import check_at

    try:
        check_at(at)
    except ReportParameterError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from None
    root = _out_root(out_dir, settings)
    click.echo(
        render_schedule(kind, out_dir=root, settings=settings, fail_on=fail_on, at=at), nl=False
    )
