"""Bytes of a log file, in bounded chunks: opened without blocking, read forwards from an
offset or backwards from the end, split at line starts; cuts that fall inside a line keep
UTF-8 sequences whole.  No function here reads more than one chunk at a time (a line
longer than :data:`MAX_LINE` is handed out in pieces)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from dsa110_ws.errors import DataUnavailableError

__all__ = ["open_log", "read_forward", "read_backward", "utf8_cut", "MAX_LINE"]

#: The longest piece of one line handed out at once (longer lines come in pieces).
MAX_LINE = 1 << 20


def open_log(path: Path) -> BinaryIO:
    """Open ``path`` for reading without ever blocking (a FIFO swapped in after the path
    was checked is refused, not waited on); only a regular file is accepted."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise DataUnavailableError(
            f"Log file {path} cannot be opened: {exc.strerror or exc}."
        ) from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise DataUnavailableError(
            f"Log file {path} is not a regular file (a FIFO, device or directory); a run's "
            "log must be a plain file."
        )
    return os.fdopen(fd, "rb", buffering=0)


def utf8_cut(data: bytes) -> int:
    """Where to cut ``data`` so that no UTF-8 sequence is split (its length, or less)."""
    n = len(data)
    for back in range(1, min(4, n) + 1):
        b = data[n - back]
        if b & 0xC0 != 0x80:  # ASCII or the lead byte of a sequence
            need = 1 if b < 0x80 else 2 if b >> 5 == 0b110 else 3 if b >> 4 == 0b1110 else 4
            return n if back >= need else n - back
    return n


def read_forward(fh: BinaryIO, start: int, *, chunk: int = MAX_LINE) -> Iterator[tuple[int, bytes]]:
    """``(offset, block)`` pairs from ``start`` to the end: each block holds whole lines (the
    file's last line may lack its newline; a line longer than ``chunk`` comes in pieces)."""
    pos, carry = start, b""
    fh.seek(start)
    while True:
        data = fh.read(chunk)
        if not data:
            if carry:
                yield pos, carry
            return
        buf = carry + data
        cut = buf.rfind(b"\n") + 1
        if cut == 0:
            if len(buf) < chunk:
                carry = buf
                continue
            cut = utf8_cut(buf[:chunk]) or chunk
        yield pos, buf[:cut]
        pos += cut
        carry = buf[cut:]


def read_backward(fh: BinaryIO, end: int, *, first: int = 1 << 16) -> Iterator[tuple[int, bytes]]:
    """``(offset, block)`` pairs from ``end`` back to the start of the file, each block of
    whole lines starting at a line start; blocks grow from ``first`` to :data:`MAX_LINE`
    bytes; a line longer than that comes in pieces."""
    size, pos, tail = first, end, b""
    while pos > 0:
        step = min(size, pos)
        fh.seek(pos - step)
        data = fh.read(step) + tail
        pos -= step
        size = min(size * 2, MAX_LINE)
        if pos == 0:
            yield 0, data
            return
        # a line break in what was just read starts a whole line (the first line of the
        # block may have begun before it; the carried ``tail`` holds no line start)
        start = data.find(b"\n", 0, step) + 1
        if start == 0:
            if len(data) < MAX_LINE:
                tail = data
                continue
            start = len(data) - MAX_LINE
            while start < len(data) and data[start] & 0xC0 == 0x80:
                start += 1  # not inside a UTF-8 sequence
        if start < len(data):
            yield pos + start, data[start:]
        tail = data[:start]
