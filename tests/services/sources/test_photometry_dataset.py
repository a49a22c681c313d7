"""The photometry dataset: the same rows as SQLite, refreshed incrementally to exactly what
a full rebuild gives while a second process appends, updates and deletes, readable by
DuckDB and pandas without the manifest, and never half-written.  Every test works on a
private copy of the demo database and a private state dir."""

from __future__ import annotations

import functools
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from pandas.testing import assert_frame_equal

import dsa110_ws
from dsa110_ws.errors import ConfigurationError

ON = {"sources": {"dataset_min_rows": 0, "dask_min_rows": -1, "dataset_full_check_hours": -1}}


def connect(demo: Path, state: Path, **sources):
    return dsa110_ws.connect(
        demo / "settings.toml", state_dir=state, sections={"sources": {**ON["sources"], **sources}}
    )


def age(db: Path, seconds: float = 3600.0) -> None:
    t = time.time() - seconds
    for p in (db, Path(f"{db}-wal")):
        if p.exists():
            os.utime(p, (t, t))


def in_other_process(db: Path, sql: str, params: tuple = ()) -> None:
    """Write to the database from a second process, as the pipeline would."""
    code = textwrap.dedent(
        f"""
        import sqlite3, sys
        con = sqlite3.connect({str(db)!r})
        with con:
            con.execute({sql!r}, {params!r})
        con.close()
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def dataset_rows(w) -> pd.DataFrame:
    """Every row of the dataset's current directory, read by globbing its files (no
    manifest), in id order."""
    files = sorted(Path(w.dataset.path).glob("*/*.parquet"))
    df = pq.read_table(files).to_pandas() if files else pd.DataFrame()
    return df.sort_values("id").reset_index(drop=True)


def sqlite_rows(db: Path, columns: list[str]) -> pd.DataFrame:
    obs = (
        "COALESCE(p.mjd, (SELECT m.mid_mjd FROM images i JOIN ms_index m ON m.path = i.ms_path "
        "WHERE i.path = p.image_path LIMIT 1))"
    )
    exprs = [obs + " AS obs_mjd" if c == "obs_mjd" else f"p.{c}" for c in columns]
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    df = pd.read_sql_query(f"SELECT {', '.join(exprs)} FROM photometry p ORDER BY p.id", con)
    con.close()
    return df


def same_rows(w, db: Path) -> None:
    """The dataset holds exactly the database's rows (an oracle read with plain sqlite3)."""
    got = dataset_rows(w)
    want = sqlite_rows(db, list(got.columns))
    assert len(got) == len(want) > 0
    for c in got.columns:
        a, b = got[c].to_numpy(), want[c].to_numpy()
        if got[c].dtype.kind == "f":
            np.testing.assert_array_equal(a, b.astype(float))
        else:
            assert list(map(str, a)) == list(map(str, b)), c


def table_equal(a: pd.DataFrame, b: pd.DataFrame) -> None:
    a, b = a.copy(), b.copy()
    for t in (a, b):
        t.attrs.clear()
    assert_frame_equal(a, b, check_exact=False, rtol=1e-9)


def same_as_rebuild(w, writable: Path, tmp: Path) -> None:
    """The incrementally refreshed dataset equals a fresh build of the same database."""
    fresh = connect(writable, tmp / f"rebuild-{time.monotonic_ns()}")
    fresh.dataset.refresh(progress=False)
    assert fresh.dataset.status()["last_refresh"]["mode"] == "build"
    pd.testing.assert_frame_equal(dataset_rows(w), dataset_rows(fresh))
    table_equal(
        w.sources.variability(preset=None, engine="dataset"),
        w.sources.variability(preset=None, engine="sqlite"),
    )
    fresh.close()


@pytest.fixture()
def db(writable_demo) -> Path:
    path = writable_demo / "pipeline.sqlite3"
    age(path)
    return path


CASES = [
    {},
    {"flux": "raw"},
    {"flux": "normalized"},
    {"flux": "reference"},
    {"start": "2026-11-07", "end": "2026-11-10T12:00:00"},
    {"start": 61353.0},
    {"min_epochs": 5},
]


