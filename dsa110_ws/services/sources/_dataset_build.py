"""Building the photometry dataset from scratch, reading SQLite in several processes.

Reading dominates a cold build and the ADBC driver holds the interpreter while it reads,
so the ``id`` range is split among ``processes`` processes (``[sources]
dataset_build_processes``, default one per core up to four; one for fewer than 2,000,000
rows): this one reads the first range and ``processes - 1`` spawned workers the others
(a worker spends about a second importing what this process has loaded already, so this
one takes a slightly larger share, :data:`HEAD_START`).  Each reads its range (ids up to
the ``MAX(id)`` seen first), partitions and sorts its rows and writes one fragment per
partition; a partition then holds one fragment per process, in increasing ``id`` ranges.
A worker writes into a staging directory of its own, moved into the version when its
result arrives: a worker left running by a killed parent (it stops at its next batch)
never writes into a version a later build is making.
Each process reads in its own transaction: should the pipeline commit meanwhile, rows
added later are left to the next refresh (the ids are bounded) and rows deleted meanwhile
are found by the next refresh's count check.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dsa110_ws.errors import ConfigurationError
from dsa110_ws.services.sources import _dataset_files as files
from dsa110_ws.services.sources._dataset_refresh import Progress, finish
from dsa110_ws.services.sources._dataset_write import Writer, write_parts

if TYPE_CHECKING:
    import pyarrow as pa

    from dsa110_ws.repositories.photometry_arrow import PhotometryReader
    from dsa110_ws.services.sources._dataset_files import Manifest

__all__ = ["build", "build_range"]

#: Rows below which one process reads everything.
MIN_ROWS_PER_PROCESS = 1_000_000
#: This process's share of the rows over a worker's (workers start by importing).
HEAD_START = 1.1


def _quiet(stage: str, done: int, total: int) -> None:
    return None


def _write_chunk(w: Writer, table: pa.Table, parts: list[list[dict[str, Any]]]) -> pa.Table:
    """Write ``table`` as one fragment per partition; return its rows per image (counted
    from the dictionary encoding of ``image_path`` that the partitioning reuses)."""
    images = files.text_dictionary(table.column("image_path"))
    write_parts(w, table, parts, {"image_path": images})
    return files.counts_of(*images)


def _read_range(
    reader: PhotometryReader,
    w: Writer,
    lo: int,
    hi: int,
    n_partitions: int,
    chunk_rows: int,
    progress: Progress,
    total: int,
) -> tuple[list[list[dict[str, Any]]], pa.Table, int]:
    import pyarrow as pa

    parts: list[list[dict[str, Any]]] = [[] for _ in range(n_partitions)]
    pending: list[pa.Table] = []
    counts: list[pa.Table] = []
    held = done = 0
    with reader:
        for t in reader.read(after_id=lo, upto_id=hi, batch_rows=min(chunk_rows, 500_000)):
            pending.append(t)
            held += t.num_rows
            done += t.num_rows
            progress("reading", done, max(done, total))
            if held >= chunk_rows:
                counts.append(_write_chunk(w, pa.concat_tables(pending), parts))
                pending, held = [], 0
    if pending:
        counts.append(_write_chunk(w, pa.concat_tables(pending), parts))
    return parts, files.add_counts(*counts), done


def _while_parent(parent: int) -> Progress:
    """A progress callback that stops this worker once its parent is gone (a worker
    reparented after its parent was killed has nobody to give its rows to)."""

    def check(stage: str, done: int, total: int) -> None:
        if os.getppid() != parent:
            raise SystemExit(f"the build's parent process {parent} is gone")

    return check


def build_range(
    db_path: str,
    busy_timeout_s: float,
    driver: str,
    lo: int,
    hi: int,
    root: str,
    version: int,
    n_partitions: int,
    tag: str,
    chunk_rows: int,
    staging: str,
    parent: int,
) -> tuple[list[list[dict[str, Any]]], pa.Table, int, str]:
    """One worker's share of a build: rows with ``lo < id <= hi``, written into
    ``staging`` (runs in a process; stops when ``parent`` is gone)."""
    from dsa110_ws.repositories import Database
    from dsa110_ws.repositories.photometry_arrow import PhotometryReader

    db = Database(db_path, busy_timeout_s=busy_timeout_s)
    try:
        reader = PhotometryReader(db, driver=driver)
        w = Writer(Path(root), version, n_partitions, tag=tag, fresh=False, vdir=Path(staging))
        parts, counts, done = _read_range(
            reader, w, lo, hi, n_partitions, chunk_rows, _while_parent(parent), hi - lo
        )
        return parts, counts, done, reader.driver
    finally:
        db.dispose()


def build(
    root: Path,
    db_path: Path,
    reader: PhotometryReader,
    *,
    n_partitions: int,
    version: int,
    processes: int = 1,
    progress: Progress = _quiet,
    chunk_rows: int = 20_000_000,
) -> Manifest:
    """Read every row and write the dataset from scratch (see module doc)."""
    before, started = files.db_identity(db_path), time.time()
    with reader:
        ext = reader.extent()
    k = max(1, min(int(processes), ext["n_rows"] // MIN_ROWS_PER_PROCESS))
    w = Writer(root, version, n_partitions)
    shares = np.cumsum([0.0, HEAD_START] + [1.0] * (k - 1))
    bounds = np.round(shares / shares[-1] * ext["max_id"]).astype(np.int64)
    progress("reading", 0, ext["n_rows"])
    try:
        if k == 1:
            parts, per_image, done = _read_range(
                reader, w, 0, ext["max_id"], n_partitions, chunk_rows, progress, ext["n_rows"]
            )
            driver = reader.driver
        else:
            parts, per_image, done, driver = _in_processes(
                reader, w, bounds, n_partitions, chunk_rows, progress, ext["n_rows"]
            )
    except BaseException:  # no half-written version left behind (a kill leaves one, unused)
        shutil.rmtree(w.vdir, ignore_errors=True)
        raise
    for p in range(n_partitions):
        w.vdir.joinpath(f"part-{p:03d}").mkdir(parents=True, exist_ok=True)
    report = {
        "mode": "build",
        "driver": driver,
        "processes": k,
        "rows_read": done,
        "rows_checked": 0,
        "rows_dropped": 0,
        "images_added": per_image.num_rows,
        "images_changed": 0,
        "images_removed": 0,
    }
    ext = {**ext, "n_rows": done}
    return finish(
        root, db_path, reader, ext, parts, per_image, version, before, started, started, report
    )


def _move_in(staging: Path, vdir: Path, parts: list[list[dict[str, Any]]]) -> None:
    """A worker's fragments, from its staging directory into the version's."""
    for p, frags in enumerate(parts):
        sub = f"part-{p:03d}"
        if frags:
            (vdir / sub).mkdir(parents=True, exist_ok=True)
        for frag in frags:
            os.replace(staging / sub / frag["file"], vdir / sub / frag["file"])


def _worker(conn: Any, *args: Any) -> None:
    """A spawned worker: :func:`build_range`, its result (or its error) sent back.

    Once its result is sent, the worker has nothing left to do but free its memory (the
    parent waits for it): it exits at once, leaving that to the system, which saved the
    parent 0.2 s of waiting at 10^7 rows.  Its files are written and closed by then."""
    try:
        out: tuple[str, Any] = ("ok", build_range(*args))
    except BaseException as exc:  # noqa: BLE001 - sent to the parent, which raises it
        out = ("error", exc)
    try:
        conn.send(out)
    except Exception as exc:  # noqa: BLE001 - an error that does not pickle, or no parent
        with contextlib.suppress(Exception):
            conn.send(("error", RuntimeError(f"{type(out[1]).__name__}: {out[1]} ({exc})")))
    finally:
        conn.close()
    if out[0] == "ok":
        os._exit(0)


def _worker_gone() -> ConfigurationError:
    return ConfigurationError(
        "A worker process of the photometry dataset's build exited before it finished "
        "(killed, out of memory, or re-running a script that has no main guard): from a "
        'script, put its top level under `if __name__ == "__main__":`; else set [sources] '
        "dataset_build_processes = 1 and build again."
    )


def _in_processes(
    reader: PhotometryReader,
    w: Writer,
    bounds: np.ndarray,
    n_partitions: int,
    chunk_rows: int,
    progress: Progress,
    total: int,
) -> tuple[list[list[dict[str, Any]]], pa.Table, int, str]:
    """The first range read here, the others by one spawned process each (started before
    this one reads, their arguments handed over at start); fragments kept in increasing
    ``id`` order per partition."""
    k = len(bounds) - 1
    ctx = multiprocessing.get_context("spawn")  # no fork of a process with threads
    workers, staged = [], []
    try:
        for i in range(1, k):
            staged.append(Path(tempfile.mkdtemp(prefix=f".build-p{i}-", dir=w.root)))
            args = (
                str(reader.db.path),
                reader.db.busy_timeout_s,
                reader.driver,
                int(bounds[i]),
                int(bounds[i + 1]),
                str(w.root),
                w.version,
                n_partitions,
                f"p{i}-",
                chunk_rows,
                str(staged[-1]),
                os.getpid(),
            )
            recv, send = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_worker, args=(send, *args), daemon=True)
            proc.start()
            send.close()
            workers.append((proc, recv))
        w.tag = "p0-"
        share = (bounds[1] - bounds[0]) / max(1, bounds[-1] - bounds[0])

        said: dict[int, tuple[str, Any]] = {}  # what each worker sent, once read

        def heard(i: int) -> tuple[str, Any]:
            if i not in said:
                try:
                    said[i] = workers[i][1].recv()
                except EOFError:  # it exited without a word
                    raise _worker_gone() from None
            return said[i]

        def everyone(stage: str, done: int, _: int) -> None:
            # a worker that has exited is heard now (its result, if it sent one, is kept):
            # gone without a word (killed, or an unguarded script) or with an error, the
            # build fails at once, not once this process has read its whole share (10 s
            # at 10^7 rows)
            for i, worker in enumerate(workers):
                if worker[0].exitcode is not None and heard(i)[0] == "error":
                    raise said[i][1]
            # the workers report only at their end: shown as going at this process's pace
            progress(stage, min(total, round(done / max(share, 1e-9))), max(total, 1))

        mine = _read_range(
            reader, w, int(bounds[0]), int(bounds[1]), n_partitions, chunk_rows, everyone, total
        )
        results = [(*mine, reader.driver)]
        for i in range(len(workers)):
            status, got = heard(i)
            if status == "error":
                raise got
            _move_in(staged[len(results) - 1], w.vdir, got[0])
            results.append(got)
            progress("reading", sum(r[2] for r in results), max(total, 1))
    except BaseException:  # the workers' rows are unwanted now
        for proc, _ in workers:
            proc.terminate()
        raise
    finally:
        for proc, recv in workers:
            proc.join()
            recv.close()
        for d in staged:
            shutil.rmtree(d, ignore_errors=True)
    parts: list[list[dict[str, Any]]] = [[] for _ in range(n_partitions)]
    for got, _, _, _ in results:  # range order: increasing ids
        for p in range(n_partitions):
            parts[p].extend(got[p])
    per_image = files.add_counts(*[r[1] for r in results])
    return parts, per_image, sum(r[2] for r in results), results[0][3]
