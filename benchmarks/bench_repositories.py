"""Issue 2 speed targets.

1. Repository calls returning 100 rows cost at most 2x the same SQL through raw sqlite3
   (the floor), measured in the same run.
2. Cone search (1 deg radius) over 10,000,000 photometry rows: well under 100 ms; printed
   with the ratio to a full scan with exact separations.
"""

from __future__ import annotations

import sqlite3
import warnings

import numpy as np
import pandas as pd
from _common import best_of, demo_state, report, scale_state

import dsa110_ws
from dsa110_ws.core.skymath import angular_sep_deg


def repository_overhead(state) -> list[float]:
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
            t_repo = best_of(call, repeat=9, number=50)
            t_raw = best_of(lambda: con.execute(sql, params).fetchall(), repeat=9, number=50)  # noqa: B023
            t_pd = best_of(lambda: pd.read_sql_query(sql, con, params=params), repeat=9,  # noqa: B023
                           number=50)
            ratios.append(report(f"{name} [{n} rows]", t_repo, "raw sqlite3 fetchall", t_raw,
                                 target="(target <= 2x)"))
            report("   same call", t_repo, "pandas.read_sql_query(raw sqlite3)", t_pd)
    con.close()
    w.close()
    return ratios


def cone_search(state) -> None:
    w = dsa110_ws.connect(state / "settings.toml")
    n = w.repos.photometry.count()
    ra, dec, r = 180.0, 30.0, 1.0
    t_cone = best_of(lambda: w.repos.photometry.cone(ra, dec, r, limit=None), repeat=7)
    hits = len(w.repos.photometry.cone(ra, dec, r, limit=None))
    con = sqlite3.connect(f"file:{w.db.path}?mode=ro", uri=True)

    def full_scan():
        rows = np.array(con.execute("SELECT id, ra_deg, dec_deg FROM photometry").fetchall())
        sep = angular_sep_deg(ra, dec, rows[:, 1], rows[:, 2])
        return rows[sep <= r]

    t_scan = best_of(full_scan, repeat=1)
    assert len(full_scan()) == hits
    print(f"cone search r=1 deg over {n:,} photometry rows: {hits} rows")
    report("photometry.cone (index box + exact sep)", t_cone, "full scan + exact separations",
           t_scan, target="(target: cone well under 100 ms)")
    con.close()


if __name__ == "__main__":
    print("== repository overhead (demo state)")
    demo_ratios = repository_overhead(demo_state())
    print("== repository overhead (scale state)")
    scale_ratios = repository_overhead(scale_state())
    print("== cone search (scale state)")
    cone_search(scale_state())
    worst = max(demo_ratios + scale_ratios)
    print(f"worst repository/raw ratio: {worst:.2f}x ({'OK' if worst <= 2 else 'ABOVE TARGET'})")