@pytest.mark.parametrize("kw", CASES, ids=[str(c) for c in CASES])
def test_dataset_gives_the_same_table_as_sqlite(db, writable_demo, tmp_path, kw):
    w = connect(writable_demo, tmp_path / "st")
    a = w.sources.variability(preset=None, engine="sqlite", **kw)
    b = w.sources.variability(preset=None, engine="dataset", **kw)
    assert (a.attrs.pop("engine"), b.attrs.pop("engine")) == ("sqlite", "dataset")
    assert a.attrs == b.attrs and len(a) > 0
    table_equal(a, b)


def test_rows_subsets_catalogue_and_normalisation_match_sqlite(db, writable_demo, tmp_path, truth):
    w = connect(writable_demo, tmp_path / "st")
    w.dataset.refresh(progress=False)
    same_rows(w, db)
    ids = [v["source_id"] for v in truth["sources"]["variables"]][:3] + ["NOT-A-SOURCE"]
    table_equal(
        w.sources.variability(preset=None, source_ids=ids, engine="sqlite"),
        w.sources.variability(preset=None, source_ids=ids, engine="dataset"),
    )
    na, nb = w.sources.normalisation(engine="sqlite"), w.sources.normalisation(engine="dataset")
    assert len(nb.references) > 10
    assert_frame_equal(na.corrections, nb.corrections, check_exact=False, rtol=1e-9)
    assert_frame_equal(na.references, nb.references, check_exact=False, rtol=1e-9)
    ca = w.sources.catalog(limit=None, engine="sqlite")
    cb = w.sources.catalog(limit=None, engine="dataset")
    assert ca.attrs["derived"] and cb.attrs["derived"] and len(cb) == truth["sources"]["n_sources"]
    table_equal(ca, cb)
    with pytest.warns(dsa110_ws.repositories.TruncatedResultWarning):
        short = w.sources.catalog(limit=10, engine="dataset")
    assert list(short["id"]) == list(ca["id"][:10]) and short.attrs["truncated"]


def test_incremental_refresh_equals_a_rebuild_and_reads_only_what_changed(
    db, writable_demo, tmp_path
):
    w = connect(writable_demo, tmp_path / "st")
    first = w.dataset.refresh(progress=False)
    assert (
        first["last_refresh"]["mode"] == "build"
        and first["rows"] == first["last_refresh"]["rows_read"]
    )
    con = sqlite3.connect(db)
    last_two = [
        r[0]
        for r in con.execute(
            "SELECT image_path FROM photometry GROUP BY image_path ORDER BY MAX(mjd) DESC LIMIT 2"
        )
    ]
    n_night = con.execute(
        "SELECT COUNT(*) FROM photometry WHERE image_path IN (?, ?)", last_two
    ).fetchone()[0]
    victim = con.execute(
        "SELECT image_path FROM photometry GROUP BY image_path ORDER BY MIN(mjd) LIMIT 1 OFFSET 5"
    ).fetchone()[0]
    changed = con.execute(
        "SELECT image_path FROM photometry GROUP BY image_path ORDER BY MIN(mjd) LIMIT 1 OFFSET 9"
    ).fetchone()[0]
    n_victim, n_changed = (
        con.execute("SELECT COUNT(*) FROM photometry WHERE image_path = ?", (p,)).fetchone()[0]
        for p in (victim, changed)
    )
    cols = [r[1] for r in con.execute("PRAGMA table_info(photometry)") if r[1] != "id"]
    con.close()

    # 1. a second process appends a night (copies of the last two images, a day later)
    sel = ", ".join(
        "image_path || '-next'"
        if c == "image_path"
        else "mjd + 1.0"
        if c == "mjd"
        else "flux_jy * 1.01"
        if c == "flux_jy"
        else c
        for c in cols
    )
    in_other_process(
        db,
        f"INSERT INTO photometry ({', '.join(cols)}) SELECT {sel} FROM "
        "photometry WHERE image_path IN (?, ?) ORDER BY id",
        tuple(last_two),
    )
    out = w.dataset.refresh(progress=False)["last_refresh"]
    assert out["mode"] == "appends"
    assert (out["rows_read"], out["rows_checked"], out["images_added"]) == (n_night, 0, 2)
    same_as_rebuild(w, writable_demo, tmp_path)

    # 2. it deletes one image's rows: found from the ids alone, nothing re-read
    in_other_process(db, "DELETE FROM photometry WHERE image_path = ?", (victim,))
    out = w.dataset.refresh(progress=False)["last_refresh"]
    assert out["mode"] == "ids"
    assert (out["rows_read"], out["rows_dropped"], out["images_removed"]) == (0, n_victim, 1)
    same_as_rebuild(w, writable_demo, tmp_path)

    # 3. it updates one image's rows in place: invisible to counts and ids, so the cheap
    # refresh keeps the old values; the full check finds exactly that image
    in_other_process(
        db,
        "UPDATE photometry SET flux_jy = flux_jy * 1.5, normalized_flux_jy "
        "= normalized_flux_jy * 1.5 WHERE image_path = ?",
        (changed,),
    )
    assert w.dataset.refresh(progress=False)["last_refresh"]["rows_read"] == 0
    out = w.dataset.refresh(full=True, progress=False)["last_refresh"]
    assert out["mode"] == "full" and out["rows_checked"] > 1000
    assert (out["rows_read"], out["rows_dropped"], out["images_changed"]) == (
        n_changed,
        n_changed,
        1,
    )
    same_as_rebuild(w, writable_demo, tmp_path)
    same_rows(w, db)


