"""Peer-relative image QA for a night of 288 images (5-minute snapshots over 24 h).

288 FITS images (256 x 256, ~1 mJy/beam noise, a few dozen sources each) in two declination
strips (+37 and +55 deg, noise 1.0 and 1.6 mJy/beam: absolute thresholds cannot serve both),
with three noisy images planted.  Target: ``w.qa.peers`` adds under 2 s to the QA of the
night.  Measured as ``w.qa.peers(night)`` with each image's QA already in the cache (the peer
step alone, plus reading 288 cache entries), printed against the QA of the 288 images from
their files (``w.qa.image``, cache off).  Also printed, not graded: the end-to-end difference
``w.qa.peers(night, use_cache=False)`` minus the QA from the files, as the median of
interleaved pairs -- a difference of two ~10 s timings, dominated by the machine's noise.

The planted images must be the only ones flagged.  The images are written once into
``$DSA110_BENCH_PEERS`` (default /tmp/dsa-bench-peers, about 80 MB; ~30 s).

    .venv/bin/python benchmarks/bench_peer_qa.py
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _common import report  # noqa: E402
from _verdict import Verdicts, median_time  # noqa: E402

N, NPIX, CELL = 288, 256, 20.0
ROOT = Path(os.environ.get("DSA110_BENCH_PEERS", "/tmp/dsa-bench-peers"))
NOISY = {17: 3.0, 150: 2.5, 281: 4.0}  # image index -> noise factor


def night() -> list[dict]:
    """The 288 snapshots: time, declination strip, noise."""
    out = []
    for i in range(N):
        dec = 37.0 if i % 2 == 0 else 55.0
        noise = (1.0e-3 if dec == 37.0 else 1.6e-3) * (1 + 0.05 * np.sin(i)) * NOISY.get(i, 1.0)
        mjd = 61353.0 + (i + 0.5) * 300.0 / 86400.0
        out.append(
            {"i": i, "mjd": mjd, "dec": dec, "ra": (15.0 * 24 * i / N) % 360, "noise": noise}
        )
    return out


def write_images(plan: list[dict]) -> list[Path]:
    from astropy.time import Time

    from dsa110_ws.demo.fits_writer import write_image

    rng = np.random.default_rng(7)
    paths = []
    for s in plan:
        path = ROOT / "data" / f"img{s['i']:03d}.fits"
        paths.append(path)
        if path.exists():
            continue
        n_src = 40
        half = NPIX * CELL / 3600 / 2
        src = np.column_stack(
            [
                s["ra"] + rng.uniform(-half, half, n_src) / np.cos(np.radians(s["dec"])),
                s["dec"] + rng.uniform(-half, half, n_src),
                10 ** rng.uniform(-2, 0, n_src),
            ]
        )
        write_image(
            path,
            center_ra_deg=s["ra"],
            center_dec_deg=s["dec"],
            npix=NPIX,
            cell_arcsec=CELL,
            freq_hz=1.405e9,
            bandwidth_hz=187.5e6,
            date_obs=Time(s["mjd"] - 150 / 86400, format="mjd").isot[:19],
            noise_jy=s["noise"],
            sources=src,
            rng=rng,
            beam=(60.0, 45.0, 30.0),
        )
    return paths


def main() -> int:
    import pandas as pd

    from dsa110_ws.config import load_settings
    from dsa110_ws.workspace import Workspace

    (ROOT / "data").mkdir(parents=True, exist_ok=True)
    (ROOT / "db").mkdir(exist_ok=True)
    with sqlite3.connect(ROOT / "db" / "empty.sqlite3") as con:  # w.qa needs a database
        con.execute("CREATE TABLE IF NOT EXISTS empty (x)")
    plan = night()
    t0 = time.perf_counter()
    paths = write_images(plan)
    print(f"{N} images ready in {time.perf_counter() - t0:.0f} s under {ROOT / 'data'}")
    w = Workspace(
        load_settings(
            data_roots=[str(ROOT / "data")],
            state_dir=str(ROOT / "state"),
            pipeline_db=str(ROOT / "db" / "empty.sqlite3"),
        )
    )
    table = pd.DataFrame(
        {
            "path": [str(p) for p in paths],
            "obs_mjd": [s["mjd"] for s in plan],
            "center_dec_deg": [s["dec"] for s in plan],
        }
    )  # what w.images.find(...) gives

    def qa_only() -> None:
        for p in paths:
            w.qa.image(p, use_cache=False)

    pairs = []
    for _ in range(3):  # interleaved, so both see the same machine load
        t0 = time.perf_counter()
        qa_only()
        t1 = time.perf_counter()
        w.qa.peers(table, use_cache=False)
        pairs.append((t1 - t0, time.perf_counter() - t1))
    t_qa, t_both = (statistics.median(x) for x in zip(*pairs, strict=True))
    added = statistics.median(b - a for a, b in pairs)
    t_peers = median_time(lambda: w.qa.peers(table), repeat=7)  # QA from the cache
    out = w.qa.peers(table)
    flagged = sorted(int(Path(p).stem[3:]) for p in out.loc[out["peer_grade"] != "good", "path"])
    print()
    report(
        "w.qa.peers, the night's QA cached", t_peers, "QA of the 288 images", t_qa,
        target="(target: under 2 s)",
    )  # fmt: skip
    report("w.qa.peers, QA from the files", t_both, "QA of the 288 images", t_qa)
    print(
        f"peers on top of the QA: {t_peers:.3f} s (cached QA), {added:+.3f} s end to end; "
        f"flagged {flagged} (planted {sorted(NOISY)}); absolute grades: "
        f"{out['grade'].value_counts().to_dict()}"
    )
    v = Verdicts("bench_peer_qa")
    v.at_most("peer step over a night's cached QA (288 images)", t_peers, 2.0, unit=" s")
    v.true("flags exactly the planted noisy images", flagged == sorted(NOISY))
    return v.finish()


if __name__ == "__main__":
    sys.exit(main())
