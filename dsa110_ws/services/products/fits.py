"""FITS images: header summary, the 2-D plane, robust statistics, thumbnails, cutouts and plots.

``w.fits`` replaces the old backend's image endpoints.  Every path is confined to the data
roots first (the :class:`~dsa110_ws.core.paths.PathPolicy`); derived products (statistics,
thumbnails) are cached in the workspace's own state directory through the
:class:`~dsa110_ws.services.products.cache.ProductCache`, keyed by the file's identity
and every parameter that changes the result.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from dsa110_ws.errors import DataUnavailableError, InvalidQueryError
from dsa110_ws.services.products._fitsguard import MIB
from dsa110_ws.services.products._fitsio import (
    ImageHeader,
    celestial_wcs,
    full_wcs,
    open_image,
    plane_of,
    read_header,
    unit_scale_to_jy,
)
from dsa110_ws.services.products._measure import ImageStats, measure_plane
from dsa110_ws.services.products._thumbs import RenderParams, render_png
from dsa110_ws.services.products._view import ImageView, open_view

if TYPE_CHECKING:
    from dsa110_ws.core.paths import PathPolicy
    from dsa110_ws.core.settings import ProductsSettings
    from dsa110_ws.services.products.cache import ProductCache

__all__ = ["FitsImageService", "ImageHeader", "ImageStats", "Cutout"]

PathLike = str | os.PathLike[str]


@dataclasses.dataclass(frozen=True)
class Cutout:
    """A cutout: the pixels (``data``, rows = latitude, row 0 at the bottom when shown with
    ``origin='lower'``), its celestial ``wcs``, the requested ``position`` and the source image's
    ``header`` summary (beam, frequency...)."""

    data: np.ndarray
    wcs: Any
    position: Any
    header: ImageHeader

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.data.shape[0]), int(self.data.shape[1]))


class FitsImageService:
    """FITS image inspection (``w.fits``).

    ``settings`` (``[products]``) bound what one call may cost: a compressed file is refused
    when it would decompress to more than ``max_decompressed_mb``, a cutout of more than
    ``max_cutout_pixels`` pixels before anything is allocated.
    """

    def __init__(
        self, paths: PathPolicy, cache: ProductCache, settings: ProductsSettings | None = None
    ):
        from dsa110_ws.core.settings import ProductsSettings

        self._paths = paths
        self._cache = cache
        self._settings = settings or ProductsSettings()
        self._max_bytes = int(self._settings.max_decompressed_mb * MIB)

    def __repr__(self) -> str:
        return (
            "<FitsImageService: header, plane, stats, thumbnail, cutout, cutout_fits, "
            "cutout_png, plot_image, view>"
        )

    # -- basic access -----------------------------------------------------------------
    def _path(self, path: PathLike) -> Path:
        return self._paths.product(path, what="FITS image", expect="file")

    def _open(self, p: Path) -> Any:
        return open_image(p, max_bytes=self._max_bytes)

    def header(self, path: PathLike) -> ImageHeader:
        """Header summary of the image at ``path`` (see :class:`ImageHeader`)."""
        p = self._path(path)
        with self._open(p) as (hdr, data, index, beams):
            return read_header(p, hdr, data, index, wcs=full_wcs(hdr), beams=beams)

    def plane(self, path: PathLike) -> tuple[np.ndarray, Any]:
        """The first 2-D plane as a native-endian array and its celestial WCS (``None`` when
        the header has no celestial WCS).  Row 0 is FITS row 0 (show with ``origin='lower'``)."""
        p = self._path(path)
        with self._open(p) as (hdr, data, _index, _beams):
            wcs = full_wcs(hdr)
            plane = plane_of(data, wcs)
            out = np.array(plane, dtype=plane.dtype.newbyteorder("="), copy=True)
        return out, celestial_wcs(wcs)

    def stats(
        self, path: PathLike, *, island_sigma: float = 5.0, use_cache: bool = True
    ) -> ImageStats:
        """Robust statistics of the first plane (see :class:`ImageStats`), cached.

        Parameters
        ----------
        island_sigma
            Islands are counted above ``median + island_sigma x rms``.
        use_cache
            ``False`` recomputes (and refreshes the cache entry).
        """
        if not island_sigma > 0:
            raise InvalidQueryError(f"island_sigma must be positive (got {island_sigma!r}).")
        p = self._path(path)
        return self._cache.get_or_compute(
            "fits.stats",
            p,
            {"island_sigma": float(island_sigma)},
            lambda: self._measure(p, island_sigma),
            encode=ImageStats.to_dict,
            decode=ImageStats.from_dict,
            use_cache=use_cache,
        )

    def _measure(self, p: Path, island_sigma: float) -> ImageStats:
        with self._open(p) as (hdr, data, _index, _beams):
            wcs = full_wcs(hdr)
            bunit = hdr.get("BUNIT")
            return measure_plane(
                plane_of(data, wcs),
                path=str(p),
                bunit=bunit,
                jy_per_unit=unit_scale_to_jy(bunit),
                wcs=celestial_wcs(wcs),
                island_sigma=float(island_sigma),
            )

    # -- pictures ---------------------------------------------------------------------
    def thumbnail(
        self,
        path: PathLike,
        *,
        size: int = 256,
        scale: str = "rms",
        stretch: str = "asinh",
        vlim_sigma: float = 50.0,
        softening_sigma: float = 1.0,
        percentiles: tuple[float, float] = (0.5, 99.5),
        cmap: str = "gray",
        use_cache: bool = True,
    ) -> bytes:
        """PNG thumbnail of the first plane, FITS row 0 at the bottom, cached.

        Parameters
        ----------
        size
            Longest side of the PNG in pixels (the other keeps the aspect ratio).
        scale
            ``"rms"`` (default): limits ``median +- vlim_sigma x`` the robust rms of the displayed
            pixels, symmetric; ``"zscale"``; ``"percentile"`` (``percentiles`` of the pixels).
        stretch
            ``"asinh"`` (linear within ``softening_sigma`` rms, logarithmic beyond) or ``"linear"``.
        cmap
            ``"gray"`` or any matplotlib colour map name. Blanked pixels are drawn in slate blue.
        use_cache
            ``False`` re-renders (and refreshes the cache entry).
        """
        params = RenderParams(
            size=size,
            scale=scale,
            stretch=stretch,
            vlim_sigma=float(vlim_sigma),
            softening_sigma=float(softening_sigma),
            percentiles=(float(percentiles[0]), float(percentiles[1])),
            cmap=cmap,
        )
        p = self._path(path)
        return self._cache.get_or_compute(
            "thumbnail", p, params.key(), lambda: self._render(p, params), use_cache=use_cache
        )

    def _render(self, p: Path, params: RenderParams) -> bytes:
        with self._open(p) as (hdr, data, _index, _beams):
            return render_png(plane_of(data, full_wcs(hdr)), params)

    def cutout(self, path: PathLike, position: Any, size: Any) -> Cutout:
        """Cut ``size`` around the sky ``position`` out of the first plane.

        Parameters
        ----------
        position
            ``SkyCoord`` (or ``(ra_deg, dec_deg)``), any frame astropy can convert.
        size
            Angular ``Quantity`` (a square) or a pair of them ``(ny, nx)``; parts of the box
            outside the image are filled with NaN, so the shape is always the one asked for.
        """
        from astropy.nddata import Cutout2D
        from astropy.nddata.utils import NoOverlapError

        position = _skycoord(position)
        data, wcs = self.plane(path)
        if wcs is None:
            raise DataUnavailableError(
                f"Cannot cut out of {path}: its header has no celestial WCS."
            )
        size, (ny, nx) = _cutout_shape(size, wcs)
        cap = self._settings.max_cutout_pixels
        if ny * nx > cap:
            raise InvalidQueryError(
                f"A cutout of {ny:.4g} x {nx:.4g} pixels is more than [products] "
                f"max_cutout_pixels = {cap:,}: refused before allocating it. Ask for a smaller "
                "size, or raise the limit."
            )
        outside = InvalidQueryError(
            f"Position {position.to_string('hmsdms')} lies outside image {path}; pick a "
            "position inside it (w.fits.header(path).center is its centre)."
        )
        with np.errstate(invalid="ignore"):
            px = np.asarray(wcs.world_to_pixel(position), dtype=float)
        if not np.all(np.isfinite(px)):
            raise outside
        try:
            cut = Cutout2D(
                data.astype(float, copy=False),
                position,
                size,
                wcs=wcs,
                mode="partial",
                fill_value=np.nan,
            )
        except NoOverlapError:
            raise outside from None
        except ValueError as exc:
            raise InvalidQueryError(f"Cannot cut out of {path}: {exc}") from None
        return Cutout(cut.data, cut.wcs, position, self.header(path))

    def cutout_fits(
        self,
        path: PathLike,
        position: Any,
        size: Any,
        *,
        out: PathLike | None = None,
        force: bool = False,
    ) -> bytes | Path:
        """The cutout as a FITS file (2-D, with the source's beam, frequency and date keywords):
        its bytes, or written to ``out`` (never among the pipeline's files; an existing file
        only with ``force`` and only if the workspace wrote it) and its path."""
        from astropy.io import fits

        cut = self.cutout(path, position, size)
        hdu = fits.PrimaryHDU(data=cut.data.astype(np.float32), header=cut.wcs.to_header())
        h = cut.header
        for key, value in {
            "BUNIT": h.bunit,
            "OBJECT": h.object,
            "TELESCOP": h.telescope,
            "DATE-OBS": h.date_obs,
            "RESTFRQ": h.freq_hz,
            "BMAJ": None if h.bmaj_arcsec is None else h.bmaj_arcsec / 3600.0,
            "BMIN": None if h.bmin_arcsec is None else h.bmin_arcsec / 3600.0,
            "BPA": h.bpa_deg,
        }.items():
            if value is not None:
                hdu.header[key] = value
        hdu.header["HISTORY"] = f"dsa110_ws cutout of {h.path}"
        buf = io.BytesIO()
        hdu.writeto(buf)
        if out is None:
            return buf.getvalue()
        return self._paths.write(out, buf.getvalue(), what="cutout", force=force)

    def cutout_png(
        self,
        path: PathLike,
        position: Any,
        size: Any,
        *,
        png_size: int = 256,
        scale: str = "rms",
        stretch: str = "asinh",
        vlim_sigma: float = 50.0,
        cmap: str = "gray",
    ) -> bytes:
        """The cutout rendered like :meth:`thumbnail` (row 0 at the bottom), as PNG bytes."""
        params = RenderParams(
            size=png_size, scale=scale, stretch=stretch, vlim_sigma=float(vlim_sigma), cmap=cmap
        )
        return render_png(self.cutout(path, position, size).data, params)

    def plot_image(
        self,
        path: PathLike,
        ax: Any = None,
        *,
        vlim_sigma: float = 50.0,
        softening_sigma: float = 1.0,
        cmap: str = "gray",
        beam: bool = True,
        colorbar: bool = True,
        title: str | None = None,
    ) -> Any:
        """Plot the first plane with WCS axes, the restoring beam and a colour bar.

        Limits are ``median +- vlim_sigma x rms`` (robust rms) with an asinh stretch linear
        within ``softening_sigma`` rms.  ``ax`` may be a WCSAxes (or any Axes, then in pixels);
        by default a new figure is made.  Returns the Axes.
        """
        from dsa110_ws.services.products._plots import plot_plane

        data, wcs = self.plane(path)
        st = self.stats(path)
        return plot_plane(
            data,
            wcs,
            self.header(path),
            st,
            ax=ax,
            vlim_sigma=vlim_sigma,
            softening_sigma=softening_sigma,
            cmap=cmap,
            beam=beam,
            colorbar=colorbar,
            title=title,
        )

    @contextlib.contextmanager
    def view(self, path: PathLike, position: Any) -> Iterator[ImageView]:
        """Look at a sky ``position`` (``SkyCoord`` or ICRS ``(ra_deg, dec_deg)``) in an image
        without loading its plane: ``with w.fits.view(path, pos) as v: v.box(10)`` (see
        :class:`~dsa110_ws.services.products.ImageView`; valid inside the block only)."""
        from dsa110_ws.core.units import to_value

        if hasattr(position, "icrs"):
            ra, dec = float(position.icrs.ra.deg), float(position.icrs.dec.deg)
        else:
            try:
                ra, dec = (to_value(v, "deg", what="position", positive=False) for v in position)
            except (TypeError, ValueError):
                raise InvalidQueryError(
                    f"Position {position!r} is not a SkyCoord or an (ra_deg, dec_deg) pair."
                ) from None
        with open_view(self._path(path), ra, dec, max_bytes=self._max_bytes) as v:
            yield v

    def output_path(self, out: PathLike, *, force: bool = False) -> Path:
        """``out`` resolved, refused (:class:`NotPermittedError`) inside the data roots, the
        log roots or the pipeline database's directory (the workspace never writes among the
        pipeline's files), or when it exists, unless ``force`` and the workspace wrote it;
        parent directories are created."""
        return self._paths.output(out, force=force)

    def write_output(
        self, out: PathLike, data: bytes, *, what: str = "output file", force: bool = False
    ) -> Path:
        """Write ``data`` (a PNG, a FITS cutout) to ``out`` under the rules of
        :meth:`output_path`, atomically; returns the path."""
        return self._paths.write(out, data, what=what, force=force)


def _skycoord(position: Any) -> Any:
    from astropy.coordinates import SkyCoord

    if isinstance(position, SkyCoord):
        return position
    try:
        ra, dec = position
        return SkyCoord(float(ra), float(dec), unit="deg", frame="icrs")
    except (TypeError, ValueError):
        raise InvalidQueryError(
            f"Position {position!r} is not a SkyCoord or an (ra_deg, dec_deg) pair."
        ) from None


def _cutout_shape(size: Any, wcs: Any) -> tuple[Any, tuple[int, int]]:
    """``size`` as the ``Quantity`` pair Cutout2D takes, and the ``(ny, nx)`` pixels it will
    hold (an angle over the pixel scale, rounded up; pixels rounded)."""
    from astropy import units as u
    from astropy.wcs.utils import proj_plane_pixel_scales

    values = list(size) if isinstance(size, (tuple, list)) else [size, size]
    if len(values) != 2:
        raise InvalidQueryError(f"Cutout size {_short(size)} must be one size or a pair (ny, nx).")
    out, pixels = [], []
    scales = np.abs(proj_plane_pixel_scales(wcs))[::-1] * u.deg  # (y, x) as size is
    for v, scale in zip(values, scales, strict=True):
        try:
            q = v if isinstance(v, u.Quantity) else u.Quantity(v, u.pix)
            value = float(q.value) if np.isscalar(q.value) else math.nan  # type: ignore[arg-type]
            finite = math.isfinite(value) and value > 0
        except (TypeError, ValueError, OverflowError, u.UnitsError):
            finite = False
        if not finite:
            raise InvalidQueryError(
                f"Cutout size {_short(size)} must be positive (an angle or pixels)."
            ) from None
        try:
            n = q.to_value(u.pix) if q.unit == u.pix else (q / scale).to_value(u.one)
        except u.UnitsError:
            raise InvalidQueryError(
                f"Cutout size {_short(size)} must be an angle or a number of pixels."
            ) from None
        out.append(q)
        pixels.append(max(1.0, math.ceil(n - 1e-9)))
    return tuple(out), (pixels[0], pixels[1])


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."
