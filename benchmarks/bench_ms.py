"""Measurement Set summary and flag statistics.

1. ``w.ms.summary(path, flags=False)`` on a demo-sized MS and on one 100x larger (written with
   the demo's ``write_ms``): the time must not grow with the size of the main table.  (With
   flags, the summary costs one chunked pass over the rows, the same as ``flag_stats``.)
2. ``w.ms.flag_stats`` at most 2x the time of a bare chunked ``getcol('FLAG')`` over the same
   MS (same chunk size).
3. Peak memory of ``w.ms.flag_stats`` on an MS whose FLAG column is over 1 GB (as numpy bools),
   measured in a fresh process: it must stay at a few hundred MB.

    .venv/bin/python benchmarks/bench_ms.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _common import report  # noqa: E402
from _verdict import Verdicts, median_time  # noqa: E402

WIDTH = 0.244140625e6 * 8


def write_demo_like_ms(path: Path, n_int: int) -> dict:
    """An MS like the demo's (10 antennas, 2 spws x 16 channels, XX/YY, a dead antenna and
    flagged channels), with ``n_int`` integrations (the demo has 12)."""
    from dsa110_ws.demo.array_geometry import dsa110_layout
    from dsa110_ws.demo.ms_writer import write_ms

    names, itrf, _ = dsa110_layout(10, seed=42)
    times = 61349.6 * 86400.0 + 25.0 * (np.arange(n_int) + 0.5)
    spws = [1.311e9 + WIDTH * np.arange(16), 1.405e9 + WIDTH * np.arange(16)]
    return write_ms(
        path,
        antenna_names=names,
        antenna_itrf_m=itrf,
        times_mjd_s=times,
        integration_s=25.0,
        spw_freqs_hz=spws,
        field_name="drift",
        field_ra_deg=150.0,
        field_dec_deg=37.0,
        bad_antenna=7,
        bad_channels=slice(10, 13),
        scan_length_integrations=6,
        rng=np.random.default_rng(0),
    )


INDEX_COLUMNS = (
    "ANTENNA1",
    "ANTENNA2",
    "DATA_DESC_ID",
    "FIELD_ID",
    "SCAN_NUMBER",
    "FLAG_ROW",
    "TIME",
    "INTERVAL",
)


def bare_flag_read(path: Path, chunk_rows: int, *, index_columns: bool = False) -> int:
    """Read FLAG (and optionally the per-row index columns flag statistics need) in chunks."""
    from casacore import tables

    n = 0
    with tables.table(str(path), ack=False, readonly=True) as t:
        for start in range(0, t.nrows(), chunk_rows):
            k = min(chunk_rows, t.nrows() - start)
            n += t.getcol("FLAG", start, k).size
            for col in INDEX_COLUMNS if index_columns else ():
                t.getcol(col, start, k)
    return n


def _read_data(path: Path) -> None:
    from casacore import tables

    with tables.table(str(path), ack=False, readonly=True) as t:
        t.getcol("DATA")


def write_big_flag_ms(path: Path, *, n_rows: int, n_chan: int) -> float:
    """A template MS with ``n_chan`` channels and 4 correlations, extended to ``n_rows`` rows
    whose FLAG (and scalar columns) are filled in chunks; returns the FLAG size in GB."""
    from casacore import tables

    from dsa110_ws.demo.array_geometry import dsa110_layout
    from dsa110_ws.demo.ms_writer import write_ms

    names, itrf, _ = dsa110_layout(10, seed=1)
    write_ms(
        path,
        antenna_names=names,
        antenna_itrf_m=itrf,
        times_mjd_s=np.array([5.3e9]),
        integration_s=10.0,
        spw_freqs_hz=[1.28e9 + 244140.625 * np.arange(n_chan)],
        field_name="big",
        field_ra_deg=10.0,
        field_dec_deg=30.0,
        correlations=("XX", "XY", "YX", "YY"),
        rng=np.random.default_rng(0),
    )
    a1, a2 = np.triu_indices(10, 0)
    with tables.table(str(path), readonly=False, ack=False) as t:
        t.addrows(n_rows - t.nrows())
        chunk = max(1, (64 << 20) // (n_chan * 4))
        for start in range(0, n_rows, chunk):
            n = min(chunk, n_rows - start)
            rows = np.arange(start, start + n)
            flag = np.zeros((n, n_chan, 4), bool)
            flag[:, 100:140] = True  # an RFI band
            flag[(rows % 7) == 0] = True  # some fully flagged rows
            t.putcol("FLAG", flag, start, n)
            t.putcol("FLAG_ROW", flag.all(axis=(1, 2)), start, n)
            t.putcol("ANTENNA1", a1[rows % a1.size].astype(np.int32), start, n)
            t.putcol("ANTENNA2", a2[rows % a2.size].astype(np.int32), start, n)
            t.putcol("TIME", 5.3e9 + 10.0 * (rows // a1.size), start, n)
    return n_rows * n_chan * 4 / 1e9


_CHILD = textwrap.dedent("""
    import json, resource, sys, time, tracemalloc
    from dsa110_ws.config import load_settings
    from dsa110_ws.workspace import Workspace
    from casacore import tables
    import numpy, pandas, astropy.time
    root, path, traced = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    w = Workspace(load_settings(data_roots=[root], state_dir=root + "/../state"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if traced:
        tracemalloc.start()
    t0 = time.perf_counter()
    fs = w.ms.flag_stats(path, use_cache=False)
    dt = time.perf_counter() - t0
    traced_peak = tracemalloc.get_traced_memory()[1] / 2**20 if traced else None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"before_mb": before, "peak_mb": peak, "seconds": dt, "traced_mb": traced_peak,
                      "flag_fraction": fs.flag_fraction, "chunk_rows": fs.chunk_rows}))
