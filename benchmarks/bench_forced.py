"""Forced photometry of one position over 1,000 images, against a plain loop of astropy cutouts.

Target: ``w.sources.forced(position, images=paths)`` over 1,000 small FITS images (CASA-like
4-axis float32, 256 x 256, generated here in a temp directory with a source of known flux at
the position in each, and some where it is too faint to detect) completes in under 10 s
*cold* on this machine: empty product cache, a fresh workspace, ``mode="auto"`` (the process
pool, started by the call itself, when the machine has a core to spare; this process when
other work saturates the cores), the files in the OS page cache as they are just written.
An explicit process-pool call is timed too, with the load average.  The ratio is
printed against the baseline measured in the same run: a plain serial loop that opens each
file with astropy, builds its WCS and cuts the same box out with ``Cutout2D`` (no
measurement at all).  Also printed: the warm (cached) call and an uncached serial call.
Exits non-zero when the target is missed or the fluxes disagree with the injected truth.

    .venv/bin/python benchmarks/bench_forced.py [--images 1000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import demo_state  # noqa: E402
from _verdict import Verdicts  # noqa: E402

TARGET_S = 10.0
RA, DEC = 150.2, 37.3
NPIX, CELL = 256, 20.0
BEAM = (60.0, 45.0, 30.0)


def make_images(root: Path, n: int, seed: int = 7) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """``n`` images around (RA, DEC) with a source of known peak there; returns the paths,
    the injected peak fluxes (Jy) and the noise (Jy/beam) of each."""
    from astropy.time import Time

    from dsa110_ws.demo.fits_writer import write_image

    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    fluxes = np.where(rng.random(n) < 0.25, 0.0005, rng.uniform(0.005, 0.05, n))
    noise = rng.uniform(0.8e-3, 1.3e-3, n)
    t0 = Time("2026-11-01T00:00:00", scale="utc")
    paths = []
    for i in range(n):
        p = root / f"img{i:05d}.fits"
        write_image(
            p,
            center_ra_deg=RA + rng.uniform(-0.4, 0.4),
            center_dec_deg=DEC + rng.uniform(-0.4, 0.4),
            npix=NPIX,
            cell_arcsec=CELL,
            freq_hz=1.405e9,
            bandwidth_hz=187.5e6,
            date_obs=(t0 + i * 300.0 / 86400.0).isot[:19],
            noise_jy=float(noise[i]),
            sources=[[RA, DEC, float(fluxes[i])]],
            rng=rng,
            beam=BEAM,
        )
        paths.append(p)
    return paths, fluxes, noise


def cutout_loop(paths: list[Path], half: int) -> int:
    """The baseline: open, WCS, ``Cutout2D`` of the same box, one file after another."""
    import warnings

    from astropy import units as u
    from astropy.coordinates import SkyCoord
    from astropy.io import fits
    from astropy.nddata import Cutout2D
    from astropy.wcs import WCS, FITSFixedWarning

    pos = SkyCoord(RA, DEC, unit="deg")
    n = 0
    for p in paths:
        with fits.open(p, memmap=True) as hdul, warnings.catch_warnings():
            warnings.simplefilter("ignore", FITSFixedWarning)
            wcs = WCS(hdul[0].header).celestial
            cut = Cutout2D(hdul[0].data[0, 0], pos, (2 * half + 1) * u.pix, wcs=wcs, mode="partial")
            n += int(np.isfinite(cut.data).sum() > 0)
    return n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    import dsa110_ws

    demo = demo_state()
    tmp = Path(tempfile.mkdtemp(prefix="bench-forced-"))
    t0 = time.perf_counter()
    paths, fluxes, noise = make_images(tmp / "data", args.images)
    print(f"wrote {len(paths)} images of {NPIX}x{NPIX} in {time.perf_counter() - t0:.1f} s")

    def workspace(tag: str):
        return dsa110_ws.connect(
            demo / "settings.toml",
            data_roots=[str(demo / "data"), str(tmp / "data")],
            state_dir=str(tmp / f"state-{tag}"),
        )

    cold, tables = [], []
    for k in range(args.repeat):
        w = workspace(f"cold{k}")
        t0 = time.perf_counter()
        tables.append(w.sources.forced((RA, DEC), images=paths))
        cold.append(time.perf_counter() - t0)
        if k == 0:
            t0 = time.perf_counter()
            w.sources.forced((RA, DEC), images=paths)
            warm = time.perf_counter() - t0
        w.close()
    w = workspace("serial")
    t0 = time.perf_counter()
    w.sources.forced((RA, DEC), images=paths, mode="serial", use_cache=False)
    serial = time.perf_counter() - t0
    w = workspace("pool")
    t0 = time.perf_counter()
    w.sources.forced((RA, DEC), images=paths, mode="processes")
    pool = time.perf_counter() - t0
    half = int(np.ceil(10.0 * BEAM[0] / CELL))  # the noise box forced photometry reads
    base = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        cutout_loop(paths, half)
        base.append(time.perf_counter() - t0)

    t = tables[0]
    z = (t["flux_jy"].to_numpy() - fluxes) / t["flux_err_jy"].to_numpy()
    ok_flux = bool(np.all(np.abs(z) < 5.0)) and 0.7 < float(np.sqrt(np.mean(z**2))) < 1.4
    white = np.sqrt(np.pi * (BEAM[0] / CELL) * (BEAM[1] / CELL) / (8 * np.log(2)))
    err_ratio = float(np.median(t["flux_err_jy"].to_numpy() * white / noise))
    t_cold, t_base = statistics.median(cold), statistics.median(base)
    print(f"mode of the cold calls (auto): {[x.attrs['mode'] for x in tables]}")
    print(
        f"statuses: {t.attrs['statuses']}; (flux - injected) / error: rms "
        f"{np.sqrt(np.mean(z**2)):.2f}, max |z| {np.max(np.abs(z)):.2f}; error vs white-noise "
        f"expectation {err_ratio:.3f}"
    )
    print(
        f"forced photometry, cold (mode=auto)     {t_cold:7.2f} s  (runs: "
        f"{', '.join(f'{c:.2f}' for c in cold)})"
    )
    print(f"forced photometry, warm (product cache)  {warm:7.2f} s")
    print(f"forced photometry, serial, no cache      {serial:7.2f} s")
    print(
        f"forced photometry, cold, process pool    {pool:7.2f} s  (load average {os.getloadavg()[0]:.1f})"
    )
    print(f"baseline: loop of astropy Cutout2D       {t_base:7.2f} s")
    print(
        f"ratio cold / baseline: {t_cold / t_base:.2f}x (baseline / cold: "
        f"{t_base / t_cold:.2f}x); target: cold under {TARGET_S:.0f} s"
    )
    v = Verdicts("bench_forced")
    v.at_most(f"forced photometry cold, {len(paths)} images", t_cold, TARGET_S, unit=" s")
    v.true("fluxes agree with the injected truth (|z| < 5, rms z in 0.7-1.4)", ok_flux)
    print(f"(ratio cold / Cutout2D baseline: {t_cold / t_base:.2f}x, not a target)")
    return v.finish()


if __name__ == "__main__":
    sys.exit(main())
