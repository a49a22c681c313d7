"""The shared cache of derived results: one computation per key across processes, keyed on
the database's state, bounded in time, robust to damage and to a computing process dying."""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

from dsa110_ws.services.shared import SharedCache


def _compute_once(root: str, db: str, calls: str, key: str, out: str) -> None:
    def fn() -> dict:
        with open(calls, "a") as fh:
            fh.write(f"{os.getpid()}\n")
        time.sleep(0.5)  # long enough for the other processes to arrive and wait
        return {"answer": 42, "key": key}

    value = SharedCache(root, ttl_s=60, databases=[db]).get(("k", key), fn)
    Path(out).write_text(repr(value))


@pytest.fixture()
def db(tmp_path) -> Path:
    p = tmp_path / "pipeline.sqlite3"
    p.write_bytes(b"x" * 100)
    return p


def test_concurrent_processes_compute_a_key_once_and_all_get_its_value(tmp_path, db):
    calls = tmp_path / "calls.txt"
    ctx = mp.get_context("spawn")
    outs = [tmp_path / f"out{i}.txt" for i in range(4)]
    procs = [
        ctx.Process(
            target=_compute_once, args=(str(tmp_path / "c"), str(db), str(calls), "a", str(o))
        )
        for o in outs
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert len(calls.read_text().split()) == 1  # one computation for four processes
    assert {o.read_text() for o in outs} == {repr({"answer": 42, "key": "a"})}


def test_a_change_of_the_database_or_the_end_of_the_lifetime_recomputes(tmp_path, db):
    now = [1000.0]
    cache = SharedCache(tmp_path / "c", ttl_s=10, databases=[db], clock=lambda: now[0])
    n = [0]

    def fn() -> int:
        n[0] += 1
        return n[0]

    assert cache.get("k", fn) == 1
    assert cache.get("k", fn) == 1 and cache.hits == 1
    with open(db, "ab") as fh:  # the pipeline committed: size and mtime change
        fh.write(b"y")
    assert cache.get("k", fn) == 2
    now[0] += 9.9
    assert cache.get("k", fn) == 2
    now[0] += 0.2  # 10.1 s after it was computed: stale
    assert cache.get("k", fn) == 3
    (Path(f"{db}-wal")).write_bytes(b"w")  # a write-ahead log appearing counts too
    assert cache.get("k", fn) == 4
    assert cache.get("other", fn) == 5  # keys are independent


def test_a_damaged_entry_is_recomputed_and_errors_are_never_cached(tmp_path, db):
    cache = SharedCache(tmp_path / "c", ttl_s=60, databases=[db])
    assert cache.get("k", lambda: [1, 2, 3]) == [1, 2, 3]
    (entry,) = (tmp_path / "c").glob("*.pkl")
    data = bytearray(entry.read_bytes())
    data[-3] ^= 0xFF  # one flipped byte in the payload: its checksum no longer matches
    entry.write_bytes(bytes(data))
    assert cache.get("k", lambda: "again") == "again"
    entry.write_bytes(b"garbage")
    assert cache.get("k", lambda: "third") == "third"

    def boom() -> None:
        raise RuntimeError("no")

    with pytest.raises(RuntimeError):
        cache.get("e", boom)
    assert cache.get("e", lambda: "fine") == "fine"
    assert cache.clear() == 2 and cache.get("k", lambda: "cleared") == "cleared"


class _Planted:
    """A pickle that, when loaded, creates the file ``path`` (what a hostile entry does)."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def _entry(payload: bytes, created: float, key: bytes | None) -> bytes:
    """An entry in the cache's format, signed with ``key`` (None: a plain SHA-256, the
    format before entries were signed)."""
    import hashlib
    import hmac
    import json

    from dsa110_ws.services.shared import _MAGIC

    digest = (
        hashlib.sha256(payload).hexdigest()
        if key is None
        else hmac.new(key, payload, hashlib.sha256).hexdigest()
    )
    meta = {"created": created, "hmac": digest, "sha256": digest}
    return _MAGIC + json.dumps(meta).encode() + b"\n" + payload


def test_an_entry_not_signed_with_the_key_is_never_unpickled(tmp_path, db):
    """Someone who can write into the cache's directory but not read its key plants an
    entry whose pickle runs code: it is not loaded (the planted file never appears) and
    the value is computed instead; the key file is the owner's alone.  Signed with the
    cache's key, the same entry is loaded (so the test can fail)."""
    import pickle

    now = 1000.0
    root = tmp_path / "c"
    assert SharedCache(root, ttl_s=60, databases=[db], clock=lambda: now).get("k", str) == ""
    key = root / "key"
    assert key.stat().st_mode & 0o777 == 0o600 and len(key.read_bytes()) == 32
    (entry,) = root.glob("*.pkl")
    planted = tmp_path / "planted"
    payload = pickle.dumps(_Planted(planted))
    for i, forged in enumerate((None, b"\0" * 32)):
        entry.write_bytes(_entry(payload, now, forged))
        cache = SharedCache(root, ttl_s=60, databases=[db], clock=lambda: now)
        assert cache.get("k", lambda i=i: f"computed {i}") == f"computed {i}"
        assert not planted.exists()
    entry.write_bytes(_entry(payload, now, key.read_bytes()))
    SharedCache(root, ttl_s=60, databases=[db], clock=lambda: now).get("k", str)
    assert planted.exists()


