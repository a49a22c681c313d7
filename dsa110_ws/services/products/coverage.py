"""Sky coverage (``w.coverage``): which sky was observed, at which declinations, and when.

DSA-110 drift-scans at a few fixed declinations; the coverage of a night (a UTC day, as
everywhere in the workspace) or of any window is the union of its images' footprints as a
MOC (mocpy), with the declinations observed.  Footprints come from

* ``"wcs"`` (default): each image's FITS header, through its WCS; an image whose file
  cannot be read falls back to its table geometry (counted in ``n_from_table``);
* ``"table"``: the images table's centre, size and cell (no file is read);
* ``"pointings"``: the Measurement Sets' pointing columns (``ms_index.pointing_ra_deg`` /
  ``pointing_dec_deg``) with a field of view of ``fov_radius_deg``, for nights whose images
  are missing.

``images(area)`` finds the images inside a MOC or a sky region (see
:mod:`dsa110_ws.services.skyregion`); ``w.sources.within(area)`` does the same for sources.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dsa110_ws.core.time import TimeLike, mjd_to_iso, night_bounds, to_mjd, unix_to_mjd
from dsa110_ws.errors import DataUnavailableError, InvalidQueryError, WorkspaceError
from dsa110_ws.services.products import _footprints

if TYPE_CHECKING:
    from dsa110_ws.core.paths import PathPolicy
    from dsa110_ws.core.time import Clock
    from dsa110_ws.repositories.images import ImageRepository
    from dsa110_ws.repositories.ms import MSIndexRepository

__all__ = ["CoverageService", "Coverage", "FOOTPRINTS", "DEFAULT_DEPTH"]

FOOTPRINTS = ("wcs", "table", "pointings")
#: MOC depth of a coverage: cells of 52 arcsec, finer than any DSA-110 image edge matters.
DEFAULT_DEPTH = 12
#: Pointings closer than this in declination are one declination strip.
DEC_TOLERANCE_DEG = 0.1
_SKY_DEG2 = 4.0 * np.pi * (180.0 / np.pi) ** 2


@dataclasses.dataclass(frozen=True)
class Coverage:
    """The sky covered in a window.

    ``moc``: the union of the footprints (``mocpy.MOC``); ``footprints``: one row per image
    or pointing (``path``, ``obs_mjd``, ``center_ra_deg``, ``center_dec_deg``, ``source``:
    "wcs", "table" or "pointing"); ``declinations``: one row per declination strip observed
    (``dec_deg``, ``n_images``, ``ra_covered_deg``, ``first_utc``, ``last_utc``).
    """

    moc: Any
    footprints: pd.DataFrame
    declinations: pd.DataFrame
    start_mjd: float
    end_mjd: float
    footprint: str
    max_depth: int

    @property
    def area_deg2(self) -> float:
        return float(self.moc.sky_fraction) * _SKY_DEG2

    @property
    def sky_fraction(self) -> float:
        return float(self.moc.sky_fraction)

    def summary(self) -> dict[str, Any]:
        """A JSON-able summary (the CLI's ``--json``)."""
        counts = self.footprints["source"].value_counts()
        return {
            "start_utc": mjd_to_iso(self.start_mjd),
            "end_utc": mjd_to_iso(self.end_mjd),
            "footprint": self.footprint,
            "n_footprints": len(self.footprints),
            "n_from_wcs": int(counts.get("wcs", 0)),
            "n_from_table": int(counts.get("table", 0)),
            "n_from_pointings": int(counts.get("pointing", 0)),
            "area_deg2": round(self.area_deg2, 4),
            "sky_fraction": self.sky_fraction,
            "moc_max_depth": self.max_depth,
            "declinations": self.declinations.to_dict(orient="records"),
        }

    def _repr_html_(self) -> str:
        decs = ", ".join(f"{d:+.2f}" for d in self.declinations["dec_deg"])
        return (
            f"<b>Coverage</b> {mjd_to_iso(self.start_mjd)} - {mjd_to_iso(self.end_mjd)}: "
            f"{len(self.footprints)} footprints ({self.footprint}), {self.area_deg2:.1f} deg², "
            f"declinations {decs or 'none'}"
        )


def ra_covered_deg(ra_deg: np.ndarray, half_width_deg: np.ndarray) -> float:
    """Degrees of RA inside the union of intervals ``ra +- half_width`` (on the circle)."""
    if len(ra_deg) == 0:
        return 0.0
    lo, hi = (
        (ra_deg - half_width_deg) % 360.0,
        (ra_deg - half_width_deg) % 360.0 + 2 * half_width_deg,
    )
    order = np.argsort(lo)
    lo, hi = lo[order], hi[order]
    total, cur_lo, cur_hi = 0.0, lo[0], hi[0]
    for a, b in zip(lo[1:], hi[1:], strict=True):
        if a > cur_hi:
            total += cur_hi - cur_lo
            cur_lo, cur_hi = a, b
        else:
            cur_hi = max(cur_hi, b)
    total += cur_hi - cur_lo
    wrapped = max(0.0, hi.max() - 360.0 - lo[0])  # the last interval running past 360
    return float(min(360.0, total - wrapped))


def declination_strips(footprints: pd.DataFrame, half_width_deg: np.ndarray) -> pd.DataFrame:
    """Group pointings by declination (gaps over ``DEC_TOLERANCE_DEG`` split strips)."""
    cols = ["dec_deg", "n_images", "ra_covered_deg", "first_utc", "last_utc"]
    if footprints.empty:
        return pd.DataFrame(columns=cols)
    dec = footprints["center_dec_deg"].to_numpy(float)
    order = np.argsort(dec)
    strip = np.empty(len(dec), dtype=int)
    strip[order] = np.concatenate([[0], np.cumsum(np.diff(dec[order]) > DEC_TOLERANCE_DEG)])
    rows = []
    for k in np.unique(strip):
        sel = strip == k
        mjd = footprints["obs_mjd"].to_numpy(float)[sel]
        rows.append(
            {
                "dec_deg": round(float(np.median(dec[sel])), 4),
                "n_images": int(sel.sum()),
                "ra_covered_deg": round(
                    ra_covered_deg(
                        footprints["center_ra_deg"].to_numpy(float)[sel], half_width_deg[sel]
                    ),
                    3,
                ),
                "first_utc": mjd_to_iso(float(np.nanmin(mjd))) if np.isfinite(mjd).any() else None,
                "last_utc": mjd_to_iso(float(np.nanmax(mjd))) if np.isfinite(mjd).any() else None,
            }
        )
    return pd.DataFrame(rows, columns=cols)


class CoverageService:
    """Sky coverage per night or window, and area queries of images (``w.coverage``).

    Parameters
    ----------
    images, ms_index
        The ``images`` and ``ms_index`` repositories.
    paths
        Reads confined to the data roots; MOC files written outside the pipeline's.
    clock
        The workspace clock ("yesterday", "last night").
    """

    def __init__(
        self,
        images: ImageRepository,
        ms_index: MSIndexRepository,
        *,
        paths: PathPolicy,
        clock: Clock,
    ):
        self._images = images
        self._ms = ms_index
        self._paths = paths
        self._clock = clock

    def __repr__(self) -> str:
        return "<CoverageService: night, window, images, write_moc, plot>"

    # -- coverage --------------------------------------------------------------------------
    def night(self, night: TimeLike, **kwargs: Any) -> Coverage:
        """The coverage of one observing night (a UTC day: ``"2026-11-13"``,
        ``"yesterday"``); keywords as :meth:`window`."""
        lo, hi = night_bounds(night, now=self._clock.now())
        return self.window(unix_to_mjd(lo), unix_to_mjd(hi), **kwargs)

    def window(
        self,
        start: TimeLike,
        end: TimeLike,
        *,
        footprint: str = "wcs",
        type: str | None = "5min",  # noqa: A002 - the pipeline's column name
        fov_radius_deg: float = 1.5,
        max_depth: int = DEFAULT_DEPTH,
    ) -> Coverage:
        """The coverage of the images (``type``; ``None`` for all) observed in [start, end),
        or with ``footprint="pointings"`` of the Measurement Sets' pointings."""
        if footprint not in FOOTPRINTS:
            raise InvalidQueryError(f"footprint={footprint!r} is not one of {FOOTPRINTS}.")
        if not (isinstance(max_depth, int) and 3 <= max_depth <= 20):
            raise InvalidQueryError(f"max_depth must be an integer 3-20 (got {max_depth!r}).")
        now = self._clock.now()
        lo, hi = to_mjd(start, now=now, what="start"), to_mjd(end, now=now, what="end")
        if footprint == "pointings":
            fp, moc, half = self._pointings(lo, hi, fov_radius_deg, max_depth)
        else:
            fp, moc, half = self._images_footprints(lo, hi, type, footprint, max_depth)
        return Coverage(moc, fp, declination_strips(fp, half), lo, hi, footprint, max_depth)

    def _images_footprints(
        self, lo: float, hi: float, type_: str | None, footprint: str, depth: int
    ) -> tuple[pd.DataFrame, Any, np.ndarray]:
        rows = self._images.find(start=lo, end=hi, type=type_, limit=None)
        lon, lat, ok = _footprints.table_polygons(rows)
        source = np.where(ok, "table", "none").astype(object)
        if footprint == "wcs":
            for i, path in enumerate(rows["path"].astype(str)):
                try:
                    lon[i], lat[i] = _footprints.wcs_polygon(
                        self._paths.product(path, what="FITS image", expect="file")
                    )
                    source[i] = "wcs"
                except WorkspaceError:
                    continue  # keeps the table footprint, counted as n_from_table
        keep = source != "none"
        half = _half_width(rows)[keep]
        fp = pd.DataFrame(
            {
                "path": rows["path"].astype(str).to_numpy()[keep],
                "obs_mjd": pd.to_numeric(rows.get("obs_mjd"), errors="coerce").to_numpy()[keep],
                "center_ra_deg": rows["center_ra_deg"].to_numpy(float)[keep],
                "center_dec_deg": rows["center_dec_deg"].to_numpy(float)[keep],
                "source": source[keep],
            }
        )
        moc = _footprints.polygon_mocs(lon[keep], lat[keep], max_depth=depth)
        return fp, moc, half

    def _pointings(
        self, lo: float, hi: float, radius: float, depth: int
    ) -> tuple[pd.DataFrame, Any, np.ndarray]:
        from astropy import units as u
        from mocpy import MOC

        if not (np.isfinite(radius) and 0 < radius < 90):
            raise InvalidQueryError(f"fov_radius_deg must be 0-90 degrees (got {radius!r}).")
        ms = self._ms.find(start=lo, end=hi, limit=None)
        ra = pd.to_numeric(ms.get("pointing_ra_deg"), errors="coerce")
        dec = pd.to_numeric(ms.get("pointing_dec_deg"), errors="coerce")
        ok = (ra.notna() & dec.notna()).to_numpy()
        fp = pd.DataFrame(
            {
                "path": ms["path"].astype(str).to_numpy()[ok],
                "obs_mjd": pd.to_numeric(ms["mid_mjd"], errors="coerce").to_numpy()[ok],
                "center_ra_deg": ra.to_numpy(float)[ok],
                "center_dec_deg": dec.to_numpy(float)[ok],
                "source": "pointing",
            }
        )
        if fp.empty:
            moc = MOC.new_empty(depth)
        else:
            moc = MOC.from_cones(
                fp["center_ra_deg"].to_numpy() * u.deg,
                fp["center_dec_deg"].to_numpy() * u.deg,
                radius=radius * u.deg,
                max_depth=depth,
                union_strategy="small_cones",
            )
        half = radius / np.cos(np.radians(np.clip(fp["center_dec_deg"].to_numpy(float), -89, 89)))
        return fp, moc, np.minimum(half, 180.0)

    # -- queries ------------------------------------------------------------------------------
    def images(
        self,
        area: Any,
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        type: str | None = None,  # noqa: A002 - the pipeline's column name
        how: str = "center",
        limit: int | None = None,
    ) -> pd.DataFrame:
        """Registered images inside ``area`` (a MOC, a MOC file, an astropy-regions sky
        region or a DS9 region string), observed in [start, end): ``how="center"`` those
        whose centre lies inside, ``"overlap"`` those whose footprint (table geometry)
        touches it."""
        from dsa110_ws.services import skyregion

        if how not in ("center", "overlap"):
            raise InvalidQueryError(f"how={how!r}: use 'center' or 'overlap'.")
        cone = skyregion.bounding_cone(area)
        dec_lo = dec_hi = None
        if cone is not None:
            reach = cone[2] + (5.0 if how == "overlap" else 0.0)
            dec_lo, dec_hi = max(cone[1] - reach, -90.0), min(cone[1] + reach, 90.0)
        rows = self._images.find(
            start=start, end=end, type=type, dec_min_deg=dec_lo, dec_max_deg=dec_hi, limit=None
        )
        if how == "center":
            inside = skyregion.contains(area, rows["center_ra_deg"], rows["center_dec_deg"])
        else:
            inside = self._overlaps(rows, skyregion.to_moc(area))
        out = rows[inside].reset_index(drop=True)
        if limit is not None:
            out = out.head(limit)
        out.attrs.update(area=repr(skyregion.as_area(area)), how=how, n_inside=int(inside.sum()))
        return out

    @staticmethod
    def _overlaps(rows: pd.DataFrame, moc: Any) -> np.ndarray:
        lon, lat, ok = _footprints.table_polygons(rows)
        out = np.zeros(len(rows), dtype=bool)
        for i in np.flatnonzero(ok):
            one = _footprints.polygon_mocs(lon[i : i + 1], lat[i : i + 1], max_depth=moc.max_order)
            out[i] = not one.intersection(moc).empty()
        return out

    # -- files and pictures ---------------------------------------------------------------------
    def write_moc(
        self, coverage: Coverage | Any, path: str | os.PathLike[str], *, overwrite: bool = False
    ) -> Path:
        """Write a coverage's MOC (or a MOC) as a MOC FITS file (IVOA MOC 2.0), never among
        the pipeline's files; returns the path."""
        moc = coverage.moc if isinstance(coverage, Coverage) else coverage
        target = self._paths.output(path, what="MOC file", force=overwrite)
        from dsa110_ws.core.atomic import temp_sibling

        tmp = temp_sibling(target)
        try:
            moc.save(str(tmp), format="fits", overwrite=True)
            os.replace(tmp, target)
        except (OSError, ValueError) as exc:
            raise DataUnavailableError(f"Cannot write the MOC to {target}: {exc}") from None
        finally:
            tmp.unlink(missing_ok=True)
        self._paths.record(target)
        return target

    def plot(self, coverage: Coverage, ax: Any = None, *, kind: str = "allsky") -> Any:
        """The coverage on the sky: ``kind="allsky"`` (Aitoff, whole sky) or ``"strip"``
        (zoomed on the observed declination strips, footprint centres marked).  Returns
        the Axes."""
        from dsa110_ws.services.products._coverageplot import plot_coverage

        return plot_coverage(coverage, ax, kind=kind)


def _half_width(rows: pd.DataFrame) -> np.ndarray:
    """Half the RA extent (degrees of RA) of each image from its table geometry."""
    nx = pd.to_numeric(rows.get("imsize_x"), errors="coerce").to_numpy(float)
    cell = pd.to_numeric(rows.get("cellsize_arcsec"), errors="coerce").to_numpy(float)
    dec = pd.to_numeric(rows.get("center_dec_deg"), errors="coerce").to_numpy(float)
    half = nx * cell / 3600.0 / 2.0 / np.cos(np.radians(np.clip(dec, -89.0, 89.0)))
    return np.where(np.isfinite(half), np.minimum(half, 180.0), 0.0)
