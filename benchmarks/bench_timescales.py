"""Issue 16: the multi-timescale variability table at survey scale.

On the 10^7-row scale state (``/tmp/dsa-scale``, generated if missing), in one run, with a
fresh state dir whose photometry dataset is built once (its time printed, no target):

1. the full variability table from the dataset in this process (``engine="dataset"``,
   the default path at 10^7 rows) with the night and week timescales, against the same
   table without timescales (``timescales={}``: today's table), interleaved, five runs
   each, medians.  Target: at most 1.5x.
2. the statistics alone (``compute_metrics`` on the same rows in memory), with and
   without timescales, medians of three: printed, no target.
3. how many of the scale state's pure-noise sources each preset flags with its two-epoch
   route on single measurements (``timescale="epoch"``) and on night averages.

Run:  .venv/bin/python benchmarks/bench_timescales.py
Exit status 1 when the target is missed.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from _common import scale_state
from _verdict import Verdicts

import dsa110_ws

SECTIONS = {"dataset_min_rows": 0, "dask_min_rows": -1, "dataset_full_check_hours": -1}


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def tables(w) -> tuple[list[float], list[float], pd.DataFrame, pd.DataFrame]:
    """Interleaved runs of the table without and with timescales (one warm-up each)."""
    off = lambda: w.sources.variability(  # noqa: E731
        preset=None, engine="dataset", progress=False, timescales={}
    )
    on = lambda: w.sources.variability(preset=None, engine="dataset", progress=False)  # noqa: E731
    off(), on()
    t_off, t_on = [], []
    for _ in range(5):
        t, plain = timed(off)
        t_off.append(t)
        t, multi = timed(on)
        t_on.append(t)
    return t_off, t_on, plain, multi


def statistics_only(w) -> tuple[list[float], list[float]]:
    from dsa110_ws.services.sources._fluxdata import frame_arrays
    from dsa110_ws.services.sources._partitions import read_partition
    from dsa110_ws.services.sources._variability import compute_metrics

    cols = ["source_id", "image_path", "obs_mjd", "flux_jy", "flux_err_jy"]
    cols += ["normalized_flux_jy", "normalized_flux_err_jy"]
    frames = [read_partition(p, cols) for p in w.dataset.files() if p]
    arrays = [frame_arrays(df, "auto", None) for df in frames]
    t_off, t_on = [], []
    for _ in range(3):
        t, _ = timed(lambda: [compute_metrics(a, timescales={}) for a in arrays])
        t_off.append(t)
        t, _ = timed(lambda: [compute_metrics(a) for a in arrays])
        t_on.append(t)
    return t_off, t_on


def main() -> None:
    scale = scale_state()
    state = Path(tempfile.mkdtemp(prefix="dsa110-bench-timescales-", dir="/tmp"))
    try:
        w = dsa110_ws.connect(
            scale / "settings.toml", state_dir=state, sections={"sources": SECTIONS}
        )
        print(
            f"scale state {scale}; load average {os.getloadavg()[0]:.1f} on "
            f"{os.cpu_count()} cores (a shared machine)",
            flush=True,
        )
        t_build, st = timed(lambda: w.dataset.refresh(progress=False))
        print(f"dataset built: {st['rows']:,} rows in {t_build:.1f} s", flush=True)

        t_off, t_on, plain, multi = tables(w)
        n_rows = multi.attrs["n_rows_read"]
        extra = [c for c in multi.columns if c not in plain.columns]
        same = multi[list(plain.columns)].copy()
        for t in (same, plain):
            t.attrs.clear()
        pd.testing.assert_frame_equal(same, plain)  # the timescales only add columns
        m_off, m_on = statistics.median(t_off), statistics.median(t_on)
        print(
            f"1. variability table, {len(multi):,} sources, {n_rows:,} rows, from the dataset:\n"
            f"   without timescales (today's): {', '.join(f'{t:.2f}' for t in t_off)} s "
            f"(median {m_off:.2f})\n"
            f"   night + week ({len(extra)} more columns; median bins per source: "
            f"{multi['n_bins_night'].median():.0f} nights, {multi['n_bins_week'].median():.0f} "
            f"weeks): {', '.join(f'{t:.2f}' for t in t_on)} s (median {m_on:.2f})",
            flush=True,
        )
        r1 = m_on / m_off

        s_off, s_on = statistics_only(w)
        print(
            f"2. statistics only (rows in memory): without {statistics.median(s_off):.2f} s, "
            f"with night + week {statistics.median(s_on):.2f} s "
            f"({statistics.median(s_on) / statistics.median(s_off):.2f}x)",
            flush=True,
        )

        from dsa110_ws.services.sources import _ese

        print("3. pure-noise sources flagged by the two-epoch route (of all sources):")
        for p in _ese.PRESETS:
            counts = [
                int(_ese.classify(multi, p, timescale=ts)["by_two_epoch"].sum())
                for ts in ("epoch", "night")
            ]
            print(
                f"   {p:<13} single measurements {counts[0]:6,} "
                f"({100 * counts[0] / len(multi):.2f} %), night averages {counts[1]:6,} "
                f"({100 * counts[1] / len(multi):.2f} %)"
            )
        w.close()
    finally:
        shutil.rmtree(state, ignore_errors=True)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f} (1 min)")
    v = Verdicts("bench_timescales")
    v.at_most("variability: multi-timescale table / today's table (medians)", r1, 1.5)
    sys.exit(v.finish())


if __name__ == "__main__":
    main()
