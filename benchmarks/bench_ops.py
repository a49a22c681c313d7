"""Operations panels on the survey-scale state: one dashboard refresh, and SQL aggregates
against naive whole-table pandas baselines measured in the same run.

    .venv/bin/python benchmarks/bench_ops.py [/tmp/dsa-scale/settings.toml]

Make the scale state first: ``dsa110-ws demo --scale /tmp/dsa-scale``.  Prints the time of
each call of a refresh (warm, best of 3), the total against the 1 s target, and the ratio
naive / ours for three aggregates.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable

import pandas as pd


def best_of(fn: Callable[[], object], n: int = 3) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(settings: str) -> None:
    import dsa110_ws

    w = dsa110_ws.connect(settings, state_dir=tempfile.mkdtemp(prefix="bench-ops-"))
    now = w.now()
    lo_unix, hi_unix = float(now.unix) - 86400.0, float(now.unix)
    lo_mjd, hi_mjd = float(now.mjd) - 1.0, float(now.mjd)
    refresh = {
        "jobs.summary": lambda: w.jobs.summary(),
        "jobs.failed": lambda: w.jobs.failed(),
        "jobs.batches": lambda: w.jobs.batches(),
        "jobs.stuck": lambda: w.jobs.stuck(),
        "jobs.pipeline_progress": lambda: w.jobs.pipeline_progress(),
        "ingest.counts": lambda: w.ingest.counts(),
        "ingest.incomplete": lambda: w.ingest.incomplete(),
        "ingest.hdf5_per_night": lambda: w.ingest.hdf5_per_night(),
        "health.check": lambda: w.health.check(),
        "stats.counts": lambda: w.stats.counts(),
        "stats.throughput": lambda: w.stats.throughput(),
        "stats.qa": lambda: w.stats.qa(),
        "calhealth.health": lambda: w.calhealth.health(),
    }
    t0 = time.perf_counter()
    for fn in refresh.values():
        fn()
    cold = time.perf_counter() - t0
    print(f"{'call':<26}{'warm ms':>10}")
    total = 0.0
    for name, fn in refresh.items():
        t = best_of(fn)
        total += t
        print(f"{name:<26}{1000 * t:>10.1f}")
    print(
        f"{'refresh total (warm)':<26}{1000 * total:>10.1f}   target < 1000 ms: "
        f"{'met' if total < 1.0 else 'MISSED'}"
    )
    print(f"{'refresh total (first)':<26}{1000 * cold:>10.1f}")

    con = sqlite3.connect(f"file:{w.db.path}?mode=ro", uri=True)

    def naive_jobs():
        df = pd.read_sql_query("SELECT * FROM jobs", con)
        df = df[(df["created_at"] >= lo_unix) & (df["created_at"] < hi_unix)]
        return df.groupby(["type", "status"]).size()

    def naive_photometry():
        df = pd.read_sql_query(
            "SELECT mjd FROM photometry WHERE mjd >= ? AND mjd < ?", con, params=(lo_mjd, hi_mjd)
        )
        return ((df["mjd"] - lo_mjd) * 24).astype(int).value_counts()

    def naive_stages():
        df = pd.read_sql_query("SELECT * FROM ms_index", con)
        df = df[(df["mid_mjd"] >= lo_mjd) & (df["mid_mjd"] < hi_mjd)]
        return df["stage"].value_counts()

    pairs = [
        ("jobs by type/status, 24 h", naive_jobs, lambda: w.jobs.summary()),
        (
            "photometry per hour, 24 h",
            naive_photometry,
            lambda: w.stats.throughput(what=("photometry",)),
        ),
        ("MS by stage, 24 h", naive_stages, lambda: w.stats.counts()),
    ]
    print(f"\n{'aggregate':<28}{'naive ms':>10}{'ours ms':>10}{'ratio':>8}")
    for name, naive, ours in pairs:
        a, b = best_of(naive, 2), best_of(ours)
        print(f"{name:<28}{1000 * a:>10.1f}{1000 * b:>10.1f}{a / b:>8.1f}x")
    con.close()
    w.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/dsa-scale/settings.toml")