def test_a_heartbeat_costs_no_photometry_read(db, writable_demo, tmp_path):
    w = connect(writable_demo, tmp_path / "st")
    w.dataset.refresh(progress=False)
    before = w.dataset.status()
    assert before["state"] == "current"
    in_other_process(
        db,
        "UPDATE jobs SET logs = COALESCE(logs, '') || 'heartbeat' "
        "WHERE id = (SELECT MIN(id) FROM jobs)",
    )
    assert w.dataset.status()["state"] == "unchecked"
    age(db)  # settled since
    out = w.dataset.refresh(progress=False)
    assert out["last_refresh"]["mode"] == "appends"
    assert (out["last_refresh"]["rows_read"], out["last_refresh"]["rows_checked"]) == (0, 0)
    assert out["version"] == before["version"]  # nothing rewritten
    assert out["state"] == "current"


def test_a_full_check_is_due_by_age(db, writable_demo, tmp_path):
    w = connect(writable_demo, tmp_path / "st", dataset_full_check_hours=0)
    w.dataset.refresh(progress=False)
    in_other_process(
        db,
        "UPDATE photometry SET flux_jy = flux_jy + 1 WHERE id = "
        "(SELECT MIN(id) FROM photometry WHERE flux_jy IS NOT NULL)",
    )
    out = w.dataset.refresh(progress=False)["last_refresh"]
    assert out["mode"] == "full" and out["images_changed"] == 1
    same_rows(w, db)


def test_a_racing_write_is_read_but_its_file_state_not_trusted(db, writable_demo, tmp_path):
    w = connect(writable_demo, tmp_path / "st")
    os.utime(db)  # written just now
    out = w.dataset.refresh(progress=False)
    assert out["last_refresh"]["settled"] is False and out["state"] == "unchecked"
    age(db)
    again = w.dataset.refresh(progress=False)
    assert again["last_refresh"]["mode"] == "appends" and again["state"] == "current"


def test_duckdb_and_pandas_read_the_directory_without_the_manifest(db, writable_demo, tmp_path):
    import duckdb

    w = connect(writable_demo, tmp_path / "st")
    ds = w.sources.dataset(progress=False)
    got = duckdb.sql(
        f"SELECT source_id, COUNT(*) AS n FROM read_parquet('{ds.path}/*/*.parquet') "
        "GROUP BY source_id ORDER BY source_id"
    ).df()
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    want = pd.read_sql_query(
        "SELECT source_id, COUNT(*) AS n FROM photometry GROUP BY source_id ORDER BY source_id", con
    )
    con.close()
    assert got["source_id"].tolist() == want["source_id"].tolist()
    assert got["n"].tolist() == want["n"].tolist()
    assert len(pd.read_parquet(ds.path)) == want["n"].sum()
    assert ds.to_arrow().count_rows() == want["n"].sum()
    assert set(ds.to_arrow().schema.names) >= {
        "id",
        "source_id",
        "image_path",
        "obs_mjd",
        "flux_jy",
        "normalized_flux_jy",
        "ra_deg",
    }


