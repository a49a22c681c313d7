"""Per-run pipeline log files: tail, filter by level / regex / time, incremental follow.

A run id names one file, ``<log root>/<run_id>.log``.  Run ids are validated (letters,
digits, ``.``, ``_``, ``-``; no separators, so no ``../`` and no absolute paths) and every
path is resolved and confined to the log roots by ``w.open_log_path`` (a symlink pointing
outside the roots is refused).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from dsa110_ws.core.time import TimeLike, to_unix
from dsa110_ws.errors import ConfigurationError, DataUnavailableError, InvalidQueryError
from dsa110_ws.services.operations._common import LEVELS, parse_log_line

if TYPE_CHECKING:
    from dsa110_ws.core.paths import PathPolicy
    from dsa110_ws.core.time import Clock

__all__ = ["LogService", "RUN_ID_PATTERN", "LOG_COLUMNS"]

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
LOG_COLUMNS = [
    "offset",
    "line_no",
    "time",
    "time_unix",
    "level",
    "logger",
    "message",
    "continuation",
    "raw",
]
#: At most this many bytes are read by one ``follow`` call (the rest on the next call).
FOLLOW_CHUNK = 1 << 20


class LogService:
    """``w.logs``: the per-run log files under ``settings.log_roots``."""

    def __init__(self, paths: PathPolicy, *, clock: Clock):
        self._paths = paths
        self._clock = clock

    def __repr__(self) -> str:
        return "<LogService: path, runs, read, follow>"

    # -- locating ------------------------------------------------------------------------
    def path(self, run_id: str | int) -> Path:
        """The resolved, confined path of a run's log file.

        ``run_id`` is a run id (``calibrate-000026``) or a job id (``26``, as the jobs
        table and ``dsa110-ws jobs`` show it): a job id names the one run whose id ends in
        ``-<job id>`` (zero-padded or not).

        Raises :class:`InvalidQueryError` for a malformed run id or a job id that matches
        several runs, :class:`NotPermittedError` when the file resolves outside the log
        roots and :class:`DataUnavailableError` when no root holds it.
        """
        rid = check_run_id(str(run_id) if isinstance(run_id, int) else run_id)
        roots = self._roots()
        for root in roots:
            candidate = Path(root) / f"{rid}.log"
            if os.path.lexists(candidate):
                return self._paths.log(candidate)
        if rid.isdigit():
            return self._job_log(int(rid), roots)
        raise DataUnavailableError(
            f"No log file for run {rid!r} under the log roots "
            f"({os.pathsep.join(str(r) for r in roots)}); list the runs with `dsa110-ws logs` "
            "(in Python: w.logs.runs())."
        )

    def _job_log(self, job_id: int, roots: tuple[Path, ...]) -> Path:
        """The log of the one run whose id ends in ``-<job_id>`` (zero-padded or not)."""
        pattern = re.compile(rf"^.+[-_.]0*{job_id}$")
        found = sorted(
            entry
            for root in roots
            if Path(root).is_dir()
            for entry in Path(root).glob("*.log")
            if pattern.match(entry.name[:-4])
        )
        if len(found) == 1:
            return self._paths.log(found[0])
        if found:
            names = ", ".join(p.name[:-4] for p in found[:5])
            raise InvalidQueryError(
                f"Job {job_id} matches several runs ({names}); give the run id instead."
            )
        raise DataUnavailableError(
            f"No log file for job {job_id} (no run id ending in -{job_id:06d} or -{job_id}) "
            f"under the log roots ({os.pathsep.join(str(r) for r in roots)}); list the runs "
            "with `dsa110-ws logs` (in Python: w.logs.runs())."
        )

    def runs(self) -> pd.DataFrame:
        """Run ids with a log file (newest first): run_id, path, size_bytes, modified_at."""
        rows = []
        for root in self._roots():
            if not Path(root).is_dir():
                continue
            for entry in sorted(Path(root).glob("*.log")):
                rid = entry.name[:-4]
                if not RUN_ID_PATTERN.match(rid):
                    continue
                try:
                    p = self._paths.log(entry)
                except (OSError, ValueError):
                    continue  # a dangling link or one pointing outside the roots
                st = p.stat()
                rows.append(
                    {
                        "run_id": rid,
                        "path": str(p),
                        "size_bytes": st.st_size,
                        "modified_at": st.st_mtime,
                    }
                )
        df = pd.DataFrame(rows, columns=["run_id", "path", "size_bytes", "modified_at"])
        return df.sort_values(["modified_at", "run_id"], ascending=[False, True], ignore_index=True)

    # -- reading -------------------------------------------------------------------------
    def read(
        self,
        run_id: str,
        *,
        level: str | None = None,
        pattern: str | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        tail: int | None = None,
    ) -> pd.DataFrame:
        """Parsed lines of a run's log, filtered.

        Parameters
        ----------
        level
            Minimum level (``"WARNING"`` keeps WARNING, ERROR and CRITICAL).
        pattern
            Regular expression searched in the whole line (``re.search``).
        start, end
            Keep lines whose time is in [start, end) (lines without a time inherit the time
            of the line before, as tracebacks do).
        tail
            Keep only the last ``tail`` matching lines.

        Returns a DataFrame with columns offset (byte offset of the line), line_no (1-based),
        time (ISO), time_unix, level, logger, message, continuation, raw.
        """
        path = self.path(run_id)
        with open(path, "rb") as fh:
            data = fh.read()
        df = _parse(data, base_offset=0, first_line_no=1)
        return _filter(
            df, level=level, pattern=pattern, start=start, end=end, now=self._clock.now(), tail=tail
        )

    def tail(self, run_id: str, n: int = 50, *, level: str | None = None) -> pd.DataFrame:
        """The last ``n`` lines (optionally of at least ``level``)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise InvalidQueryError(f"tail needs a non-negative integer line count, not {n!r}.")
        return self.read(run_id, level=level, tail=n)

    def follow(
        self, run_id: str, offset: int = 0, *, level: str | None = None, pattern: str | None = None
    ) -> tuple[pd.DataFrame, int]:
        """New complete lines since byte ``offset``, and the offset to pass next time.

        A partial last line (no newline yet) is left for the next call.  When the file is
        shorter than ``offset`` (rotated or truncated) reading restarts at 0.  Lines carry
        ``line_no`` = None (only byte offsets are known when following).
        """
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InvalidQueryError(f"offset must be a non-negative integer, not {offset!r}.")
        path = self.path(run_id)
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if size < offset:
                offset = 0
            fh.seek(offset)
            data = fh.read(FOLLOW_CHUNK)
        end = data.rfind(b"\n") + 1
        data = data[:end]
        df = _parse(data, base_offset=offset, first_line_no=None)
        df = _filter(
            df, level=level, pattern=pattern, start=None, end=None, now=self._clock.now(), tail=None
        )
        return df, offset + end

    def _roots(self) -> tuple[Path, ...]:
        roots = self._paths.log_roots
        if not roots:
            raise ConfigurationError(
                "No log roots are configured, so run logs cannot be found; set "
                "DSA110_WS_LOG_ROOTS (or log_roots in the settings file)."
            )
        return roots


