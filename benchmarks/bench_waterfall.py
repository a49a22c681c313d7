"""Waterfall of one baseline from a Measurement Set with over 1 GB of visibilities.

Two MS in the standard regular order (time, then baseline), 384 channels x 2 correlations
(6 KB per row), 160 integrations, DATA and FLAG in casacore's default tiled storage (tiles of
43 rows): "big" has 48 antennas (1,176 baselines with autos, 1.16 GB of DATA), "small" 12
(78 baselines, 77 MB).  Targets:

1. ``w.ms.waterfall(big, baseline="1&2")`` no slower than 2x the same waterfall on the small
   MS: the time does not grow with the other baselines (15x more of them here);
2. at most 3x a bare chunked ``getcol`` of DATA and FLAG of the same rows (strided by the
   integration's rows, the cheapest read there is), printed as a ratio;
3. peak memory (RSS, in a fresh process, interpreter and imports included) under 500 MB for
   the one-baseline waterfall and for the waterfall of every baseline averaged (which reads
   all 1.16 GB, in chunks of 32 MB of DATA).

The MS are written once into ``$DSA110_BENCH_WATERFALL`` (default /tmp/dsa-bench-waterfall,
about 1.4 GB; a minute).

    .venv/bin/python benchmarks/bench_waterfall.py
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _common import report  # noqa: E402
from _verdict import Verdicts, median_time  # noqa: E402

N_CHAN, N_TIMES = 384, 160
ROOT = Path(os.environ.get("DSA110_BENCH_WATERFALL", "/tmp/dsa-bench-waterfall"))


def write_ms(path: Path, n_ant: int) -> int:
    """An MS of ``n_ant`` antennas (autos included), N_TIMES integrations; returns its rows."""
    from casacore import tables

    from dsa110_ws.demo.array_geometry import dsa110_layout
    from dsa110_ws.demo.ms_writer import write_ms as write_template

    a1, a2 = np.triu_indices(n_ant, 0)
    n_rows = a1.size * N_TIMES
    if (path / "table.dat").exists():
        with tables.table(str(path), ack=False) as t:
            if t.nrows() == n_rows:
                return n_rows
    names, itrf, _ = dsa110_layout(n_ant, seed=3)
    write_template(
        path,
        antenna_names=names,
        antenna_itrf_m=itrf,
        times_mjd_s=np.array([61349.6 * 86400.0]),
        integration_s=12.9,
        spw_freqs_hz=[1.28e9 + 244140.625 * 2 * np.arange(N_CHAN)],
        field_name="bench",
        field_ra_deg=150.0,
        field_dec_deg=37.0,
        rng=np.random.default_rng(0),
    )
    rng = np.random.default_rng(1)
    with tables.table(str(path), readonly=False, ack=False) as t:
        t.addrows(n_rows - t.nrows())
        chunk = (64 << 20) // (N_CHAN * 2 * 8)
        for start in range(0, n_rows, chunk):
            n = min(chunk, n_rows - start)
            rows = np.arange(start, start + n)
            re, im = rng.standard_normal((2, n, N_CHAN, 2), dtype=np.float32)
            t.putcol("DATA", (re + 1j * im).astype(np.complex64), start, n)
            flag = np.zeros((n, N_CHAN, 2), bool)
            flag[:, 100:120] = True
            t.putcol("FLAG", flag, start, n)
            t.putcol("FLAG_ROW", np.zeros(n, bool), start, n)
            t.putcol("ANTENNA1", a1[rows % a1.size].astype(np.int32), start, n)
            t.putcol("ANTENNA2", a2[rows % a1.size].astype(np.int32), start, n)
            t.putcol("TIME", 61349.6 * 86400.0 + 12.9 * (rows // a1.size), start, n)
    return n_rows


def bare_read(path: Path, n_bl: int, offset: int, chunk: int) -> int:
    """DATA and FLAG of rows ``offset + k * n_bl`` with strided getcol, ``chunk`` rows a time."""
    from casacore import tables

    n = 0
    with tables.table(str(path), ack=False, readonly=True) as t:
        for k0 in range(0, N_TIMES, chunk):
            k = min(chunk, N_TIMES - k0)
            n += t.getcol("DATA", offset + k0 * n_bl, k, n_bl).size
            t.getcol("FLAG", offset + k0 * n_bl, k, n_bl)
    return n


_CHILD = textwrap.dedent("""
    import json, resource, sys, time
    from dsa110_ws.config import load_settings
    from dsa110_ws.workspace import Workspace
    from casacore import tables
    import numpy, pandas, astropy.time
    root, path, baseline = sys.argv[1], sys.argv[2], sys.argv[3] or None
    w = Workspace(load_settings(data_roots=[root], state_dir=root + "/state",
                                pipeline_db=root + "/db/empty.sqlite3"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    wf = w.ms.waterfall(path, "amp", baseline=baseline)
    dt = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"before_mb": before, "peak_mb": peak, "seconds": dt,
                      "rows": wf.n_rows_read, "shape": list(wf.shape)}))
