"""Issue 2 speed targets.

1. Repository calls returning 100 rows cost at most 2x the same SQL through raw sqlite3
   (the floor), measured in the same run.
2. Cone search (1 deg radius) over 10,000,000 photometry rows: well under 100 ms; printed
   with the ratio to a full scan with exact separations.
"""

from __future__ import annotations

import sqlite3
import sys
import warnings

import numpy as np
import pandas as pd
from _common import demo_state, report, scale_state
from _verdict import Verdicts, median_time

import dsa110_ws
from dsa110_ws.core.skymath import angular_sep_deg


def repository_overhead(state, v: Verdicts, tag: str) -> list[float]:
    w = dsa110_ws.connect(state / "settings.toml")
    con = sqlite3.connect(f"file:{w.db.path}?mode=ro", uri=True)
    ratios = []
    cases = [
        ("images.find(limit=100)", lambda: w.images.find(limit=100),
         "SELECT i.*, m.mid_mjd AS obs_mjd FROM images AS i LEFT JOIN ms_index AS m "
         "ON m.path = i.ms_path ORDER BY m.mid_mjd IS NULL, m.mid_mjd, i.id LIMIT 101", ()),
        ("jobs.find(status='done', limit=100)", lambda: w.repos.jobs.find(status="done", limit=100),
         "SELECT * FROM jobs WHERE status = ? ORDER BY created_at DESC, id DESC LIMIT 101",
         ("done",)),
        ("photometry.find(image_path=..)", None, None, None),
    ]
    img = w.images.find(limit=1).iloc[0]["path"]
    cases[2] = ("photometry.find(image_path=...)",
                lambda: w.repos.photometry.find(image_path=img, limit=100),
                "SELECT * FROM photometry WHERE image_path = ? ORDER BY mjd, id LIMIT 101", (img,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, call, sql, params in cases:
            n = len(call())
            t_repo = median_time(call, repeat=9, number=50)
            t_raw = median_time(lambda: con.execute(sql, params).fetchall(), repeat=9, number=50)  # noqa: B023
            t_pd = median_time(lambda: pd.read_sql_query(sql, con, params=params), repeat=9,  # noqa: B023
                           number=50)
            ratios.append(report(f"{name} [{n} rows]", t_repo, "raw sqlite3 fetchall", t_raw,
                                 target="(target <= 2x)"))
            v.at_most(f"{tag}: {name} / raw sqlite3", ratios[-1], 2.0)
            report("   same call", t_repo, "pandas.read_sql_query(raw sqlite3)", t_pd)
    con.close()
    w.close()
    return ratios


def cone_search(state, v: Verdicts) -> None:
    w = dsa110_ws.connect(state / "settings.toml")
    n = w.repos.photometry.count()
    ra, dec, r = 180.0, 30.0, 1.0
    t_cone = median_time(lambda: w.repos.photometry.cone(ra, dec, r, limit=None), repeat=7)
    hits = len(w.repos.photometry.cone(ra, dec, r, limit=None))
    con = sqlite3.connect(f"file:{w.db.path}?mode=ro", uri=True)

    def full_scan():
        rows = np.array(con.execute("SELECT id, ra_deg, dec_deg FROM photometry").fetchall())
        sep = angular_sep_deg(ra, dec, rows[:, 1], rows[:, 2])
        return rows[sep <= r]

    t_scan = median_time(full_scan, repeat=1)
    v.true("cone search: the same rows as a full scan", len(full_scan()) == hits)
    print(f"cone search r=1 deg over {n:,} photometry rows: {hits} rows")
    report("photometry.cone (index box + exact sep)", t_cone, "full scan + exact separations",
           t_scan, target="(target: cone well under 100 ms)")
    v.at_most(f"cone search r=1 deg over {n:,} rows", t_cone, 0.1, unit=" s")
    con.close()


def main() -> int:
    v = Verdicts("bench_repositories")
    print("== repository overhead (demo state)")
    repository_overhead(demo_state(), v, "demo")
    print("== repository overhead (scale state)")
    repository_overhead(scale_state(), v, "scale")
    print("== cone search (scale state)")
    cone_search(scale_state(), v)
    return v.finish()


if __name__ == "__main__":
    sys.exit(main())
