"""Demo product files (FITS images, forced photometry, Measurement Sets) and their rows."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from dsa110_ws.demo.sky import SNAPSHOT_S, SkyModel, Snapshot

__all__ = ["ImagePlan", "plan_images", "write_images_and_photometry", "write_measurement_sets"]

NPIX = 384
CELL_ARCSEC = 20.0
BEAM = (60.0, 45.0, 30.0)  # bmaj, bmin (arcsec), bpa (deg)
FREQ_HZ = 1.405e9
BANDWIDTH_HZ = 187.5e6
NOISE_JY = 1.0e-3
#: Noise of the demo's peer outlier: under ``[qa.image] rms_warn_jy`` (2 mJy/beam), far above
#: its peers' 0.9-1.2 mJy/beam.
PEER_OUTLIER_NOISE_JY = 1.85e-3
HALF_FOV_DEG = 0.95  # sources farther than this from the centre are not measured
#: Interference in every demo MS, flagged: (spw, channels, integrations, amplitude in Jy) --
#: a persistent band (the channels ``bad_channels`` flags) and a short burst.
RFI = (
    (0, slice(10, 13), slice(None), 25.0),
    (1, slice(10, 13), slice(None), 25.0),
    (1, slice(4, 5), slice(3, 6), 60.0),
)


@dataclasses.dataclass
class ImagePlan:
    snap: Snapshot
    image_path: Path
    ms_path: Path
    noise_jy: float
    gain: float
    beam: tuple[float, float, float] | None
    nan_box: tuple[int, int, int, int] | None
    bad_reason: str | None
    type: str = "5min"
    peer_outlier: bool = False


def plan_images(snaps: list[Snapshot], root: Path, rng: np.random.Generator) -> list[ImagePlan]:
    """One image (and MS) per snapshot; three deliberately bad ones in the middle night; in the
    second-to-last night one whose noise passes the absolute thresholds but is an outlier
    among its peers (``PEER_OUTLIER_NOISE_JY``)."""
    plans = []
    for s in snaps:
        day = root / "images" / s.night
        plans.append(
            ImagePlan(
                snap=s,
                image_path=day / f"{s.stamp}.img-image.fits",
                ms_path=root / "ms" / s.night / f"{s.stamp}.ms",
                noise_jy=NOISE_JY * float(rng.uniform(0.9, 1.2)),
                gain=float(rng.normal(1.0, 0.02)),
                beam=BEAM,
                nan_box=None,
                bad_reason=None,
            )
        )
    mid = [p for p in plans if p.snap.night_index == len({p.snap.night for p in plans}) // 2]
    if len(mid) >= 3:
        mid[1].noise_jy, mid[1].bad_reason = NOISE_JY * 8.0, "high_noise"
        mid[2].nan_box, mid[2].bad_reason = (40, 200, 200, 360), "nan_region"
        mid[-1].beam, mid[-1].bad_reason = None, "missing_beam"
    night = sorted({p.snap.night for p in plans})[-2] if len(plans) > 1 else None
    late = [p for p in plans if p.snap.night == night]
    if len(late) >= 5:
        late[4].noise_jy, late[4].peer_outlier = PEER_OUTLIER_NOISE_JY, True
    return plans


def _photometry_rows(
    plan: ImagePlan,
    sky: SkyModel,
    data: np.ndarray,
    wcs: Any,
    inside: np.ndarray,
    flux_now: np.ndarray,
) -> list[dict[str, Any]]:
    from dsa110_ws.core.skymath import angular_sep_deg
    from dsa110_ws.demo.fits_writer import forced_photometry

    bmaj, bmin, bpa = BEAM  # the pipeline measures with the nominal beam
    flux, err, peak = forced_photometry(
        data,
        wcs,
        sky.ra_deg[inside],
        sky.dec_deg[inside],
        bmaj_arcsec=bmaj,
        bmin_arcsec=bmin,
        bpa_deg=bpa,
        cell_arcsec=CELL_ARCSEC,
        noise_jy=plan.noise_jy,
    )
    sep = angular_sep_deg(
        plan.snap.ra_deg, plan.snap.dec_deg, sky.ra_deg[inside], sky.dec_deg[inside]
    )
    rows = []
    for k, i in enumerate(np.flatnonzero(inside)):
        ok = bool(np.isfinite(flux[k]))
        f, e = float(flux[k]), float(err[k])
        rows.append(
            {
                "source_id": str(sky.source_id[i]),
                "image_path": str(plan.image_path),
                "ra_deg": float(sky.ra_deg[i]),
                "dec_deg": float(sky.dec_deg[i]),
                "nvss_flux_mjy": float(sky.nvss_flux_mjy[i]),
                "peak_jyb": float(peak[k]) if np.isfinite(peak[k]) else None,
                "peak_err_jyb": plan.noise_jy,
                "measured_at": plan.snap.mid_unix + 900.0,
                "snr": (f / e) if ok else None,
                "mjd": plan.snap.mid_mjd,
                "flux_jy": f if ok else None,
                "flux_err_jy": e if ok else None,
                "normalized_flux_jy": (f / plan.gain) if ok else None,
                "normalized_flux_err_jy": (e / plan.gain) if ok else None,
                "mosaic_path": None,
                "sep_from_center_deg": float(sep[k]),
                "local_rms": plan.noise_jy,
                "rms_jy": plan.noise_jy,
                "peak_flux_jy": float(peak[k]) if np.isfinite(peak[k]) else None,
                "quality_flag": "good" if ok else "blanked",
                "flags": 0 if ok else 1,
                "_true_flux_jy": float(flux_now[i]),
            }
        )
    return rows


def write_images_and_photometry(
    plans: list[ImagePlan], sky: SkyModel, rng: np.random.Generator
) -> tuple[list[dict], list[dict]]:
    """Write every FITS image and measure photometry on it; returns (image truths, rows)."""
    from astropy.io import fits
    from astropy.wcs import WCS

    from dsa110_ws.demo.fits_writer import write_image

    truths, phot = [], []
    for p in plans:
        s = p.snap
        dra = (sky.ra_deg - s.ra_deg) * np.cos(np.radians(s.dec_deg))
        inside = (np.abs(dra) < HALF_FOV_DEG) & (np.abs(sky.dec_deg - s.dec_deg) < HALF_FOV_DEG)
        flux_now = sky.flux_jy * sky.night_factor[:, s.night_index]
        srcs = np.column_stack([sky.ra_deg[inside], sky.dec_deg[inside], flux_now[inside]])
        p.image_path.parent.mkdir(parents=True, exist_ok=True)
        info = write_image(
            p.image_path,
            center_ra_deg=s.ra_deg,
            center_dec_deg=s.dec_deg,
            npix=NPIX,
            cell_arcsec=CELL_ARCSEC,
            freq_hz=FREQ_HZ,
            bandwidth_hz=BANDWIDTH_HZ,
            date_obs=s.stamp,
            noise_jy=p.noise_jy,
            sources=srcs,
            rng=rng,
            beam=p.beam,
            injection_beam=BEAM,
            gain=p.gain,
            nan_box=p.nan_box,
            object_name=f"drift_{s.night}_{s.index:02d}",
        )
        with fits.open(p.image_path) as hdul:
            data = np.asarray(hdul[0].data[0, 0], dtype=float)
            wcs = WCS(hdul[0].header).celestial
        phot.extend(_photometry_rows(p, sky, data, wcs, inside, flux_now))
        brightest = float(np.max(srcs[:, 2]) * p.gain) if len(srcs) else 0.0
        truths.append(
            {
                "path": str(p.image_path),
                "ms_path": str(p.ms_path),
                "night": s.night,
                "mid_mjd": s.mid_mjd,
                "noise_jy": p.noise_jy,
                "gain": p.gain,
                "beam": None if p.beam is None else list(p.beam),
                "bad_reason": p.bad_reason,
                "peer_outlier": p.peer_outlier,
                "n_sources": int(inside.sum()),
                "brightest_peak_jy": brightest,
                "nan_box": p.nan_box,
                "center_ra_deg": s.ra_deg,
                "center_dec_deg": s.dec_deg,
                "n_injected": int(info.get("n_sources_injected", len(srcs))),
            }
        )
    return truths, phot


def ms_times(snap: Snapshot, n_int: int) -> tuple[np.ndarray, float]:
    """Integration centres (MJD seconds, UTC) spread over the snapshot."""
    integration = SNAPSHOT_S / n_int
    t0 = snap.start_unix / 86400.0 + 40587.0
    return t0 * 86400.0 + integration * (np.arange(n_int) + 0.5), integration


def write_measurement_sets(
    plans: list[ImagePlan],
    layout: tuple,
    rng: np.random.Generator,
    *,
    n_int: int = 12,
    bad_antenna: int = 7,
) -> list[dict]:
    """One small MS per image (DSA-110-like layout subset, 2 spws x 16 channels)."""
    from dsa110_ws.demo.ms_writer import write_ms

    names, itrf, _ = layout
    spws = spw_freqs()
    truths = []
    for p in plans:
        times, integration = ms_times(p.snap, n_int)
        p.ms_path.parent.mkdir(parents=True, exist_ok=True)
        t = write_ms(
            p.ms_path,
            antenna_names=names,
            antenna_itrf_m=itrf,
            times_mjd_s=times,
            integration_s=integration,
            spw_freqs_hz=spws,
            field_name=f"drift_{p.snap.night}_{p.snap.index:02d}",
            field_ra_deg=p.snap.ra_deg,
            field_dec_deg=p.snap.dec_deg,
            bad_antenna=bad_antenna,
            bad_channels=slice(10, 13),
            rfi=RFI,
            scan_length_integrations=n_int // 2,
            rng=rng,
        )
        truths.append(_jsonable({"path": str(p.ms_path), **t, "rfi": _rfi_truth(n_int)}))
    return truths


def _rfi_truth(n_int: int) -> list[dict[str, Any]]:
    """The injected interference of :data:`RFI` as lists of channel and integration indices."""
    return [
        {
            "spw": spw,
            "channels": list(range(16))[chans],
            "integrations": list(range(n_int))[ints],
            "amplitude_jy": amp,
        }
        for spw, chans, ints, amp in RFI
    ]


def spw_freqs() -> list[np.ndarray]:
    """Two 16-channel spectral windows inside DSA-110's 1.28-1.53 GHz band."""
    width = 0.244140625e6 * 8
    return [1.311e9 + width * np.arange(16), 1.405e9 + width * np.arange(16)]


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj
