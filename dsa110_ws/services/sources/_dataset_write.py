"""Writing a version of the photometry dataset: new fragments, kept fragments (hard
links), fragments rewritten without the rows of changed images, and the merging of a
partition's newest fragments (layout: :mod:`dsa110_ws.services.sources._dataset_files`)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dsa110_ws.services.sources import _dataset_files as files

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

    from dsa110_ws.services.sources._dataset_files import Manifest

__all__ = ["Writer", "compact", "write_parts", "write_version"]

Progress = Callable[[str, int, int], None]


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # a filesystem without hard links
        shutil.copy2(src, dst)


class Writer:
    """Writes version ``version`` of the dataset under ``root``."""

    def __init__(
        self,
        root: Path,
        version: int,
        n_partitions: int,
        *,
        tag: str = "",
        fresh: bool = True,
        vdir: Path | None = None,
    ):
        self.root, self.version, self.n, self.tag = root, version, n_partitions, tag
        self.vdir = vdir or root / f"v{version:06d}"  # vdir: a build worker's staging
        if fresh and self.vdir.exists():  # left by a killed refresh: never referenced
            shutil.rmtree(self.vdir)
        self.seq = 0

    def reserve(self, n: int) -> int:
        """The first of ``n`` fragment numbers kept for writers in threads."""
        first, self.seq = self.seq, self.seq + n
        return first

    def new(self, p: int, table: pa.Table, seq: int | None = None) -> dict[str, Any]:
        """A new fragment of partition ``p`` (``seq``: a number from :meth:`reserve`)."""
        if seq is None:
            seq = self.reserve(1)
        name = f"f{self.version:06d}-{self.tag}{seq:04d}.parquet"
        files.write_fragment(self.vdir / f"part-{p:03d}" / name, table)
        return {"file": name, "rows": int(table.num_rows)}

    def keep(self, old_root: Path, old_dir: str, p: int, frag: dict[str, Any]) -> dict[str, Any]:
        sub = f"part-{p:03d}"
        _link(old_root / old_dir / sub / frag["file"], self.vdir / sub / frag["file"])
        return dict(frag)

    def path(self, p: int, frag: dict[str, Any]) -> Path:
        return self.vdir / f"part-{p:03d}" / frag["file"]


def write_parts(
    w: Writer,
    table: pa.Table,
    parts: list[list[dict[str, Any]]],
    dictionaries: Mapping[str, tuple[np.ndarray, pa.Array]] | None = None,
) -> None:
    """Partition and sort ``table`` and append one new fragment per partition to
    ``parts`` (written from two threads: Parquet encoding releases the interpreter);
    ``dictionaries``: see :func:`~._dataset_files.partition_rows`."""
    from concurrent.futures import ThreadPoolExecutor

    first = w.reserve(w.n)
    with ThreadPoolExecutor(2) as pool:
        futures = [
            (p, pool.submit(w.new, p, part, first + p))
            for p, part in files.partition_rows(table, w.n, dictionaries)
        ]
        for p, fut in futures:
            parts[p].append(fut.result())


#: Fragments merged at once (see :mod:`._dataset_files`).
FAN_IN = 4


def compact(w: Writer, p: int, frags: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge the newest :data:`FAN_IN` fragments while none of the newer is smaller than
    the oldest of them (a base-4 counter for nights of similar size: merging every
    refresh's fragment at once cost a 10^7-row refresh twice its time every other night)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    while len(frags) >= FAN_IN and all(
        f["rows"] >= frags[-FAN_IN]["rows"] for f in frags[-FAN_IN + 1 :]
    ):
        last = frags[-FAN_IN:]
        both = pa.concat_tables(
            [pq.read_table(w.path(p, f), page_checksum_verification=True) for f in last]
        )
        merged = [t for _, t in files.partition_rows(both, 1)]
        for f in last:
            w.path(p, f).unlink()
        frags = frags[:-FAN_IN] + [w.new(p, merged[0])]
    return frags


def _drop_rows(w: Writer, p: int, frag: dict[str, Any], drop: set) -> dict[str, Any] | None:
    """``frag`` without the rows of the images in ``drop`` (None: nothing left)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    path = w.path(p, frag)
    img = pq.read_table(path, columns=["image_path"], page_checksum_verification=True).column(
        "image_path"
    )
    named = [x for x in drop if x is not None]
    hit = pc.is_in(img, value_set=pa.array(named, type=pa.string()))
    hit = pc.fill_null(hit, None in drop)
    if not pc.any(hit).as_py():
        return frag
    kept = pq.read_table(path, page_checksum_verification=True).filter(pc.invert(hit))
    path.unlink()
    return w.new(p, kept) if kept.num_rows else None


def write_version(
    root: Path,
    old: Manifest | None,
    version: int,
    n_partitions: int,
    added: pa.Table,
    drop: set,
    progress: Progress,
) -> list[list[dict[str, Any]]]:
    """Version ``version``: ``old``'s fragments (hard-linked, or rewritten without the rows
    of the images in ``drop``) plus one new fragment per partition for ``added``."""
    w = Writer(root, version, n_partitions)
    parts: list[list[dict[str, Any]]] = [[] for _ in range(n_partitions)]
    if old is not None:
        for p, frags in enumerate(old.partitions):
            for frag in frags:
                kept: dict[str, Any] | None = w.keep(root, old.dirname, p, frag)
                if drop and kept is not None:
                    kept = _drop_rows(w, p, kept, drop)
                if kept is not None:
                    parts[p].append(kept)
            progress("writing", p + 1, n_partitions)
    write_parts(w, added, parts)
    for p in range(n_partitions):
        parts[p] = compact(w, p, parts[p])
        w.vdir.joinpath(f"part-{p:03d}").mkdir(parents=True, exist_ok=True)
    return parts