def test_a_key_others_may_read_turns_sharing_off(tmp_path, db):
    """A key file that others may read (or that is not a key) is not trusted: nothing is
    read from or written to the cache, every call computes."""
    root = tmp_path / "c"
    root.mkdir()
    key = root / "key"
    key.write_bytes(os.urandom(32))
    key.chmod(0o644)
    cache = SharedCache(root, ttl_s=60, databases=[db])
    assert [cache.get("k", lambda i=i: i) for i in range(3)] == [0, 1, 2]
    assert not list(root.glob("*.pkl"))
    key.chmod(0o600)
    key.write_bytes(b"short")
    cache = SharedCache(root, ttl_s=60, databases=[db])
    assert [cache.get("k", lambda i=i: i) for i in range(2)] == [0, 1]
    key.write_bytes(os.urandom(32))  # a proper key: shared again
    cache = SharedCache(root, ttl_s=60, databases=[db])
    assert [cache.get("k", lambda i=i: i) for i in range(2)] == [0, 0]


def test_ttl_zero_turns_sharing_off(tmp_path, db):
    cache = SharedCache(tmp_path / "c", ttl_s=0, databases=[db])
    assert [cache.get("k", lambda i=i: i) for i in range(3)] == [0, 1, 2]
    assert not (tmp_path / "c").exists()


def _hold_forever(root: str, db: str) -> None:
    SharedCache(root, ttl_s=60, databases=[db]).get("k", lambda: time.sleep(3600))


def test_a_process_killed_while_computing_does_not_block_the_others(tmp_path, db):
    root = tmp_path / "c"
    ctx = mp.get_context("spawn")
    holder = ctx.Process(target=_hold_forever, args=(str(root), str(db)))
    holder.start()
    deadline = time.monotonic() + 60
    while not list(root.glob("*.lock")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # it holds the lock and computes
    os.kill(holder.pid, signal.SIGKILL)
    holder.join(10)
    t0 = time.monotonic()
    assert SharedCache(root, ttl_s=60, databases=[db], wait_s=30).get("k", lambda: "ok") == "ok"
    assert time.monotonic() - t0 < 20  # the dead process's lock went with it


def test_two_workspaces_over_one_state_share_a_panel_refresh(demo_dir, tmp_path, truth):
    """The second kernel's health panel is served without asking either database."""
    import dsa110_ws
    from dsa110_ws.panels.health import HealthPanel

    state = tmp_path / "state"
    shutil.rmtree(state, ignore_errors=True)
    w1 = dsa110_ws.connect(demo_dir / "settings.toml", state_dir=state)
    w2 = dsa110_ws.connect(demo_dir / "settings.toml", state_dir=state)
    try:
        p1 = HealthPanel(w1, background=False)
        assert w1.db.queries.n > 0 and w1.shared.misses == 1
        q2 = w2.db.queries.n
        p2 = HealthPanel(w2, background=False)
        assert w2.db.queries.n == q2 and w2.shared.hits == 1  # not one query
        assert len(p2.stuck) == len(p1.stuck) == len(truth["ms_states"]["stuck"]) == 1
        assert p2.report.status == p1.report.status
    finally:
        w1.close()
        w2.close()
