"""Running a configured command template without a shell.

``[operations] rerun_command = "dsa110-rerun --ms {ms_path} --job {job_id}"`` is split
with :func:`shlex.split` first and only then are the placeholders filled, one argument
each: a path with spaces, quotes or ``; rm -rf /`` stays one argument and is never seen by
a shell.  The command line shown in audit records is :func:`shlex.join` of the arguments
(shell-quoted, so it can be pasted into a terminal).
"""

from __future__ import annotations

import dataclasses
import shlex
import string
import subprocess
from collections.abc import Mapping
from typing import Any

from dsa110_ws.errors import ConfigurationError

__all__ = ["CommandResult", "render_command", "run_command"]

_OUTPUT_TAIL = 2000


@dataclasses.dataclass(frozen=True)
class CommandResult:
    """What a configured command did (``returncode`` None when it could not start)."""

    argv: tuple[str, ...]
    command_line: str
    returncode: int | None
    stdout: str
    stderr: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "argv": list(self.argv),
            "command_line": self.command_line,
            "returncode": self.returncode,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "error": self.error,
        }


def render_command(template: str, fields: Mapping[str, Any], *, setting: str) -> list[str]:
    """Split ``template`` like a shell would, then fill ``{name}`` placeholders per argument."""
    try:
        tokens = shlex.split(template)
    except ValueError as exc:
        raise ConfigurationError(
            f"Setting {setting} = {template!r} cannot be split into "
            f"arguments ({exc}); check its quotes."
        ) from None
    if not tokens:
        raise ConfigurationError(f"Setting {setting} is empty; give a command or remove it.")
    allowed = set(fields)
    argv = []
    for tok in tokens:
        names = {n for _, n, _, _ in string.Formatter().parse(tok) if n is not None}
        unknown = names - allowed
        if unknown:
            raise ConfigurationError(
                f"Setting {setting} uses unknown placeholder(s) {sorted(unknown)}; available: "
                f"{sorted(allowed)}."
            )
        argv.append(tok.format_map({k: str(v) for k, v in fields.items()}))
    return argv


def run_command(argv: list[str], *, timeout_s: float) -> CommandResult:
    """Run ``argv`` (no shell) with a timeout; output tails are kept, nothing raises."""
    line = shlex.join(argv)
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            shell=False,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        return CommandResult(
            tuple(argv),
            line,
            None,
            _tail(exc.stdout),
            _tail(exc.stderr),
            error=f"timed out after {timeout_s:g} s",
        )
    except OSError as exc:
        return CommandResult(tuple(argv), line, None, "", "", error=f"could not start: {exc}")
    return CommandResult(tuple(argv), line, proc.returncode, _tail(proc.stdout), _tail(proc.stderr))


def _tail(text: Any) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    return text[-_OUTPUT_TAIL:]
