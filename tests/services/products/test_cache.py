"""w.cache: entries keyed by file identity and parameters, in the state directory only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dsa110_ws.errors import InvalidQueryError
from dsa110_ws.services.products.cache import ProductCache, file_identity


def _bump(path, ns=10**9):
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + ns))


def test_put_get_and_identity(workspace, tmp_path):
    src = tmp_path / "product.dat"
    src.write_bytes(b"abc")
    c = workspace.cache
    assert c.get("thumbnail", src, {"size": 1}) is None
    c.put("thumbnail", src, {"size": 1}, b"\x00png")
    c.put("qa.image", src, {"t": 1}, {"grade": "good", "x": [1.5, None]})
    assert c.get("thumbnail", src, {"size": 1}) == b"\x00png"
    assert c.get("thumbnail", src, {"size": 2}) is None  # parameters are part of the key
    assert c.get("qa.image", src, {"t": 1}) == {"grade": "good", "x": [1.5, None]}
    src.write_bytes(b"abcd")  # size changed
    assert c.get("thumbnail", src, {"size": 1}) is None
    c.put("thumbnail", src, {"size": 1}, b"new")
    _bump(src)  # same size, newer mtime
    assert c.get("thumbnail", src, {"size": 1}) is None
    assert str(c.root).startswith(str(workspace.settings.state_dir))


def test_get_or_compute_recomputes_only_when_needed(workspace, tmp_path):
    src = tmp_path / "p.dat"
    src.write_text("x")
    calls = []

    def compute():
        calls.append(1)
        return {"n": len(calls)}

    c = workspace.cache
    assert c.get_or_compute("k", src, {}, compute) == {"n": 1}
    assert c.get_or_compute("k", src, {}, compute) == {"n": 1}
    assert c.get_or_compute("k", src, {}, compute, use_cache=False) == {"n": 2}
    _bump(src)
    assert c.get_or_compute("k", src, {}, compute) == {"n": 3}
    assert len(list(c.entries())) == 1  # a changed file replaces its entry


def test_directory_identity_ignores_casacore_lock_files(truth, tmp_path):
    import shutil

    ms = str(tmp_path / "copy.ms")  # a copy: the session demo is shared and read-only
    shutil.copytree(truth["measurement_sets"][0]["path"], ms)
    for lock in Path(ms).rglob("table.lock"):
        lock.unlink()
    before = file_identity(ms)
    from casacore import tables

    with tables.table(ms, ack=False):
        pass  # creates table.lock in a writable directory
    assert (Path(ms) / "table.lock").exists()
    assert file_identity(ms) == before
    assert before.size > 0 and before.path == ms


def test_stats_clear_and_prune(workspace, tmp_path):
    a, b = tmp_path / "night1" / "a.fits", tmp_path / "night2" / "b.fits"
    for p in (a, b):
        p.parent.mkdir()
        p.write_text(p.name)
    c = workspace.cache
    c.put("thumbnail", a, {"s": 1}, b"1" * 100)
    c.put("thumbnail", a, {"s": 2}, b"2" * 100)
    c.put("qa.image", b, {}, {"ok": True})
    s = c.stats()
    assert s["n_entries"] == 3 and s["by_kind"]["thumbnail"]["n_entries"] == 2
    assert (
        s["by_kind"]["thumbnail"]["bytes"] > 200 and s["bytes"] > s["by_kind"]["thumbnail"]["bytes"]
    )
    assert c.clear(str(tmp_path / "night1" / "*")) == 2
    assert c.stats()["n_entries"] == 1
    c.put("thumbnail", a, {}, b"x")
    assert c.clear(kind="qa.image") == 1
    b.write_text("changed")
    a.unlink()
    c.put("qa.image", b, {"v": 2}, {"ok": False})
    _bump(b)
    assert c.prune() == 2  # a's source vanished; b's entry is stale
    assert c.clear() == 0


def test_damaged_entries_are_ignored(workspace, tmp_path):
    src = tmp_path / "p.dat"
    src.write_text("x")
    c = workspace.cache
    c.put("k", src, {}, {"v": 1})
    ((entry, _),) = list(c.entries())
    entry.write_bytes(b"garbage")
    assert c.get("k", src, {}) is None
    assert c.get_or_compute("k", src, {}, lambda: {"v": 2}) == {"v": 2}


def test_bad_kinds_are_refused(workspace, tmp_path):
    src = tmp_path / "p.dat"
    src.write_text("x")
    for kind in ("../escape", "", "a/b"):
        with pytest.raises(InvalidQueryError):
            workspace.cache.put(kind, src, {}, b"")
    assert not (workspace.cache.root.parent / "escape").exists()


def test_cache_from_settings_is_picklable_and_shared(workspace, tmp_path):
    import pickle

    src = tmp_path / "p.dat"
    src.write_text("x")
    workspace.cache.put("k", src, {}, b"shared")
    other = pickle.loads(pickle.dumps(ProductCache(workspace.settings.state_dir / "products")))
    assert other.get("k", src, {}) == b"shared"
