"""Pictures of a coverage: the whole sky (Aitoff) and a zoom on the declination strips."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from dsa110_ws.services.products.coverage import Coverage

__all__ = ["plot_coverage", "KINDS"]

KINDS = ("allsky", "strip")
_COLOUR = "#1f6feb"
#: The map draws the MOC's cells at the deepest order giving at most this many.
_MAX_CELLS = 30_000


def _fill_cells(ax: Any, moc: Any, world: Any) -> None:
    """Fill the MOC's HEALPix cells as polygons (drawn here rather than with mocpy's
    ``fill``, which drops cells of plate carree and Aitoff views away from their centre)."""
    from cdshealpix import vertices
    from matplotlib.collections import PolyCollection

    order = int(moc.max_order)
    area = float(moc.sky_fraction) * 12
    while order > 3 and area * 4**order > _MAX_CELLS:
        order -= 1
    cells = moc.degrade_to_order(order).flatten()
    lon, lat = vertices(np.asarray(cells, dtype=np.uint64), order)
    lon, lat = np.asarray(lon.deg, dtype=float), np.asarray(lat.deg, dtype=float)
    lon = lon[:, :1] + (lon - lon[:, :1] + 180.0) % 360.0 - 180.0  # no cell across RA 0
    polys = list(np.stack([lon, lat], axis=-1))
    ax.add_collection(
        PolyCollection(
            polys, transform=world, facecolor=_COLOUR, edgecolor=_COLOUR, lw=0.3, alpha=0.6
        )
    )


def _allsky_wcs() -> Any:
    from astropy.wcs import WCS

    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---AIT", "DEC--AIT"]
    w.wcs.crval = [180.0, 0.0]
    w.wcs.cdelt = [-0.5, 0.5]
    w.wcs.crpix = [361.0, 181.0]
    w.array_shape = (360, 720)
    return w


def _strip_wcs(coverage: Coverage) -> tuple[Any, tuple[int, int]]:
    """A plate carree view holding every footprint, with a margin."""
    from astropy.wcs import WCS

    fp = coverage.footprints
    ra = np.unwrap(np.radians(fp["center_ra_deg"].to_numpy(float)))
    ra0 = float(np.degrees(np.mean([ra.min(), ra.max()]))) % 360.0
    dec = fp["center_dec_deg"].to_numpy(float)
    half_dec = float(max(dec.max() - dec.min(), 0.0) / 2.0 + 2.5)
    cos = max(np.cos(np.radians(np.mean(dec))), 0.1)
    half_ra = float(np.degrees(ra.max() - ra.min()) / 2.0 + 2.5 / cos)
    scale = max(half_ra, half_dec) / 400.0
    nx, ny = int(2 * half_ra / scale) + 1, int(2 * half_dec / scale) + 1
    dec0 = float(np.mean([dec.min(), dec.max()]))
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---CAR", "DEC--CAR"]
    w.wcs.crval = [ra0, 0.0]  # reference on the equator: a plain (not oblique) plate carree
    w.wcs.cdelt = [-scale, scale]
    w.wcs.crpix = [nx / 2 + 0.5, ny / 2 + 0.5 - dec0 / scale]
    w.array_shape = (ny, nx)
    return w, (nx, ny)


def _title(coverage: Coverage) -> str:
    from dsa110_ws.core.time import mjd_to_iso

    decs = ", ".join(f"{d:+.1f}°" for d in coverage.declinations["dec_deg"]) or "none"
    start = (mjd_to_iso(coverage.start_mjd) or "")[:16].replace("T", " ")
    end = (mjd_to_iso(coverage.end_mjd) or "")[:16].replace("T", " ")
    return (
        f"{start} to {end} UTC: {len(coverage.footprints)} footprints, "
        f"{coverage.area_deg2:.1f} deg², Dec {decs}"
    )


def _label_allsky(ax: Any, world: Any) -> None:
    """Hour and degree labels inside an all-sky map (its edges hold no ticks)."""
    for h in range(0, 24, 4):
        ax.text(h * 15.0, 0.0, f"{h}h", transform=world, fontsize=7, color="0.35",
                ha="center", va="bottom")  # fmt: skip
    for d in (-60, -30, 30, 60):
        ax.text(180.0, d, f"{d:+d}°", transform=world, fontsize=7, color="0.35",
                ha="left", va="center")  # fmt: skip


def plot_coverage(coverage: Coverage, ax: Any = None, *, kind: str = "allsky") -> Any:
    """Draw the coverage's MOC (filled) on WCS axes; returns the Axes (see
    :meth:`CoverageService.plot <dsa110_ws.services.products.coverage.CoverageService.plot>`)."""
    import matplotlib.pyplot as plt

    from dsa110_ws.errors import InvalidQueryError

    if kind not in KINDS:
        raise InvalidQueryError(f"kind={kind!r} is not one of {KINDS}.")
    if kind == "strip" and coverage.footprints.empty:
        raise InvalidQueryError(
            "Nothing was observed in this window, so there is no strip to show."
        )
    wcs, shape = (_allsky_wcs(), (720, 360)) if kind == "allsky" else _strip_wcs(coverage)
    if ax is None:
        fig = plt.figure(figsize=(10, 5.4) if kind == "allsky" else (10, 4.2))
        ax = fig.add_subplot(projection=wcs)
    world = ax.get_transform("world") if hasattr(ax, "get_transform") else ax.transData
    if not coverage.moc.empty():
        _fill_cells(ax, coverage.moc, world)
    ax.set_xlim(-0.5, shape[0] - 0.5)
    ax.set_ylim(-0.5, shape[1] - 0.5)
    for dec in coverage.declinations["dec_deg"]:
        ras = np.linspace(0.0, 360.0, 721) if kind == "allsky" else None
        if ras is not None:
            ax.plot(ras, np.full_like(ras, dec), transform=world, color="#cf222e", lw=0.8, ls="--")
    if kind == "strip":
        fp = coverage.footprints
        ax.scatter(
            fp["center_ra_deg"],
            fp["center_dec_deg"],
            transform=world,
            s=8,
            color="#cf222e",
            label="image centres" if coverage.footprint != "pointings" else "pointings",
            zorder=3,
        )
        ax.legend(loc="upper right", fontsize=8)
    if kind == "allsky":
        _label_allsky(ax, world)
    if hasattr(ax, "coords"):
        ax.coords.grid(True, color="0.6", alpha=0.5, ls=":")
        ax.coords[0].set_format_unit("deg" if kind == "strip" else "hourangle")
        ax.coords[0].set_axislabel("RA (ICRS)")
        ax.coords[1].set_axislabel("Dec (ICRS)")
    ax.set_title(_title(coverage), fontsize=10)
    return ax
