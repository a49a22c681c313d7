"""Forced photometry of one position over many images: which images, in parallel, cached.

Every image asked for gives one row.  Images that covered the position (the beam stamp on
finite pixels) give a measurement; it is a **detection** when ``snr = peak / error`` is at
least ``detection_sigma`` (default 3), otherwise an **upper limit** ``upper_limit_jy =
limit_sigma x error`` (default 3 sigma; the measured value is kept beside it).  The others
say why they give nothing (``outside``, ``edge``, ``blanked``, ``no_beam``, ``noisy_box``,
``failed``).  The measurement itself is :mod:`._forced`.

Work is split in chunks of images (:func:`._forced.measure_chunk`) run by the batch runner (``w.batch``: a local process
pool, or Dask when a scheduler is configured); small jobs run in this process.  Each
image's measurement is kept in the product cache, keyed by the file's identity, the
position, the beam and the algorithm's version.
"""

from __future__ import annotations

import math
import os
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dsa110_ws.core.skymath import angular_sep_deg
from dsa110_ws.core.time import mjd_to_utc
from dsa110_ws.errors import InvalidQueryError
from dsa110_ws.services.sources._forced import measure_chunk

if TYPE_CHECKING:
    from dsa110_ws.services.products import BatchRunner, FitsImageService, ProductCache

__all__ = [
    "run",
    "COVERED",
    "SERIAL_BELOW",
    "image_frame",
    "measure_all",
    "assemble",
    "as_lightcurve",
]

#: Statuses of images that covered the position.
COVERED = ("detected", "upper_limit")
#: Fewer images than this are measured in this process: a worker costs 1-2 s of imports
#: to start and an image about 5 ms to measure, so a pool of two pays off above ~500.
SERIAL_BELOW = 400
#: Images whose centre is farther than this factor x their half-diagonal are not read.
_FOOTPRINT_MARGIN = 1.05
#: Columns of the forced-photometry table, in order.
COLUMNS = (
    "source_id",
    "image_path",
    "mjd",
    "time_utc",
    "status",
    "detected",
    "flux_jy",
    "flux_err_jy",
    "upper_limit_jy",
    "snr",
    "peak_jyb",
    "peak_err_jyb",
    "local_rms",
    "ra_deg",
    "dec_deg",
    "x_pix",
    "y_pix",
    "sep_from_center_deg",
    "beam_major_arcsec",
    "beam_minor_arcsec",
    "beam_pa_deg",
    "beam_source",
    "time_source",
    "reason",
)
_BEAM = ("beam_major_arcsec", "beam_minor_arcsec", "beam_pa_deg")


# -- what and how ------------------------------------------------------------------------------
def resolve_target(target: Any, catalogue: Any) -> tuple[str | None, float, float]:
    """``(source_id or None, ra_deg, dec_deg)`` (ICRS) of a source id or a position."""
    from dsa110_ws.services.sources._catalog import as_radec

    if isinstance(target, str):
        rec = catalogue.get(target)
        return target, float(rec.ra_deg), float(rec.dec_deg)
    ra, dec = as_radec(target)
    if not (math.isfinite(ra) and math.isfinite(dec) and -90.0 <= dec <= 90.0):
        raise InvalidQueryError(f"Position ({ra}, {dec}) is not a sky position in degrees.")
    return None, ra % 360.0, dec


