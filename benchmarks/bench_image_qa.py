"""Image QA on a 4096 x 4096 float32 FITS image against astropy's sigma_clipped_stats.

Target: ``w.qa.image`` (reading the file, robust rms, sub-pixel peak, islands, grading; cache
off) at least 5x faster than ``astropy.stats.sigma_clipped_stats(data, sigma=3, maxiters=5)``
on the same data already in memory, with the rms agreeing within 1%.  Also printed: the ratio
to one numpy pass over the data (the memory floor).

    .venv/bin/python benchmarks/bench_image_qa.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _common import report  # noqa: E402
from _verdict import Verdicts, median_time  # noqa: E402

NPIX = 4096


def make_image(path: Path) -> None:
    """A CASA-like 4-axis image: 1 mJy/beam noise, 3000 beam-shaped sources, a blanked corner."""
    from dsa110_ws.demo.fits_writer import write_image

    rng = np.random.default_rng(1)
    n = 3000
    ra = 150.0 + rng.uniform(-5.5, 5.5, n) / np.cos(np.radians(37.0))
    dec = 37.0 + rng.uniform(-5.5, 5.5, n)
    flux = 10 ** rng.uniform(-2.3, 0.3, n)
    write_image(
        path,
        center_ra_deg=150.0,
        center_dec_deg=37.0,
        npix=NPIX,
        cell_arcsec=10.0,
        freq_hz=1.405e9,
        bandwidth_hz=187.5e6,
        date_obs="2026-11-05T14:51:13",
        noise_jy=1e-3,
        sources=np.column_stack([ra, dec, flux]),
        rng=rng,
        beam=(30.0, 22.5, 30.0),
        nan_box=(0, 300, 0, 300),
    )


def main() -> int:
    import warnings

    from astropy.io import fits
    from astropy.stats import sigma_clipped_stats
    from astropy.utils.exceptions import AstropyUserWarning

    from dsa110_ws.config import load_settings
    from dsa110_ws.services.products._imagestats import robust_stats
    from dsa110_ws.workspace import Workspace

    tmp = Path(tempfile.mkdtemp(prefix="bench-image-qa-"))
    path = tmp / "data" / "big.fits"
    t0 = time.perf_counter()
    make_image(path)
    print(f"wrote {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f} s")
    w = Workspace(load_settings(data_roots=[str(tmp / "data")], state_dir=str(tmp / "state")))
    data = np.asarray(fits.getdata(path)[0, 0], dtype=np.float32)  # native, in memory
    warnings.simplefilter("ignore", AstropyUserWarning)  # astropy: "NaNs ... clipped"

    t_qa = median_time(lambda: w.qa.image(path, use_cache=False), repeat=5)
    t_stats = median_time(lambda: robust_stats(data), repeat=5)
    t_astropy = median_time(lambda: sigma_clipped_stats(data, sigma=3, maxiters=5), repeat=3)
    t_pass = median_time(lambda: data.sum(), repeat=7)
    t_cached = median_time(lambda: w.qa.image(path), repeat=7)

    qa = w.qa.image(path)
    _, _, std = sigma_clipped_stats(data, sigma=3, maxiters=5)
    agree = qa.rms_jy / float(std) - 1
    print(
        f"rms: ours {qa.rms_jy * 1e3:.5f} mJy/beam, astropy {float(std) * 1e3:.5f} mJy/beam "
        f"({agree:+.3%}); grade {qa.grade}; {qa.n_islands} islands; peak {qa.peak_jy:.4f} Jy/beam"
    )
    print()
    r1 = report(
        "astropy sigma_clipped_stats (in memory)",
        t_astropy,
        "w.qa.image from the file",
        t_qa,
        target="(target >= 5x)",
    )
    r2 = report(
        "astropy sigma_clipped_stats (in memory)", t_astropy, "robust_stats (in memory)", t_stats
    )
    report(
        "w.qa.image from the file", t_qa, "one numpy pass (sum)", t_pass, target="(memory floor)"
    )
    report("robust_stats (in memory)", t_stats, "one numpy pass (sum)", t_pass)
    report("w.qa.image from the file", t_qa, "w.qa.image, cached", t_cached)
    v = Verdicts("bench_image_qa")
    v.at_least("image QA speed-up vs astropy sigma_clipped_stats", r1, 5.0)
    v.agree("rms vs astropy (relative)", agree, 0.01)
    print(f"(stats kernel alone: {r2:.1f}x)")
    return v.finish()


if __name__ == "__main__":
    sys.exit(main())