def test_the_stdlib_reader_gives_the_same_dataset(db, writable_demo, tmp_path):
    adbc = connect(writable_demo, tmp_path / "a")
    std = connect(writable_demo, tmp_path / "b", dataset_reader="sqlite3")
    assert adbc.dataset.refresh(progress=False)["last_refresh"]["driver"] == "adbc"
    assert std.dataset.refresh(progress=False)["last_refresh"]["driver"] == "sqlite3"
    pd.testing.assert_frame_equal(dataset_rows(adbc), dataset_rows(std))
    # without the driver installed, "auto" falls back to the standard library
    code = textwrap.dedent(f"""
        import sys, json
        sys.modules["adbc_driver_sqlite"] = None  # as if the package were not installed
        import dsa110_ws
        w = dsa110_ws.connect({str(writable_demo / "settings.toml")!r},
                              state_dir={str(tmp_path / "c")!r}, sections={ON!r})
        out = w.dataset.refresh(progress=False)
        print(json.dumps([out["last_refresh"]["driver"], out["rows"]]))
        """)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f'["sqlite3", {len(dataset_rows(adbc))}]'


def test_a_column_of_mixed_types_is_read_by_the_stdlib_reader(db, writable_demo, tmp_path):
    in_other_process(
        db,
        "UPDATE photometry SET flux_jy = 'n/a' WHERE id IN "
        "(SELECT id FROM photometry WHERE flux_jy IS NOT NULL LIMIT 3)",
    )
    w = connect(writable_demo, tmp_path / "st")
    out = w.dataset.refresh(progress=False)
    assert out["last_refresh"]["driver"] == "sqlite3"  # ADBC stopped at the text; auto fell back
    table_equal(
        w.sources.variability(preset=None, engine="sqlite"),
        w.sources.variability(preset=None, engine="dataset"),
    )
    strict = connect(writable_demo, tmp_path / "st2", dataset_reader="adbc")
    with pytest.raises(dsa110_ws.errors.DataUnavailableError, match="dataset_reader = 'sqlite3'"):
        strict.dataset.refresh(progress=False)


KILLER = """
import os, sys, time
import dsa110_ws
w = dsa110_ws.connect(sys.argv[1], state_dir=sys.argv[2], sections={on!r})
def progress(stage, done, total):
    if stage == "writing" and done == 20:
        open(sys.argv[3], "w").close()
        time.sleep(600)
w.dataset.refresh(progress=progress)
"""


def test_a_refresh_killed_midway_leaves_the_previous_version(db, writable_demo, tmp_path):
    state = tmp_path / "st"
    w = connect(writable_demo, state)
    w.dataset.refresh(progress=False)
    before = w.dataset.status()
    in_other_process(db, "DELETE FROM photometry WHERE id % 7 = 0")
    marker = tmp_path / "midway"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            KILLER.format(on=ON),
            str(writable_demo / "settings.toml"),
            str(state),
            str(marker),
        ]
    )
    try:
        deadline = time.time() + 240
        while not marker.exists():
            assert child.poll() is None and time.time() < deadline
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    root = Path(before["path"]).parent
    assert (root / f"v{before['version'] + 1:06d}").is_dir()  # half-written, unreferenced
    assert w.dataset.status()["version"] == before["version"]
    assert len(dataset_rows(w)) == before["rows"]  # a glob still sees one whole version
    table_equal(
        w.sources.variability(preset=None, engine="sqlite"),
        w.sources.variability(preset=None, engine="dataset"),
    )
    same_rows(w, db)
    assert not (root / f"v{before['version'] + 2:06d}").exists()  # the leftover was reused


