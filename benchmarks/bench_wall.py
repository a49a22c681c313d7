"""The operations wall's refresh on the survey-scale state: every tile with its trend,
against the same tiles without the trends added for issue 14, measured in the same run.

    .venv/bin/python benchmarks/bench_wall.py [SCALE_SETTINGS [DEMO_SETTINGS]]

On the survey-scale state (default /tmp/dsa-scale, made by ``dsa110-ws demo --scale``: 10M
photometry rows; it has no active caltable set and no task queue) and on a demo state
($DSA110_BENCH_DEMO, else generated: it has both, so every trend is computed there).
``ours`` is ``w.wall.tiles()`` (what a wall refresh computes before the shared cache keeps
it).  The baseline is the reads the wall made before every tile had a trend (commit
7c6bce4: health check, calibration health, period summary, hourly throughput and QA, job
summary, the day's failed jobs, stuck MS, incomplete groups, queue summary), on the same
workspace.  Medians of 9 warm runs of each, taken in turns.  Targets, on each state: ours / baseline <= 1.5; every
tile whose source is available has a trend; the trends agree with plain sqlite3 counts.
"""

from __future__ import annotations

import math
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import demo_state, scale_state  # noqa: E402
from _verdict import Verdicts  # noqa: E402


def interleaved(
    a: Callable[[], object], b: Callable[[], object], n: int = 9
) -> tuple[float, float]:
    """Medians of ``n`` timed calls of ``a`` and of ``b``, taken in turns (after one warm-up
    each), so that the load of this shared machine falls on both alike."""
    a(), b()
    ta, tb = [], []
    for _ in range(n):
        for fn, out in ((a, ta), (b, tb)):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return statistics.median(ta), statistics.median(tb)


def measure(v: Verdicts, settings: str, tag: str) -> None:
    """The ratio and the checks on one state (``tag`` names it in the rows)."""
    import dsa110_ws

    w = dsa110_ws.connect(settings, state_dir=tempfile.mkdtemp(prefix="bench-wall-"))
    lo, hi = w.wall.window()

    def before() -> object:
        """The reads of the wall before every tile had a trend (commit 7c6bce4)."""
        out = [w.health.check(), w.calhealth.health(), w.stats.period_summary(lo, hi)]
        out += [w.stats.throughput(start=lo, end=hi, per="hour")]
        out += [w.stats.qa(start=lo, end=hi, per="hour"), w.jobs.summary(start=lo, end=hi)]
        out += [w.jobs.find(status=["failed", "error"], start=lo, end=hi, limit=None)]
        out += [w.jobs.stuck(), w.ingest.incomplete()]
        if w.tasks.configured:
            out.append(w.tasks.summary())
        return out

    t_before, t_ours = interleaved(before, w.wall.tiles)
    tiles = {t.key: t for t in w.wall.tiles()}
    print(f"{'tile':<20}{'value':>14}  trend")
    for t in tiles.values():
        print(f"{t.key:<20}{t.value:>14}  {t.trend or '(none: ' + t.detail[:40] + ')'}")
    print(
        f"\n{tag}: wall refresh before trends {1e3 * t_before:8.1f} ms (median of 9, interleaved)"
    )
    print(f"{tag}: wall refresh with trends   {1e3 * t_ours:8.1f} ms (median of 9, interleaved)\n")
    v.at_most(f"{tag}: wall refresh with trends / before (ratio)", t_ours / t_before, 1.5)
    missing = [
        k
        for k, t in tiles.items()
        if t.value != "n/a" and not t.series and t.detail != "no active set"
    ]
    v.true(f"{tag}: every available tile has a trend (missing: {missing or 'none'})", not missing)
    con = sqlite3.connect(f"file:{w.db.path}?mode=ro", uri=True)
    n_failed = con.execute(
        "SELECT COUNT(*) FROM jobs WHERE status IN ('failed', 'error') AND created_at >= ? "
        "AND created_at < ?",
        (lo, hi),
    ).fetchone()[0]
    v.true(
        f"{tag}: failed-jobs trend sums to sqlite3's count",
        sum(tiles["failed_jobs"].series) == n_failed,
    )
    n_ms = con.execute(
        "SELECT COUNT(*) FROM ms_index WHERE created_at >= ? AND created_at < ?", (lo, hi)
    ).fetchone()[0]
    v.true(
        f"{tag}: MS-registered trend sums to sqlite3's count", sum(tiles["health"].series) == n_ms
    )
    rate = tiles["success_rate"].series
    v.true(
        f"{tag}: success-rate trend within [0, 1]", all(math.isnan(x) or 0 <= x <= 1 for x in rate)
    )
    con.close()
    w.close()


def main(scale: str, demo: str) -> int:
    v = Verdicts("bench_wall")
    measure(v, scale, "scale")
    measure(v, demo, "demo")  # an active caltable set and a task queue: every trend runs
    return v.finish()


if __name__ == "__main__":
    scale = sys.argv[1] if len(sys.argv) > 1 else str(scale_state() / "settings.toml")
    demo = sys.argv[2] if len(sys.argv) > 2 else str(demo_state() / "settings.toml")
    sys.exit(main(scale, demo))