""")


def _child(data: Path, big: Path, traced: bool) -> dict:
    import json

    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(data), str(big), "1" if traced else "0"],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    from dsa110_ws.config import load_settings
    from dsa110_ws.workspace import Workspace

    tmp = Path(tempfile.mkdtemp(prefix="bench-ms-"))
    data = tmp / "data"
    t0 = time.perf_counter()
    small = write_demo_like_ms(data / "small.ms", 12)
    large = write_demo_like_ms(data / "large.ms", 1200)
    print(
        f"wrote demo-sized ({small['n_rows']} rows) and 100x ({large['n_rows']} rows) MS in "
        f"{time.perf_counter() - t0:.0f} s"
    )
    w = Workspace(load_settings(data_roots=[str(data)], state_dir=str(tmp / "state")))

    t_small = median_time(lambda: w.ms.summary(data / "small.ms", flags=False, use_cache=False))
    t_large = median_time(lambda: w.ms.summary(data / "large.ms", flags=False, use_cache=False))
    t_cached = median_time(lambda: w.ms.summary(data / "large.ms", flags=False))
    v = Verdicts("bench_ms")
    fs = w.ms.flag_stats(data / "large.ms", use_cache=False)
    v.true("flag fraction equals the writer's", fs.flag_fraction == large["flag_fraction"])
    rows = fs.chunk_rows
    t_flags = median_time(lambda: w.ms.flag_stats(data / "large.ms", use_cache=False), repeat=5)
    t_bare = median_time(lambda: bare_flag_read(data / "large.ms", rows), repeat=5)
    t_bare_idx = median_time(
        lambda: bare_flag_read(data / "large.ms", rows, index_columns=True), repeat=5
    )
    t_full = median_time(lambda: w.ms.summary(data / "large.ms", use_cache=False), repeat=5)
    t_data = median_time(
        lambda: bare_flag_read(data / "large.ms", rows) and _read_data(data / "large.ms"), repeat=3
    )
    print()
    r_sum = report(
        "summary, 100x larger MS", t_large, "summary, demo-sized MS", t_small, target="(target ~1x)"
    )
    report(
        "summary, 100x larger MS",
        t_large,
        "reading its FLAG and DATA",
        t_data,
        target="(what a summary must not do)",
    )
    report("summary with flags (one pass), 100x MS", t_full, "flag_stats alone, 100x MS", t_flags)
    report("summary, 100x larger MS, cached", t_cached, "summary, demo-sized MS", t_small)
    r_flag = report(
        "flag_stats, 100x MS",
        t_flags,
        "bare chunked getcol('FLAG')",
        t_bare,
        target="(target <= 2x)",
    )
    r_flag_idx = report(
        "flag_stats, 100x MS", t_flags, "bare FLAG + per-row index columns", t_bare_idx
    )

    big = data / "bigflags.ms"
    t0 = time.perf_counter()
    gb = write_big_flag_ms(big, n_rows=262_144, n_chan=1024)
    print(f"\nwrote an MS with a {gb:.2f} GB FLAG column in {time.perf_counter() - t0:.0f} s")
    m = _child(data, big, traced=False)
    traced = _child(data, big, traced=True)["traced_mb"]
    t_bare_big = median_time(lambda: bare_flag_read(big, m["chunk_rows"]), repeat=2)
    r_big = report(
        f"flag_stats, {gb:.2f} GB of FLAG",
        m["seconds"],
        "bare chunked getcol('FLAG')",
        t_bare_big,
        target="(target <= 2x)",
    )
    t_bare_big_idx = median_time(
        lambda: bare_flag_read(big, m["chunk_rows"], index_columns=True), repeat=2
    )
    report(
        f"flag_stats, {gb:.2f} GB of FLAG",
        m["seconds"],
        "bare FLAG + per-row index columns",
        t_bare_big_idx,
    )
    print(
        f"flagged {m['flag_fraction']:.3f}; chunk {m['chunk_rows']} rows; peak RSS "
        f"{m['peak_mb']:.0f} MB (the interpreter with its imports alone: {m['before_mb']:.0f} MB); "
        f"peak of numpy/Python allocations during flag_stats (tracemalloc): {traced:.0f} MB"
    )
    print(f"\nsummary (metadata, flags=False): {r_sum:.2f}x for 100x the rows")
    print(
        f"flag_stats: {r_big:.2f}x of a bare FLAG read when FLAG dominates (1024 channels x 4); "
        f"{r_flag:.2f}x on the demo-like MS, where 32 flags per row cost less than its per-row "
        f"index columns; peak RSS {m['peak_mb']:.0f} MB for {gb:.2f} GB of flags"
    )
    v.at_most("MS summary (metadata): 100x rows / demo-sized", r_sum, 2.0)
    v.at_most(f"flag_stats / bare getcol('FLAG'), {gb:.2f} GB of FLAG", r_big, 2.0)
    v.at_most("flag_stats / bare FLAG + index columns, demo-like", r_flag_idx, 2.0)
    return v.finish()


if __name__ == "__main__":
    sys.exit(main())