""")


def child(path: Path, baseline: str | None) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, str(ROOT), str(path), baseline or ""],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    from dsa110_ws.config import load_settings
    from dsa110_ws.workspace import Workspace

    ROOT.mkdir(parents=True, exist_ok=True)
    big, small = ROOT / "big.ms", ROOT / "small.ms"
    t0 = time.perf_counter()
    n_big, n_small = write_ms(big, 48), write_ms(small, 12)
    gb = n_big * N_CHAN * 2 * 8 / 1e9
    print(
        f"MS ready in {time.perf_counter() - t0:.0f} s: big {n_big:,} rows ({gb:.2f} GB of "
        f"DATA), small {n_small:,} rows ({n_small * N_CHAN * 16 / 1e9:.3f} GB)"
    )
    (ROOT / "db").mkdir(exist_ok=True)
    with sqlite3.connect(ROOT / "db" / "empty.sqlite3") as con:  # w.ms needs a database
        con.execute("CREATE TABLE IF NOT EXISTS empty (x)")
    w = Workspace(
        load_settings(
            data_roots=[str(ROOT)],
            state_dir=str(ROOT / "state"),
            pipeline_db=str(ROOT / "db" / "empty.sqlite3"),
        )
    )
    wf = w.ms.waterfall(big, "amp", baseline="1&2")
    assert wf.shape == (N_TIMES, N_CHAN) and wf.n_rows_read == N_TIMES
    chunk = max(1, (32 << 20) // (N_CHAN * 2 * 8))
    t_big = median_time(lambda: w.ms.waterfall(big, "amp", baseline="1&2"), repeat=7)
    t_small = median_time(lambda: w.ms.waterfall(small, "amp", baseline="1&2"), repeat=7)
    t_bare = median_time(lambda: bare_read(big, 48 * 49 // 2, 1, chunk), repeat=7)
    print()
    r_ind = report(
        "waterfall 1&2, big MS (1,176 baselines)",
        t_big,
        "same, small MS (78 baselines)",
        t_small,
        target="(target <= 2x)",
    )
    r_bare = report(
        "waterfall 1&2, big MS",
        t_big,
        "bare strided getcol DATA+FLAG",
        t_bare,
        target="(target <= 3x)",
    )
    one = child(big, "1&2")
    every = child(big, None)
    print(
        f"\npeak RSS, fresh process: one baseline {one['peak_mb']:.0f} MB "
        f"({one['seconds']:.2f} s, {one['rows']} rows); every baseline averaged "
        f"{every['peak_mb']:.0f} MB ({every['seconds']:.1f} s, {every['rows']:,} rows, all "
        f"{gb:.2f} GB read); the interpreter with its imports alone: {one['before_mb']:.0f} MB"
    )
    v = Verdicts("bench_waterfall")
    v.at_most("waterfall big MS / small MS (independent of size)", r_ind, 2.0)
    v.at_most("waterfall / bare strided getcol", r_bare, 3.0)
    v.at_most("peak RSS, one baseline", one["peak_mb"], 500, unit=" MB")
    v.at_most("peak RSS, every baseline averaged", every["peak_mb"], 500, unit=" MB")
    return v.finish()


if __name__ == "__main__":
    sys.exit(main())