COLD_KILLER = """
import sys, time
import dsa110_ws
from dsa110_ws.services.sources import _dataset_build
_dataset_build.build.__kwdefaults__["chunk_rows"] = 1000  # fragments written as it reads
w = dsa110_ws.connect(sys.argv[1], state_dir=sys.argv[2], sections={on!r})
def progress(stage, done, total):
    if stage == "reading" and done >= 3000:
        open(sys.argv[3], "w").close()
        time.sleep(600)
w.dataset.refresh(progress=progress)
"""


def test_a_cold_build_killed_midway_leaves_no_dataset_and_the_next_read_is_right(
    db, writable_demo, tmp_path
):
    state, marker = tmp_path / "st", tmp_path / "midway"
    args = [str(writable_demo / "settings.toml"), str(state), str(marker)]
    child = subprocess.Popen([sys.executable, "-c", COLD_KILLER.format(on=ON), *args])
    try:
        deadline = time.time() + 240
        while not marker.exists():
            assert child.poll() is None and time.time() < deadline
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=60)
    w = connect(writable_demo, state)
    written = list(w.dataset.root.glob("v000001/*/*.parquet"))
    assert len(written) >= 3  # fragments of the first chunks were on disk when it died
    assert w.dataset.status()["built"] is False
    assert not list(Path(w.dataset.path).glob("*/*.parquet"))  # a glob sees no rows
    table_equal(
        w.sources.variability(preset=None, engine="sqlite"),
        w.sources.variability(preset=None, engine="dataset"),  # builds it, from scratch
    )
    assert w.dataset.status()["last_refresh"]["mode"] == "build"
    same_rows(w, db)


def test_engine_choice_and_settings(db, writable_demo, tmp_path):
    small = dsa110_ws.connect(writable_demo / "settings.toml", state_dir=tmp_path / "s")
    assert small.sources.variability(preset=None).attrs["engine"] == "sqlite"  # < 1,000,000 rows
    assert not (tmp_path / "s" / "datasets").exists()
    w = connect(writable_demo, tmp_path / "st")
    assert w.sources.variability(preset=None).attrs["engine"] == "dataset"
    with pytest.raises(dsa110_ws.errors.InvalidQueryError, match="engine='gpu'"):
        w.sources.variability(engine="gpu")
    with pytest.raises(ConfigurationError, match="dataset_partitions"):
        connect(writable_demo, tmp_path / "x", dataset_partitions=0)
    with pytest.raises(ConfigurationError, match="snapshot_min_rows"):
        dsa110_ws.connect(
            writable_demo / "settings.toml",
            state_dir=tmp_path / "y",
            sections={"sources": {"snapshot_min_rows": 0}},
        )


def test_changing_the_partition_count_rebuilds(db, writable_demo, tmp_path):
    w = connect(writable_demo, tmp_path / "st")
    w.dataset.refresh(progress=False)
    w8 = connect(writable_demo, tmp_path / "st", dataset_partitions=8)
    out = w8.dataset.refresh(progress=False)
    assert out["last_refresh"]["mode"] == "build" and out["partitions"] == 8
    assert len({p.parent.name for p in Path(out["path"]).glob("*/*.parquet")}) <= 8
    same_rows(w8, db)


def test_pipeline_database_untouched(db, writable_demo, tmp_path):
    import hashlib

    before = hashlib.sha256(db.read_bytes()).hexdigest()
    listing = sorted(p.name for p in writable_demo.iterdir())
    w = connect(writable_demo, tmp_path / "st")
    w.sources.variability(preset=None)
    w.close()
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in writable_demo.iterdir()) == listing


