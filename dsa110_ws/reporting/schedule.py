"""Crontab line and systemd service/timer pair that run a report on a schedule."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
from pathlib import Path

from dsa110_ws.reporting.params import ReportParameterError

__all__ = ["report_command", "crontab_line", "systemd_units", "render_schedule", "check_at"]

_AT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
#: default schedule per report kind: (systemd day-of-week prefix, cron day-of-week, UTC time)
_DEFAULTS = {"qa": ("", "*", "07:30"), "stats": ("Mon ", "1", "08:00")}


def _executable() -> str:
    """The ``dsa110-ws`` script of this interpreter's environment (absolute)."""
    here = Path(sys.executable).parent / "dsa110-ws"
    if here.exists():
        return str(here)
    return shutil.which("dsa110-ws") or f"{sys.executable} -m dsa110_ws.cli"


def _parse_at(at: str) -> tuple[int, int]:
    m = _AT.match(at)
    if m is None:
        raise ReportParameterError(f"--at {at!r}: give a UTC time as HH:MM, e.g. 07:30.")
    return int(m.group(1)), int(m.group(2))


def check_at(at: str | None) -> None:
    """Raise :class:`ReportParameterError` unless ``at`` is ``None`` or a UTC ``HH:MM``."""
    if at is not None:
        _parse_at(at)


def report_command(
    kind: str,
    *,
    out_dir: str | os.PathLike[str],
    settings: str | None = None,
    fail_on: str | None = "critical",
    quiet: bool = True,
) -> list[str]:
    """The command line a scheduler runs (absolute paths; nightly QA of ``yesterday``)."""
    cmd = [*shlex.split(_executable()), "report", "run", kind]
    if kind == "qa":
        cmd += ["--night", "yesterday"]
    cmd += ["--out", str(Path(out_dir).expanduser().resolve())]
    if settings:
        cmd += ["--settings", str(Path(settings).expanduser().resolve())]
    if fail_on:
        cmd += ["--fail-on", fail_on]
    if quiet:
        cmd += ["--quiet"]
    return cmd


def crontab_line(
    kind: str,
    *,
    out_dir: str | os.PathLike[str],
    settings: str | None = None,
    fail_on: str | None = "critical",
    at: str | None = None,
) -> str:
    """The crontab lines: ``CRON_TZ=UTC`` then the entry at the UTC time ``at``, the same
    time the systemd timer names (cronie and other crons that read ``CRON_TZ`` run the
    entries after it in that zone, whatever the machine's local time and its DST).
    With ``--quiet`` the command prints only on failure or a threshold breach, and cron
    mails whatever a job prints (set ``MAILTO``)."""
    _, dow, default_at = _DEFAULTS[kind]
    hour, minute = _parse_at(at or default_at)
    cmd = shlex.join(report_command(kind, out_dir=out_dir, settings=settings, fail_on=fail_on))
    return f"CRON_TZ=UTC\n{minute} {hour} * * {dow} {cmd}"


def systemd_units(
    kind: str,
    *,
    out_dir: str | os.PathLike[str],
    settings: str | None = None,
    fail_on: str | None = "critical",
    at: str | None = None,
) -> dict[str, str]:
    """``{unit file name: text}`` for a oneshot service and the timer that starts it."""
    day, _, default_at = _DEFAULTS[kind]
    hour, minute = _parse_at(at or default_at)
    name = f"dsa110-ws-report-{kind}"
    cmd = shlex.join(
        report_command(kind, out_dir=out_dir, settings=settings, fail_on=fail_on, quiet=False)
    )
    what = "nightly QA" if kind == "qa" else "pipeline statistics"
    service = (
        f"[Unit]\nDescription=DSA-110 workspace {what} report\n"
        "# mail on failure or a --fail-on breach, e.g.:\n"
        "# OnFailure=status-email@%n.service\n\n"
        "[Service]\nType=oneshot\n"
        f"ExecStart={cmd}\n"
        "Nice=10\nTimeoutStartSec=2h\n"
    )
    timer = (
        f"[Unit]\nDescription=Run the DSA-110 {what} report\n\n"
        f"[Timer]\nOnCalendar={day}*-*-* {hour:02d}:{minute:02d}:00 UTC\n"
        "Persistent=true\nRandomizedDelaySec=60\n\n"
        "[Install]\nWantedBy=timers.target\n"
    )
    return {f"{name}.service": service, f"{name}.timer": timer}


def render_schedule(
    kind: str,
    *,
    out_dir: str | os.PathLike[str],
    settings: str | None = None,
    fail_on: str | None = "critical",
    at: str | None = None,
) -> str:
    """What ``dsa110-ws report schedule --print`` shows: the crontab line and both units."""
    parts = [
        "# --- crontab (crontab -e; cron mails what a job prints: set MAILTO;",
        "#     CRON_TZ=UTC: the time is UTC, as in the systemd timer) ---",
        crontab_line(kind, out_dir=out_dir, settings=settings, fail_on=fail_on, at=at),
        "",
    ]
    units = systemd_units(kind, out_dir=out_dir, settings=settings, fail_on=fail_on, at=at)
    for fname, text in units.items():
        parts += [
            f"# --- ~/.config/systemd/user/{fname} (or /etc/systemd/system/) ---",
            text.rstrip(),
            "",
        ]
    parts.append(
        f"# enable: systemctl --user daemon-reload && "
        f"systemctl --user enable --now dsa110-ws-report-{kind}.timer"
    )
    return "\n".join(parts) + "\n"