def check_run_id(run_id: Any) -> str:
    """``run_id`` when it is a valid run id; :class:`InvalidQueryError` otherwise."""
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id):
        raise InvalidQueryError(
            f"Invalid run id {run_id!r}: use 1-128 letters, digits, '.', '_' or '-', starting "
            "with a letter or digit (no path separators), e.g. 'calibrate-000026'."
        )
    return run_id


def _parse(data: bytes, *, base_offset: int, first_line_no: int | None) -> pd.DataFrame:
    rows = []
    pos = 0
    prev: dict[str, Any] = {"time": None, "level": None, "logger": None}
    for k, raw in enumerate(data.splitlines(keepends=True)):
        text = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        parsed = parse_log_line(text)
        if parsed is None:
            row = {**prev, "message": text, "continuation": True}
        else:
            prev = {"time": parsed["time"], "level": parsed["level"], "logger": parsed["logger"]}
            row = {**parsed, "continuation": False}
        row.update(
            offset=base_offset + pos,
            raw=text,
            line_no=None if first_line_no is None else first_line_no + k,
        )
        rows.append(row)
        pos += len(raw)
    df = pd.DataFrame(rows, columns=[c for c in LOG_COLUMNS if c != "time_unix"])
    times = pd.to_datetime(df["time"], errors="coerce", utc=True, format="ISO8601")
    unix = (times - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds()
    df.insert(3, "time_unix", unix.astype(float))
    return df


def _filter(
    df: pd.DataFrame,
    *,
    level: str | None,
    pattern: str | None,
    start: TimeLike,
    end: TimeLike,
    now: Any,
    tail: int | None,
) -> pd.DataFrame:
    keep = pd.Series(True, index=df.index)
    if level is not None:
        lv = str(level).upper()
        if lv not in LEVELS:
            raise InvalidQueryError(
                f"Unknown log level {level!r}; use one of DEBUG, INFO, WARNING, ERROR, CRITICAL."
            )
        keep &= df["level"].map(lambda x: LEVELS.get(str(x), -1)) >= LEVELS[lv]
    if pattern is not None:
        try:
            rx = re.compile(pattern)
        except re.error as exc:
            raise InvalidQueryError(f"Invalid regular expression {pattern!r}: {exc}.") from None
        keep &= df["raw"].map(lambda s: rx.search(s) is not None).astype(bool)
    if start is not None:
        keep &= df["time_unix"] >= to_unix(start, now=now, what="start")
    if end is not None:
        keep &= df["time_unix"] < to_unix(end, now=now, what="end")
    out = df[keep]
    if tail is not None:
        out = out.iloc[max(len(out) - tail, 0) :] if tail else out.iloc[:0]
    return out.reset_index(drop=True)