@pytest.mark.parametrize("processes", [1, 2])
def test_a_build_in_chunks_or_processes_gives_the_same_rows(
    db, writable_demo, tmp_path, processes, monkeypatch
):
    from dsa110_ws.repositories.photometry_arrow import PhotometryReader
    from dsa110_ws.services.sources import _dataset_build

    w = connect(writable_demo, tmp_path / "st", dataset_build_processes=1)
    one = dataset_rows(w) if w.dataset.refresh(progress=False) else None
    assert w.dataset.status()["last_refresh"]["processes"] == 1
    monkeypatch.setattr(_dataset_build, "MIN_ROWS_PER_PROCESS", 1000)  # the demo is small
    build = functools.partial(
        _dataset_build.build,
        w.dataset.root,
        db,
        PhotometryReader(w.db),
        n_partitions=64,
        processes=processes,
        chunk_rows=1000,
    )
    man = build(version=2)
    assert man.n_rows == len(one) and man.last_refresh["processes"] == processes
    # the progress shown while this process reads its share counts the workers' at its pace
    calls: list[int] = []
    build(version=3, progress=lambda stage, done, total: calls.append(done))
    assert calls[-1] == len(one) and max(calls[:-1]) >= 0.9 * len(one), calls
    # a fragment per chunk of about 1000 rows (of 5440), in increasing id ranges
    assert 3 <= max(len(p) for p in man.partitions) <= 7
    pd.testing.assert_frame_equal(dataset_rows(w), one)
    table_equal(
        w.sources.variability(preset=None, engine="sqlite"),
        w.sources.variability(preset=None, engine="dataset"),
    )


def test_a_damaged_dataset_file_is_rebuilt_never_read_as_wrong_rows(db, writable_demo, tmp_path):
    """Bytes of one Parquet file altered on disk (its size and footer intact): the page
    checksums catch it, the dataset is built again from SQLite, and the answer is SQLite's."""
    w = connect(writable_demo, tmp_path / "st")
    sqlite = w.sources.variability(preset=None, engine="sqlite")
    w.sources.variability(preset=None, engine="dataset")  # built
    victim = max(
        (f for part in w.dataset.files() for f in part), key=lambda f: Path(f).stat().st_size
    )
    raw = bytearray(Path(victim).read_bytes())
    size = len(raw)
    for k in range(size // 4, size // 4 + 8):  # inside the data pages, far from the footer
        raw[k] ^= 0x5A
    Path(victim).write_bytes(raw)
    assert Path(victim).stat().st_size == size
    again = w.sources.variability(preset=None, engine="dataset")
    assert again.attrs.pop("engine") == "dataset" and sqlite.attrs.pop("engine") == "sqlite"
    table_equal(sqlite, again)
    damage = w.dataset.status()["last_damage"]
    assert damage and "checksum" in damage.lower()
    w.close()


def test_an_unguarded_script_gets_the_reason_not_a_hang(db, writable_demo, tmp_path):
    """A script without ``if __name__ == "__main__":`` that builds the dataset with worker
    processes: the workers (spawned) re-run it and used to wait for ever on the lock the
    parent holds.  Now the script ends, saying why and what to do, and leaves no dataset."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import dsa110_ws
            from dsa110_ws.services.sources import _dataset_build
            _dataset_build.MIN_ROWS_PER_PROCESS = 1000  # the demo is small
            w = dsa110_ws.connect({str(writable_demo / "settings.toml")!r},
                                  state_dir={str(tmp_path / "st")!r},
                                  sections={{"sources": {{"dataset_min_rows": 0,
                                                         "dataset_build_processes": 2}}}})
            w.dataset.refresh(progress=False)
            print("BUILT")
            """
        )
    )
    res = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert res.returncode == 1 and "BUILT" not in res.stdout, (res.stdout, res.stderr[-2000:])
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("dsa110_ws.errors.ConfigurationError: A worker process"), last
    assert 'if __name__ == "__main__":' in last and "dataset_build_processes = 1" in last
    assert not list((tmp_path / "st").rglob("*.parquet"))


def test_the_partition_hash_is_zlibs_crc32():
    """The partition of a source is documented as CRC-32 of its UTF-8 bytes modulo the
    partition count: the vectorised hash agrees with zlib on ASCII, non-ASCII, empty,
    long and NUL-ending ids, and on a sliced Arrow array."""
    import zlib

    import pyarrow as pa

    from dsa110_ws.services.sources._dataset_files import bucket_of, crc32_of

    rng = np.random.default_rng(7)
    vals = ["", "a", "J123456+123456", "é∂ƒ漢字", "x" * 300, "ab\x00"]
    vals += [
        "".join(chr(c) for c in rng.integers(32, 0x3000, rng.integers(0, 40))) for _ in range(500)
    ]
    want = np.array([zlib.crc32(v.encode()) for v in vals], dtype=np.uint32)
    np.testing.assert_array_equal(crc32_of(vals), want)
    np.testing.assert_array_equal(crc32_of(pa.array(["pad", *vals])[1:]), want)
    np.testing.assert_array_equal(bucket_of(np.array(vals, dtype=object), 64), want % 64)