def check_params(beam: Any, detection_sigma: float, limit_sigma: float) -> None:
    """Refuse thresholds and beams that would give a silently wrong answer."""
    for name, value in (("detection_sigma", detection_sigma), ("limit_sigma", limit_sigma)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise InvalidQueryError(f"{name} must be a positive number of sigma (got {value!r}).")
    if beam is None:
        return
    try:
        bmaj, bmin, bpa = (float(v) for v in beam)
    except (TypeError, ValueError):
        raise InvalidQueryError(
            f"beam={beam!r}: give (bmaj_arcsec, bmin_arcsec, bpa_deg), e.g. (15, 10, 30)."
        ) from None
    if not (bmaj > 0 and bmin > 0 and math.isfinite(bmaj + bmin + bpa)):
        raise InvalidQueryError(f"beam={beam!r}: the axes must be positive arcsec.")


# -- which images -----------------------------------------------------------------------------
def _catalogue_cover(found: pd.DataFrame, ra: float, dec: float) -> pd.DataFrame:
    """Rows whose footprint (centre, size and cell from the table) can hold the position;
    rows without those columns are kept (their pixels decide)."""
    if found.empty:
        return found
    sep = np.asarray(
        angular_sep_deg(found["center_ra_deg"], found["center_dec_deg"], ra, dec), dtype=float
    )
    nx = pd.to_numeric(found.get("imsize_x"), errors="coerce")
    ny = pd.to_numeric(found.get("imsize_y"), errors="coerce").fillna(nx)
    cell = pd.to_numeric(found.get("cellsize_arcsec"), errors="coerce")
    reach = (np.hypot(nx, ny) / 2.0 * cell / 3600.0 * _FOOTPRINT_MARGIN).to_numpy(float)
    keep = ~(np.isfinite(reach) & np.isfinite(sep)) | (sep <= reach)
    return found[keep]


def image_frame(
    images: Any,
    catalogue: Any,
    ra: float,
    dec: float,
    *,
    start: Any = None,
    end: Any = None,
    type: str | None = "5min",  # noqa: A002 - the pipeline's column name
) -> pd.DataFrame:
    """The images to measure: ``path``, ``obs_mjd`` (NaN when not registered) and the
    catalogue's beam columns.

    ``images``: ``None`` (the registered images of ``type`` observed in [start, end) whose
    footprint can hold the position), a DataFrame with a ``path`` (or ``image_path``)
    column such as ``w.images.find(...)``, or paths.  ``catalogue`` is the image service.
    """
    if images is None:
        found = catalogue.find(
            start=start,
            end=end,
            type=type,
            dec_min_deg=max(dec - 10.0, -90.0),
            dec_max_deg=min(dec + 10.0, 90.0),
            limit=None,
        )
        frame = _catalogue_cover(found, ra, dec)
    elif isinstance(images, pd.DataFrame):
        col = "path" if "path" in images.columns else "image_path"
        if col not in images.columns:
            raise InvalidQueryError(
                "images= is a table without a 'path' (or 'image_path') column; pass "
                "w.images.find(...) or a list of FITS paths."
            )
        frame = images.rename(columns={col: "path"})
        if "obs_mjd" not in frame.columns:
            frame = _registered(catalogue, frame["path"].astype(str).tolist())
    else:
        paths = [images] if isinstance(images, (str, os.PathLike)) else list(images)
        frame = _registered(catalogue, [str(p) for p in paths])
    frame = frame.drop_duplicates("path").reset_index(drop=True)
    for c in ("obs_mjd", *_BEAM):
        frame[c] = pd.to_numeric(frame[c], errors="coerce") if c in frame else np.nan
    return frame[["path", "obs_mjd", *_BEAM]]


def _registered(catalogue: Any, paths: list[str]) -> pd.DataFrame:
    """``paths`` in order, with the catalogue's columns where the image is registered."""
    if not paths:
        return pd.DataFrame({"path": []})
    frame = pd.DataFrame({"path": paths})
    parts = [catalogue.find(path=paths[i : i + 900], limit=None) for i in range(0, len(paths), 900)]
    known = (
        pd.concat([p for p in parts if not p.empty]) if any(not p.empty for p in parts) else None
    )
    if known is None:
        return frame
    return frame.merge(known.drop_duplicates("path"), on="path", how="left")


# -- measuring ----------------------------------------------------------------------------------
def _fallback_beam(row: dict[str, Any]) -> tuple[float, float, float] | None:
    values = [row.get(c) for c in _BEAM]
    if all(isinstance(v, (int, float)) and math.isfinite(v) for v in values[:2]):
        pa = values[2] if isinstance(values[2], (int, float)) and math.isfinite(values[2]) else 0.0
        return float(values[0]), float(values[1]), float(pa)  # type: ignore[arg-type]
    return None


def auto_mode(batch: BatchRunner, n_images: int) -> str:
    """Where ``mode="auto"`` measures ``n_images``: in this process below
    :data:`SERIAL_BELOW` images; on the dask cluster when one is configured; on the process
    pool when the machine has a core to spare (1-minute load average under the core count
    less a half), else in this process, since workers started on saturated cores cost
    their start-up and gain nothing."""
    if n_images < SERIAL_BELOW:
        return "serial"
    if batch.uses_dask:
        return "dask"
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:  # not available on this platform: assume the cores are free
        load = 0.0
    return "processes" if cores > 1 and load < cores - 0.5 else "serial"


def measure_all(
    frame: pd.DataFrame,
    *,
    fits: FitsImageService,
    cache: ProductCache,
    batch: BatchRunner,
    ra_deg: float,
    dec_deg: float,
    beam: tuple[float, float, float] | None,
    mode: str = "auto",
    workers: int | None = None,
    progress: bool = False,
    use_cache: bool = True,
) -> tuple[list[dict[str, Any]], str]:
    """One result dict per row of ``frame``, in order (see :func:`measure_chunk`), and the
    mode that ran them."""
    items = [
        (str(fits_path), _fallback_beam(row))
        for fits_path, row in zip(frame["path"], frame.to_dict("records"), strict=True)
    ]
    kw = dict(
        fits=fits, cache=cache, ra_deg=ra_deg, dec_deg=dec_deg, beam=beam, use_cache=use_cache
    )
    if mode == "auto":
        mode = auto_mode(batch, len(items))
    if mode == "serial" or not items:
        return measure_chunk(items, **kw), "serial"
    n_workers = workers or os.cpu_count() or 1
    n_chunks = max(1, min(len(items), 4 * n_workers))
    chunks = [items[i::n_chunks] for i in range(n_chunks)]
    done = batch.run(
        measure_chunk,
        chunks,
        mode=mode,
        workers=workers,
        progress=progress,
        desc="forced photometry",
        **kw,
    )
    results: dict[str, dict[str, Any]] = {}
    for chunk, status, error, result in zip(
        chunks, done["status"], done["error"], done["result"], strict=True
    ):
        for (path, _), res in zip(
            chunk, result if status == "ok" else [None] * len(chunk), strict=True
        ):
            results[path] = res or {"status": "failed", "reason": f"worker failed: {error}"}
    return [results[path] for path, _ in items], mode


# -- the table ---------------------------------------------------------------------------------
def assemble(
    frame: pd.DataFrame,
    results: list[dict[str, Any]],
    *,
    source_id: str | None,
    ra_deg: float,
    dec_deg: float,
    detection_sigma: float,
    limit_sigma: float,
) -> pd.DataFrame:
    """The forced-photometry table (see the module doc), in observation order."""
    res = pd.DataFrame.from_records(results, index=frame.index)
    for c in ("peak_jyb", "peak_err_jyb", "local_rms", "mjd_obs", "x_pix", "y_pix"):
        res[c] = pd.to_numeric(res[c], errors="coerce") if c in res else np.nan
    for c in ("sep_from_center_deg", *_BEAM):
        res[c] = pd.to_numeric(res[c], errors="coerce") if c in res else np.nan
    for c in ("beam_source", "reason"):
        if c not in res:
            res[c] = None
    registered = frame["obs_mjd"].notna()
    mjd = frame["obs_mjd"].where(registered, res["mjd_obs"]).astype(float)
    snr = res["peak_jyb"] / res["peak_err_jyb"]
    measured = res["status"].eq("measured")
    detected = measured & (snr >= detection_sigma)
    status = res["status"].mask(measured, np.where(detected, "detected", "upper_limit"))
    out = pd.DataFrame(
        {
            "source_id": source_id,
            "image_path": frame["path"].astype(str),
            "mjd": mjd,
            "time_utc": mjd_to_utc(mjd).to_numpy(),
            "status": status,
            "detected": detected,
            "flux_jy": res["peak_jyb"].where(measured),
            "flux_err_jy": res["peak_err_jyb"].where(measured),
            "upper_limit_jy": (limit_sigma * res["peak_err_jyb"]).where(measured & ~detected),
            "snr": snr.where(measured),
            "peak_jyb": res["peak_jyb"],
            "peak_err_jyb": res["peak_err_jyb"],
            "local_rms": res["local_rms"],
            "ra_deg": ra_deg,
            "dec_deg": dec_deg,
            "x_pix": res["x_pix"],
            "y_pix": res["y_pix"],
            "sep_from_center_deg": res["sep_from_center_deg"],
            **{c: res[c] for c in _BEAM},
            "beam_source": res["beam_source"],
            "time_source": np.where(registered, "ms_index mid_mjd", "FITS MJD-OBS (start)"),
            "reason": res["reason"],
        }
    )
    out = out.sort_values(["mjd", "image_path"], kind="stable", na_position="last")
    out = out.reset_index(drop=True)[list(COLUMNS)]
    counts = out["status"].value_counts()
    out.attrs.update(
        source_id=source_id,
        ra_deg=ra_deg,
        dec_deg=dec_deg,
        flux_column="forced",
        detection_sigma=float(detection_sigma),
        limit_sigma=float(limit_sigma),
        n_images=len(out),
        n_detected=int(counts.get("detected", 0)),
        n_upper_limits=int(counts.get("upper_limit", 0)),
        n_not_covering=int(len(out) - counts.get("detected", 0) - counts.get("upper_limit", 0)),
        statuses={str(k): int(v) for k, v in counts.items()},
    )
    return out


def normalise(lc: pd.DataFrame, normalisation: Any) -> pd.DataFrame:
    """Forced fluxes, errors and upper limits divided by the reference-source corrections
    (``normalisation``; ``None`` leaves the raw image fluxes)."""
    if normalisation is None or lc.empty:
        return lc
    out = normalisation.apply_to(lc)
    out["upper_limit_jy"] = lc["upper_limit_jy"] / out["correction"]
    out.attrs.update(lc.attrs)
    out.attrs["flux_column"] = "forced, reference-normalised"
    return out


def as_lightcurve(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of images that covered the position: a light curve with upper limits."""
    lc = table[table["status"].isin(COVERED)].reset_index(drop=True)
    lc.attrs.update(table.attrs)
    lc.attrs["n_points"] = len(lc)
    return lc


def run(
    target: Any,
    *,
    catalogue: Any,
    images_service: Any,
    fits: FitsImageService,
    cache: ProductCache,
    batch: BatchRunner,
    images: Any = None,
    start: Any = None,
    end: Any = None,
    type: str | None = "5min",  # noqa: A002 - the pipeline's column name
    beam: Any = None,
    detection_sigma: float = 3.0,
    limit_sigma: float = 3.0,
    mode: str = "auto",
    workers: int | None = None,
    progress: bool = False,
    use_cache: bool = True,
) -> pd.DataFrame:
    """Forced photometry of ``target`` (see :meth:`SourceService.forced
    <dsa110_ws.services.sources.SourceService.forced>`): which images, measured, as a table."""
    sid, ra, dec = resolve_target(target, catalogue)
    check_params(beam, detection_sigma, limit_sigma)
    t0 = time.perf_counter()
    frame = image_frame(images, images_service, ra, dec, start=start, end=end, type=type)
    results, ran = measure_all(
        frame,
        fits=fits,
        cache=cache,
        batch=batch,
        ra_deg=ra,
        dec_deg=dec,
        beam=None if beam is None else (float(beam[0]), float(beam[1]), float(beam[2])),
        mode=mode,
        workers=workers,
        progress=progress,
        use_cache=use_cache,
    )
    table = assemble(
        frame,
        results,
        source_id=sid,
        ra_deg=ra,
        dec_deg=dec,
        detection_sigma=detection_sigma,
        limit_sigma=limit_sigma,
    )
    table.attrs.update(mode=ran, seconds=round(time.perf_counter() - t0, 3))
    return table
