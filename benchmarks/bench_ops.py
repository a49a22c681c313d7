"""Operations panels on the survey-scale state: one dashboard refresh, and SQL aggregates
against naive whole-table pandas baselines measured in the same run.

    .venv/bin/python benchmarks/bench_ops.py [/tmp/dsa-scale/settings.toml]

Make the scale state first: ``dsa110-ws demo --scale /tmp/dsa-scale``.  Prints the time of
each call of a refresh (warm, fastest of 3), the total against the 1 s target, and the ratio
baseline / ours for three aggregates, where the baseline is what a user would write (the
window filtered in SQL, the grouping in pandas) and must give the same answer.  Targets: the
refresh under 1 s; each aggregate no slower than its baseline (>= 1x); exit 1 on a miss.
"""

from __future__ import annotations

import math
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import astropy.units as u
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _verdict import Verdicts  # noqa: E402


def min_time(fn: Callable[[], object], n: int = 3) -> float:
    """The fastest of ``n`` calls, in seconds (warm: the first call is not timed apart)."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(settings: str) -> int:
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
        t = min_time(fn)
        total += t
        print(f"{name:<26}{1000 * t:>10.1f}")
    v = Verdicts("bench_ops")
    v.at_most("operations refresh, total of its calls (warm)", total, 1.0, unit=" s")
    print(f"{'refresh total (first)':<26}{1000 * cold:>10.1f}")

    con = sqlite3.connect(f"file:{w.db.path}?mode=ro", uri=True)

    # the baselines a user would write: the window filtered in SQL (on the indexed column,
    # only the columns needed), the grouping in pandas
    def naive_jobs() -> dict:
        df = pd.read_sql_query(
            "SELECT type, status, started_at, finished_at FROM jobs "
            "WHERE created_at >= ? AND created_at < ?",
            con,
            params=(lo_unix, hi_unix),
        )
        df["d"] = df["finished_at"] - df["started_at"]
        g = df.groupby(["type", "status"])["d"].agg(["size", "mean", "max"])
        return {f"{t}/{s}": int(n) for (t, s), n in g["size"].items()}

    lo_bin = math.floor(lo_mjd * 24) / 24  # hourly bins start on the hour, as ours do

    def naive_photometry() -> int:
        df = pd.read_sql_query(
            "SELECT mjd FROM photometry WHERE mjd >= ? AND mjd < ?", con, params=(lo_bin, hi_mjd)
        )
        return int(((df["mjd"] - lo_bin) * 24).astype(int).value_counts().sum())

    def naive_stages() -> dict:
        df = pd.read_sql_query(
            "SELECT stage FROM ms_index WHERE mid_mjd >= ? AND mid_mjd < ?",
            con,
            params=(lo_mjd, hi_mjd),
        )
        return {str(k): int(n) for k, n in df["stage"].value_counts().items()}

    lo_t, hi_t = now - 1 * u.day, now
    pairs = [
        (
            "jobs by type/status (n, durations), 24 h",
            naive_jobs,
            lambda: {
                f"{r['type']}/{r['status']}": int(r["n"])
                for _, r in w.repos.jobs.summary(start=lo_t, end=hi_t).iterrows()
            },
        ),
        (
            "photometry per hour, 24 h",
            naive_photometry,
            lambda: int(w.stats.throughput(what=("photometry",))["n_photometry"].sum()),
        ),
        (
            "MS by stage, 24 h",
            naive_stages,
            lambda: {
                str(r["stage"]): int(r["n"])
                for _, r in w.repos.ms_index.counts_by("stage", start=lo_t, end=hi_t).iterrows()
            },
        ),
    ]
    print(f"\n{'aggregate':<42}{'naive ms':>10}{'ours ms':>10}{'ratio':>8}")
    for name, naive, ours in pairs:
        a, b = min_time(naive), min_time(ours)
        print(f"{name:<42}{1000 * a:>10.1f}{1000 * b:>10.1f}{a / b:>8.1f}x")
        v.true(f"{name}: same answer as SQL+pandas", naive() == ours())
        v.at_least(f"{name}: SQL+pandas / ours", a / b, 1.0)
    con.close()
    w.close()
    return v.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/dsa-scale/settings.toml"))