def test_partitioning_gives_the_documented_order_with_nulls_and_reused_dictionaries():
    """Rows out of id order, sources and images that are NULL, ties in time: every
    partition holds exactly its sources' rows (CRC-32 modulo), sorted by (source_id in
    byte order, obs_mjd, id), rows without a source last in partition 0; the same when the
    image column comes dictionary-encoded by the caller; and the rows per image (NULL
    included) are what counting in Python gives."""
    import zlib
    from collections import Counter

    import pyarrow as pa

    from dsa110_ws.services.sources._dataset_files import (
        counts_of,
        image_counts,
        partition_rows,
        text_dictionary,
    )

    rng = np.random.default_rng(11)
    n, parts = 3000, 6
    names = ["J1", "J2", "é-src", "B1933+16", "Z", "a", "ab"]
    # two sources share partition 0 with the rows that have none
    assert sum(zlib.crc32(s.encode()) % parts == 0 for s in names) == 2
    src = [None if rng.random() < 0.05 else names[rng.integers(len(names))] for _ in range(n)]
    img = [None if rng.random() < 0.05 else f"/im/{rng.integers(40)}.fits" for _ in range(n)]
    ids = rng.permutation(np.arange(1, n + 1))  # not in id order
    obs = rng.integers(0, 30, n).astype(float)  # many ties in time
    table = pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "source_id": pa.array(src, pa.string()),
            "image_path": pa.array(img, pa.string()),
            "obs_mjd": pa.array(obs),
            "flux_jy": pa.array(rng.normal(size=n)),
        }
    )

    def want(p: int) -> list[int]:
        def bucket(s):
            return 0 if s is None else zlib.crc32(s.encode()) % parts

        rows = [i for i in range(n) if bucket(src[i]) == p]
        last = b"\xff" * 8  # no source: after every source
        rows.sort(key=lambda i: (last if src[i] is None else src[i].encode(), obs[i], ids[i]))
        return [int(ids[i]) for i in rows]

    for dictionaries in (None, {"image_path": text_dictionary(table.column("image_path"))}):
        got = dict(partition_rows(table, parts, dictionaries))
        assert sum(t.num_rows for t in got.values()) == n
        for p in range(parts):
            assert (got[p].column("id").to_pylist() if p in got else []) == want(p), p
        for t in got.values():  # every column moved with its row
            by_id = {int(i): k for k, i in enumerate(ids)}
            k = [by_id[i] for i in t.column("id").to_pylist()]
            assert t.column("source_id").to_pylist() == [src[j] for j in k]
            assert t.column("image_path").to_pylist() == [img[j] for j in k]
            assert t.column("flux_jy").to_pylist() == [
                float(table["flux_jy"][j].as_py()) for j in k
            ]
    expected = Counter(img)
    for counts in (image_counts(table), counts_of(*text_dictionary(table.column("image_path")))):
        assert (
            dict(zip(counts["image_path"].to_pylist(), counts["n"].to_pylist(), strict=True))
            == expected
        )


