"""Is a casacore table's storage complete?  File sizes against what its storage managers say.

Run when a table is opened, before any column is read: a table copied or written only in
part opens without complaint, and a read of a column the caller never asks for would not
reveal it (a flag summary of an MS whose DATA tiles are missing looks perfect).  Each check
compares a file's size with a length the table itself records, and only says "cut short"
when the file is *smaller*:

* ``StandardStMan``: ``table.fN`` is a 512-byte header then ``n_buckets x bucket_size``
  bytes, both in the header (read with the table's byte order, found by matching the
  bucket size the table description gives); ``table.fNi`` (arrays of varying shape) starts
  with its own length.
* ``Tiled*StMan``: the ``table.fN_TSMk`` files hold at least every tile of every hypercube
  (tiles per axis rounded up, times the bucket size), since casacore extends the file when
  a hypercube grows.

Anything these checks do not recognise is not judged (``IncrementalStMan`` keeps no total
length in its header).
"""

from __future__ import annotations

import math
import os
import re
import struct
from pathlib import Path
from typing import Any

__all__ = ["storage_problem"]

_MAGIC = b"\xbe\xbe\xbe\xbe"
_SSM = b"StandardStMan"
_SSM_HEADER = 512
_TILED = ("TiledShapeStMan", "TiledColumnStMan", "TiledCellStMan", "TiledDataStMan")


def _ssm_layout(path: Path, bucket_size: int) -> tuple[str, int] | None:
    """``(byte order, n_buckets)`` from a StandardStMan file's header, or ``None``."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError:
        return None
    if len(head) < 40 or head[:4] != _MAGIC:
        return None
    end = 12 + len(_SSM)
    if head[12:end] != _SSM:
        return None
    for order in "<>":
        for flag in (1, 0):  # version >= 3 has a one-byte big-endian flag after the version
            at = end + 4 + flag
            size, n = struct.unpack(f"{order}II", head[at : at + 8])
            if size == bucket_size:
                return order, n
    return None


def _array_file_problem(path: Path, order: str) -> str | None:
    """A StManArrayFile (``table.fNi``) records its own length after a 4-byte version."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return None  # no such file: the table has no arrays of varying shape
    if len(head) < 12:
        return f"{path.name} holds {size} bytes, less than its own header"
    (length,) = struct.unpack(f"{order}q", head[4:12])
    if 0 < length < 1 << 50 and size < length:
        return f"{path.name} holds {size:,} bytes of the {length:,} it records"
    return None


def _ssm_problem(table: Path, seq: int, spec: dict[str, Any]) -> str | None:
    data = table / f"table.f{seq}"
    try:
        size = data.stat().st_size
    except OSError:
        return f"table.f{seq} (a StandardStMan file) is missing"
    layout = _ssm_layout(data, int(spec.get("BUCKETSIZE", -1)))
    if layout is None:
        return None  # a header we do not recognise: not judged
    order, n = layout
    bucket = int(spec["BUCKETSIZE"])
    need = _SSM_HEADER + n * bucket
    if size < need:
        return (
            f"table.f{seq} holds {size:,} bytes of the {need:,} its header records "
            f"({n} buckets of {bucket} bytes)"
        )
    return _array_file_problem(table / f"table.f{seq}i", order)


def _tiled_problem(seq: int, spec: dict[str, Any], sizes: dict[str, int]) -> str | None:
    need = 0
    for cube in (spec.get("HYPERCUBES") or {}).values():
        shape = [int(n) for n in cube.get("CubeShape", [])]
        tile = [int(n) for n in cube.get("TileShape", [])]
        if not shape or len(shape) != len(tile) or min(tile) <= 0:
            return None  # not a layout we can judge
        need += math.prod(-(-n // t) for n, t in zip(shape, tile, strict=True)) * int(
            cube.get("BucketSize", 0)
        )
    if need == 0:
        return None
    prefix = f"table.f{seq}_TSM"
    files = sorted(name for name in sizes if name.startswith(prefix))
    have = sum(sizes[name] for name in files)
    if have < need:
        names = ", ".join(files) or f"{prefix}*"
        return f"{names} hold {have:,} bytes of the {need:,} their hypercubes need"
    return None


def _file_sizes(table: Path) -> dict[str, int]:
    with os.scandir(table) as it:
        return {e.name: e.stat().st_size for e in it if e.name.startswith("table.f")}


def storage_problem(tb: Any, table: Path) -> str | None:
    """The first storage file of the open table ``tb`` (at ``table``) found shorter than its
    storage manager records, in words, or ``None``."""
    try:
        managers = tb.getdminfo()  # loads each manager's index: a cut-short file fails here
    except RuntimeError as exc:
        text = str(exc).strip().splitlines()
        first = text[0] if text else "RuntimeError"
        short = re.search(r"(table\.f\w+) is not writable", first)
        if short:  # casacore's words when a read runs past the end of a file
            return f"{short.group(1)} ends before its storage manager's index"
        return f"its storage managers cannot be read ({first})"
    sizes: dict[str, int] | None = None
    for dm in managers.values():
        kind, seq, spec = dm.get("TYPE"), dm.get("SEQNR"), dm.get("SPEC") or {}
        if seq is None:
            continue
        try:
            if kind == "StandardStMan":
                problem = _ssm_problem(table, int(seq), spec)
            elif kind in _TILED:
                sizes = _file_sizes(table) if sizes is None else sizes
                problem = _tiled_problem(int(seq), spec, sizes)
            else:
                problem = None
        except (OSError, ValueError, TypeError, KeyError, struct.error):
            problem = None
        if problem:
            return problem
    return None
