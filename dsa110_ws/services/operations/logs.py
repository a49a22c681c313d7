"""Per-run pipeline log files: tail, filter by level / regex / time, incremental follow.

A run id names one file, ``<log root>/<run_id>.log``.  Run ids are validated (letters,
digits, ``.``, ``_``, ``-``; no separators, so no ``../`` and no absolute paths) and every
path is resolved and confined to the log roots by ``w.open_log_path`` (a symlink pointing
outside the roots is refused).
"""

from __future__ import annotations

import collections
import os
import re
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import pandas as pd

from dsa110_ws.core.time import TimeLike
from dsa110_ws.errors import ConfigurationError, DataUnavailableError, InvalidQueryError
from dsa110_ws.services.operations._logfile import MAX_LINE, open_log, utf8_cut
from dsa110_ws.services.operations._logparse import (
    LOG_COLUMNS,
    Keep,
    check_count,
    parse_lines,
    read_head,
    read_tail,
)

if TYPE_CHECKING:
    from dsa110_ws.core.paths import PathPolicy
    from dsa110_ws.core.time import Clock

__all__ = ["LogService", "RUN_ID_PATTERN", "LOG_COLUMNS"]

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
#: At most this many bytes are read by one ``follow`` call (the rest on the next call).
FOLLOW_CHUNK = MAX_LINE
#: At most this many bytes of a log are read by one ``read``/``tail`` (huge logs).
SCAN_BYTES = 64 << 20
#: Seconds an unfinished last line may stay unchanged before ``follow`` hands it out.
PARTIAL_WAIT_S = 2.0
_MARK_BYTES = 64
_MAX_MARKS = 256