def test_fragments_merge_four_at_a_time_as_a_base_4_counter(tmp_path):
    """One fragment a night of equal size: after n nights a partition holds as many
    fragments as the digits of n in base 4 add up to, every row once, sorted."""
    import pyarrow as pa

    from dsa110_ws.services.sources._dataset_write import Writer, compact

    w = Writer(tmp_path, 1, 1)
    frags: list = []
    rows = []
    for night in range(1, 22):
        t = pa.table(
            {
                "id": pa.array(np.arange(night * 10, night * 10 + 10), pa.int64()),
                "source_id": pa.array([f"s{i % 3}" for i in range(10)]),
                "image_path": pa.array([f"img{night}"] * 10),
                "obs_mjd": pa.array(np.full(10, 60000.0 + night)),
            }
        )
        rows.append(t)
        frags = compact(w, 0, [*frags, w.new(0, t)])
        digits = sum(int(d) for d in np.base_repr(night, 4))
        assert len(frags) == digits, (night, [f["rows"] for f in frags])
    got = pa.concat_tables(pq.read_table(w.path(0, f)) for f in frags).to_pandas()
    assert sorted(got["id"]) == sorted(pa.concat_tables(rows).column("id").to_pylist())
    first = pq.read_table(w.path(0, frags[0])).to_pandas()  # 16 nights merged: sorted
    assert list(first["source_id"]) == sorted(first["source_id"])
    assert len(list(w.vdir.rglob("*.parquet"))) == len(frags)  # merged inputs removed


def test_a_build_worker_whose_parent_is_gone_stops_and_writes_nothing_of_the_version(
    db, writable_demo, tmp_path
):
    """A worker left running by a killed parent stops at its next batch, and writes only
    into its own staging directory, never into the version a later build makes."""
    from dsa110_ws.services.sources import _dataset_build

    root, staging = tmp_path / "ds", tmp_path / "ds" / ".build-p1-x"
    args = (str(db), 5.0, "auto", 0, 10**9, str(root), 1, 64, "p1-", 10**6, str(staging))
    with pytest.raises(SystemExit, match="parent process"):
        _dataset_build.build_range(*args, os.getppid() + 10**6)  # not this process's parent
    assert not (root / "v000001").exists() and not list(root.rglob("*.parquet"))
    parts, counts, done, _ = _dataset_build.build_range(*args, os.getppid())
    assert (
        done == sum(f["rows"] for part in parts for f in part) == int(counts["n"].to_numpy().sum())
    )
    assert not (root / "v000001").exists()  # the parent moves the fragments in
    assert len(list(staging.rglob("*.parquet"))) == sum(len(part) for part in parts)


def test_a_build_in_processes_leaves_no_staging_behind(db, writable_demo, tmp_path, monkeypatch):
    from dsa110_ws.services.sources import _dataset_build

    monkeypatch.setattr(_dataset_build, "MIN_ROWS_PER_PROCESS", 1000)  # the demo is small
    w = connect(writable_demo, tmp_path / "st", dataset_build_processes=2)
    st = w.dataset.refresh(progress=False)
    assert st["last_refresh"]["processes"] == 2
    assert not [p.name for p in w.dataset.root.iterdir() if p.name.startswith(".build-")]
    assert any("-p1-" in Path(f).name for part in w.dataset.files() for f in part)
    w.close()


def test_a_worker_gone_without_a_word_fails_the_build_at_once(
    db, writable_demo, tmp_path, monkeypatch
):
    """A build worker killed (SIGKILL) while this process reads its share: the build stops
    at this process's next batch with the one-line reason, not after reading its whole
    share (about 15 batches here), and leaves no version behind."""
    import multiprocessing

    from dsa110_ws.repositories.photometry_arrow import PhotometryReader
    from dsa110_ws.services.sources import _dataset_build

    monkeypatch.setattr(_dataset_build, "MIN_ROWS_PER_PROCESS", 1000)  # the demo is small
    w = connect(writable_demo, tmp_path / "st")
    w.dataset.root.mkdir(parents=True)  # as the refresh's lock makes it
    calls: list[int] = []

    def progress(stage: str, done: int, total: int) -> None:
        calls.append(done)
        if done and len([c for c in calls if c]) == 1:  # this process has read a batch
            (worker,) = multiprocessing.active_children()
            os.kill(worker.pid, signal.SIGKILL)
            worker.join(30)

    with pytest.raises(ConfigurationError, match="exited before it finished"):
        _dataset_build.build(
            w.dataset.root,
            db,
            PhotometryReader(w.db),
            n_partitions=8,
            version=1,
            processes=2,
            chunk_rows=200,
            progress=progress,
        )
    assert len([c for c in calls if c]) == 1, calls  # no batch read after the kill
    assert not (w.dataset.root / "v000001").exists()
    w.close()
