"""Pipeline logs under attack and accident: huge logs read from the end in bounded chunks,
``follow`` advancing on any new bytes, non-regular files refused before they are opened,
the log files byte-identical afterwards."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import dsa110_ws
from dsa110_ws.errors import InvalidQueryError, NotPermittedError

GIB = 1 << 30
LINE = "2026-11-14T03:{m:02d}:00 INFO dsa110.calibrate: step {i} done\n"


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _rchar() -> int:
    """Bytes this process has read through read(2) so far (the kernel's count)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.fixture()
def logs(tmp_path, writable_demo):
    """A workspace whose only log root is a private, empty directory."""
    root = tmp_path / "logs"
    root.mkdir()
    w = dsa110_ws.connect(
        writable_demo / "settings.toml", state_dir=tmp_path / "state", log_roots=[root]
    )
    yield w, root
    w.close()


def _sparse_log(root: Path, run: str = "huge-000001", size: int = 2 * GIB) -> Path:
    """A ``size``-byte log that is a hole (NUL bytes) but for its last lines."""
    tail = "".join(LINE.format(m=i % 60, i=i) for i in range(10)).encode()
    path = root / f"{run}.log"
    with open(path, "wb") as fh:
        fh.truncate(size - len(tail))
        fh.seek(size - len(tail))
        fh.write(tail)
    return path


def test_the_tail_of_a_2_gb_log_reads_only_its_end(logs):
    w, root = logs
    path = _sparse_log(root)
    before = _digest(path)
    r0 = _rchar()
    df = w.logs.tail("huge-000001", 3)
    read = _rchar() - r0
    assert list(df["message"]) == [f"step {i} done" for i in (7, 8, 9)]
    assert read < 8 << 20, f"read {read} bytes of a 2 GiB log for 3 lines"
    assert _digest(path) == before


def test_reading_a_2_gb_log_from_the_start_stops_at_the_bound_and_says_so(logs):
    from dsa110_ws.services.operations import logs as logmod

    w, root = logs
    _sparse_log(root)
    r0 = _rchar()
    df = w.logs.read("huge-000001")
    read = _rchar() - r0
    assert read <= logmod.SCAN_BYTES + (2 << 20), read
    note = df.attrs["truncated"]
    assert "read only the first" in note and "2048.0 MiB" in note and "tail" in note


def test_the_cli_tails_a_2_gb_log(logs, capsys, monkeypatch, writable_demo, tmp_path):
    from dsa110_ws.cli import main

    _, root = logs
    _sparse_log(root)
    monkeypatch.setenv("DSA110_WS_SETTINGS", str(writable_demo / "settings.toml"))
    monkeypatch.setenv("DSA110_WS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DSA110_WS_LOG_ROOTS", str(root))
    code = main(["logs", "huge-000001", "--tail", "2"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "step 8 done" in out.out and "step 9 done" in out.out and "step 7" not in out.out


def test_follow_advances_through_a_huge_log_without_a_newline(logs):
    from dsa110_ws.services.operations import logs as logmod

    w, root = logs
    path = root / "noline-000001.log"
    path.write_bytes(b"x" * (3 * logmod.FOLLOW_CHUNK + 17))
    offset, seen = 0, 0
    for _ in range(6):
        df, new = w.logs.follow("noline-000001", offset)
        assert new > offset or new == path.stat().st_size
        seen += sum(len(m) for m in df["raw"])
        offset = new
        if offset == path.stat().st_size - 17:
            break
    assert offset >= 3 * logmod.FOLLOW_CHUNK  # every whole chunk handed out in pieces
    df, new = w.logs.follow("noline-000001", offset, partial=True)
    assert new == path.stat().st_size and df["raw"].iloc[-1] == "x" * 17


def test_follow_hands_out_new_bytes_of_an_unfinished_line(logs):
    w, root = logs
    path = root / "run-000002.log"
    path.write_text(LINE.format(m=0, i=0))
    df, off = w.logs.start_follow("run-000002", 10)
    assert len(df) == 1 and off == path.stat().st_size
    with open(path, "a") as fh:
        fh.write("2026-11-14T03:01:00 INFO dsa110.calibrate: half a li")
    df, off2 = w.logs.follow("run-000002", off)
    assert df.empty and off2 == off  # waits for the newline ...
    df, off3 = w.logs.follow("run-000002", off, partial=True)
    assert off3 == path.stat().st_size and df["message"].iloc[0] == "half a li"  # ... or not


@pytest.mark.parametrize("when", ["truncated", "replaced"])
def test_follow_notices_a_truncated_or_replaced_log(logs, when):
    w, root = logs
    path = root / "run-000003.log"
    path.write_text("".join(LINE.format(m=i, i=i) for i in range(20)))
    _, off = w.logs.start_follow("run-000003", 5)
    if when == "truncated":
        path.write_text(LINE.format(m=1, i=99))
    else:
        new = root / "new.tmp"
        new.write_text("".join(LINE.format(m=i, i=100 + i) for i in range(30)))
        os.replace(new, path)
    df, _ = w.logs.follow("run-000003", off)
    assert "reading it from the start" in df.attrs["restarted"]
    assert df["message"].iloc[0] in ("step 99 done", "step 100 done")


def _cli(args, root: Path, writable_demo: Path, tmp_path: Path):
    env = {
        **os.environ,
        "DSA110_WS_SETTINGS": str(writable_demo / "settings.toml"),
        "DSA110_WS_STATE_DIR": str(tmp_path / "state"),
        "DSA110_WS_LOG_ROOTS": str(root),
    }
    return subprocess.run(
        [sys.executable, "-m", "dsa110_ws", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


@pytest.mark.parametrize("kind", ["fifo", "directory", "dev_zero", "outside_roots"])
def test_what_is_not_a_log_file_is_refused_before_it_is_read(logs, tmp_path, writable_demo, kind):
    w, root = logs
    path = root / "odd-000001.log"
    outside = tmp_path / "secret.log"
    outside.write_text("not a pipeline log\n")
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "dev_zero":
        path.symlink_to("/dev/zero")
    else:
        path.symlink_to(outside)
    expected = {
        "fifo": (NotPermittedError, "FIFO"),
        "directory": (InvalidQueryError, "is a directory"),
        "dev_zero": (NotPermittedError, "/dev/zero"),
        "outside_roots": (NotPermittedError, "outside"),
    }[kind]
    with pytest.raises(expected[0]) as info:
        w.logs.tail("odd-000001", 5)
    msg = str(info.value)
    assert len(msg.splitlines()) == 1 and "odd-000001" in msg and expected[1] in msg
    res = _cli(
        ["logs", "odd-000001", "--follow", "--max-seconds", "1"], root, writable_demo, tmp_path
    )
    assert res.returncode == 1 and not res.stdout
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "odd-000001" in err[0]


@pytest.mark.parametrize("run_id", ["../../etc/passwd", "a/b", "", "-rf", "x" * 200, "run\x00"])
def test_a_malformed_run_id_is_refused(logs, run_id):
    w, _ = logs
    with pytest.raises(InvalidQueryError) as info:
        w.logs.tail(run_id, 5)
    assert len(str(info.value).splitlines()) == 1


def test_bytes_that_are_not_utf8_are_shown_not_fatal(logs):
    w, root = logs
    path = root / "bin-000001.log"
    path.write_bytes(b"2026-11-14T03:00:00 INFO x: caf\xe9 \xff\xfe\n" + b"\x00\x01\x02\n")
    before = _digest(path)
    df = w.logs.tail("bin-000001", 5)
    assert len(df) == 2 and "\ufffd" in df["message"].iloc[0]
    assert _digest(path) == before


@pytest.mark.parametrize("args", [["--grep", "("], ["--level", "LOUD"], ["--since", "1e15"]])
def test_a_bad_filter_is_one_line(logs, tmp_path, writable_demo, args):
    _, root = logs
    (root / "run-000004.log").write_text(LINE.format(m=0, i=0))
    res = _cli(["logs", "run-000004", *args], root, writable_demo, tmp_path)
    assert res.returncode == 1 and not res.stdout
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "Traceback" not in res.stderr