class LogService:
    """``w.logs``: the per-run log files under ``settings.log_roots``."""

    def __init__(self, paths: PathPolicy, *, clock: Clock):
        self._paths = paths
        self._clock = clock
        self._marks_lock = threading.Lock()
        self._marks: collections.OrderedDict[tuple[str, int], tuple[int, int, bytes]] = (
            collections.OrderedDict()
        )
        self._pending: dict[tuple[str, int], tuple[int, float]] = {}

    def __repr__(self) -> str:
        return "<LogService: path, runs, read, tail, start_follow, follow>"

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
            Keep only the last ``tail`` matching lines: the file is then read backwards
            from its end, in bounded chunks, until enough lines match (at most
            :data:`SCAN_BYTES`).

        Returns a DataFrame with columns offset (byte offset of the line), line_no (1-based;
        None when a tail did not reach the start of the file), time (ISO), time_unix,
        level, logger, message, continuation, raw.  Bytes that are not UTF-8 are shown as
        U+FFFD.  At most :data:`SCAN_BYTES` of a huge log are read; ``df.attrs["truncated"]``
        then says which part was searched.
        """
        keep = Keep(level, pattern, start, end, self._clock.now())
        if tail is not None:
            check_count(tail, "tail")
        path = self.path(run_id)
        with open_log(path) as fh:
            size = os.fstat(fh.fileno()).st_size
            if tail is not None:
                return read_tail(fh, size, tail, keep, max_bytes=SCAN_BYTES)
            return read_head(fh, size, keep, max_bytes=SCAN_BYTES)

    def tail(self, run_id: str, n: int = 50, *, level: str | None = None) -> pd.DataFrame:
        """The last ``n`` lines (optionally of at least ``level``)."""
        check_count(n, "tail")
        return self.read(run_id, level=level, tail=n)

    def start_follow(
        self,
        run_id: str,
        n: int = 50,
        *,
        level: str | None = None,
        pattern: str | None = None,
    ) -> tuple[pd.DataFrame, int]:
        """The last ``n`` complete lines matching the filters, read from the end, and the
        offset to pass to :meth:`follow` to continue from there."""
        check_count(n, "n")
        keep = Keep(level, pattern, None, None, self._clock.now())
        path = self.path(run_id)
        with open_log(path) as fh:
            st = os.fstat(fh.fileno())
            fh.seek(max(0, st.st_size - MAX_LINE))
            last = fh.read(MAX_LINE)
            nl = last.rfind(b"\n")
            end = st.st_size - len(last) + nl + 1 if nl >= 0 else st.st_size
            df = read_tail(fh, end, n, keep, max_bytes=SCAN_BYTES)
            self._remember(path, st, end, fh)
        return df, end

    def follow(
        self,
        run_id: str,
        offset: int = 0,
        *,
        level: str | None = None,
        pattern: str | None = None,
        partial: bool = False,
    ) -> tuple[pd.DataFrame, int]:
        """New lines since byte ``offset``, and the offset to pass next time.

        At most :data:`FOLLOW_CHUNK` bytes are read per call.  A last line without its
        newline waits for it, unless ``partial`` is set, it has stayed unfinished for
        :data:`PARTIAL_WAIT_S`, or it is longer than a whole chunk (then it comes in
        pieces): the offset advances whenever there are new bytes.  When the file is
        shorter than ``offset`` (truncated) or is no longer the file this service read up
        to ``offset`` (replaced, or truncated and rewritten), reading restarts at 0 and
        ``df.attrs["restarted"]`` says why.  Lines carry ``line_no`` = None.
        """
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise InvalidQueryError(f"offset must be a non-negative integer, not {offset!r}.")
        keep = Keep(level, pattern, None, None, self._clock.now())
        path = self.path(run_id)
        with open_log(path) as fh:
            st = os.fstat(fh.fileno())
            restarted = self._changed(path, st, offset, fh)
            if restarted:
                offset = 0
            fh.seek(offset)
            data = fh.read(FOLLOW_CHUNK)
            cut = data.rfind(b"\n") + 1
            if cut == 0 and data:
                if len(data) == FOLLOW_CHUNK:
                    cut = utf8_cut(data) or len(data)
                elif partial or self._stalled(path, offset, st.st_size):
                    cut = len(data)
            df, _ = parse_lines(data[:cut], base_offset=offset, first_line_no=None)
            self._remember(path, st, offset + cut, fh)
        df = keep(df)
        if restarted:
            df.attrs["restarted"] = f"{path} {restarted}; reading it from the start"
        return df, offset + cut

    # -- what follow remembers about the files it read ---------------------------------------
    def _remember(self, path: Path, st: os.stat_result, offset: int, fh: BinaryIO) -> None:
        """Keep the file's identity and the bytes just before ``offset`` (to know later
        whether the file is still the one read up to there)."""
        fh.seek(max(0, offset - _MARK_BYTES))
        before = fh.read(min(offset, _MARK_BYTES))
        with self._marks_lock:
            self._marks[(str(path), offset)] = (st.st_dev, st.st_ino, before)
            self._marks.move_to_end((str(path), offset))
            while len(self._marks) > _MAX_MARKS:
                self._marks.popitem(last=False)

    def _changed(self, path: Path, st: os.stat_result, offset: int, fh: BinaryIO) -> str | None:
        """Why reading must restart at 0 ("was truncated", "was replaced"), or None."""
        if offset == 0:
            return None
        if st.st_size < offset:
            return "was truncated"
        with self._marks_lock:
            mark = self._marks.get((str(path), offset))
        if mark is None:
            return None
        dev, ino, before = mark
        if (st.st_dev, st.st_ino) != (dev, ino):
            return "was replaced by a new file"
        fh.seek(offset - len(before))
        if fh.read(len(before)) != before:
            return "was truncated and rewritten"
        return None

    def _stalled(self, path: Path, offset: int, size: int) -> bool:
        """Whether the unfinished line at ``offset`` has not grown for PARTIAL_WAIT_S."""
        now = time.monotonic()
        key = (str(path), offset)
        with self._marks_lock:
            seen = self._pending.get(key)
            if seen is None or seen[0] != size:
                self._pending[key] = (size, now)
                while len(self._pending) > _MAX_MARKS:
                    self._pending.pop(next(iter(self._pending)))
                return False
            return now - seen[1] >= PARTIAL_WAIT_S

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
