"""Postage stamps of one source across epochs, on one brightness scale set by the source.

The scale runs from the stamps' noise floor (their pooled 1st percentile, below zero) to
just above the source's brightest measured peak, so the source's own range, its dip
included, spans the colour map: a dip is darker, never lost in a saturated colour.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from dsa110_ws.errors import DataUnavailableError, InvalidQueryError, one_line

if TYPE_CHECKING:
    import pandas as pd
    from astropy.coordinates import SkyCoord

__all__ = ["StampStrip", "make_stamps", "plot_stamps"]


@dataclasses.dataclass
class StampStrip:
    """Cutouts of one source (``data[i]`` from ``image_path[i]`` at ``mjd[i]``, where the
    source measured ``flux[i]`` Jy/beam) and the one display range ``(vmin, vmax)``
    (Jy/beam) shared by all of them; ``n_epochs`` epochs exist, ``skipped`` lists (image
    path, reason) for epochs whose image could not be cut."""

    source_id: str
    position: Any  # SkyCoord
    size: Any  # Quantity
    data: list[np.ndarray]
    mjd: np.ndarray
    image_path: list[str]
    vmin: float
    vmax: float
    skipped: list[tuple[str, str]]
    flux: np.ndarray = dataclasses.field(default_factory=lambda: np.array([]))
    n_epochs: int = 0

    def __len__(self) -> int:
        return len(self.data)


def _pick(n: int, max_epochs: int | None, flux: np.ndarray | None = None) -> np.ndarray:
    """Every epoch (``max_epochs`` None), or about ``max_epochs`` spread evenly over ``n``
    (first and last kept) plus every dip epoch: those more than 3 robust sigmas below the
    median flux, and the faintest one."""
    if max_epochs is None or n <= max_epochs:
        return np.arange(n)
    if max_epochs <= 0:
        raise InvalidQueryError(f"max_epochs must be positive, not {max_epochs}.")
    spread = np.round(np.linspace(0, n - 1, max_epochs)).astype(int)
    if flux is None or not np.isfinite(flux).any():
        return np.unique(spread)
    med = np.nanmedian(flux)
    sigma = 1.4826 * np.nanmedian(np.abs(flux - med))
    dips = np.flatnonzero(flux < med - 3 * sigma) if sigma > 0 else np.array([], int)
    return np.unique(np.concatenate([spread, dips, [int(np.nanargmin(flux))]]))


def _source_flux(epochs: pd.DataFrame) -> np.ndarray:
    """The source's peak (Jy/beam) per epoch: ``peak_jyb``, else ``flux_jy`` (NaN if none)."""
    import pandas as pd

    for col in ("peak_jyb", "peak_flux_jy", "flux_jy"):
        if col in epochs.columns:
            vals = pd.to_numeric(epochs[col], errors="coerce").to_numpy(float)
            if np.isfinite(vals).any():
                return vals
    return np.full(len(epochs), np.nan)


def make_stamps(
    source_id: str,
    lightcurve: pd.DataFrame,
    position: SkyCoord,
    cutout: Callable[[str, SkyCoord, Any], Any],
    *,
    size: Any = None,
    max_epochs: int | None = None,
    floor_percentile: float = 1.0,
) -> StampStrip:
    """Cut ``size`` (default 10 arcmin) around ``position`` out of every epoch's image
    (``max_epochs``: about that many, the dip epochs always among them).

    ``lightcurve`` gives the epochs (``image_path``, ``mjd``, the source's flux);
    ``cutout(path, position, size)`` returns a cutout with ``.data`` (``w.fits.cutout``).
    The display range runs from the stamps' ``floor_percentile`` (the noise floor) to 5%
    above the source's brightest peak (see the module docstring).
    """
    from astropy import units as u

    size = 10 * u.arcmin if size is None else size
    epochs = lightcurve.drop_duplicates("image_path").reset_index(drop=True)
    epochs = epochs[epochs["image_path"].notna()].reset_index(drop=True)
    fluxes = _source_flux(epochs)
    data, mjd, paths, skipped, flux = [], [], [], [], []
    for i in _pick(len(epochs), max_epochs, fluxes):
        path = str(epochs.loc[i, "image_path"])
        try:
            cut = cutout(path, position, size)
        except (DataUnavailableError, InvalidQueryError, PermissionError) as exc:
            skipped.append((path, one_line(exc)))
            continue
        data.append(np.asarray(cut.data, dtype=float))
        mjd.append(float(epochs.loc[i, "mjd"]))
        paths.append(path)
        flux.append(float(fluxes[i]))
    vmin, vmax = _display_range(data, np.asarray(flux, dtype=float), floor_percentile)
    return StampStrip(
        str(source_id),
        position,
        size,
        data,
        np.asarray(mjd),
        paths,
        float(vmin),
        float(vmax),
        skipped,
        np.asarray(flux, dtype=float),
        len(epochs),
    )


def _display_range(
    data: list[np.ndarray], flux: np.ndarray, floor_percentile: float
) -> tuple[float, float]:
    """(noise floor, 1.05 x the source's brightest peak), both in Jy/beam; with no measured
    flux the stamps' 99.5th percentile stands in for the peak."""
    pooled = np.concatenate([d[np.isfinite(d)] for d in data]) if data else np.array([])
    if not pooled.size:
        return np.nan, np.nan
    lo = float(np.percentile(pooled, floor_percentile))
    ok = flux[np.isfinite(flux)]
    top = float(ok.max()) if ok.size else float(np.percentile(pooled, 99.5))
    lo = min(lo, float(ok.min()) if ok.size else lo, 0.0)
    return lo, max(1.05 * top, lo + 1e-6)


def plot_stamps(
    strip: StampStrip, axes: Any = None, *, cmap: str = "inferno", ncols: int | None = None
) -> Any:
    """One panel per epoch, all with ``strip``'s shared ``vmin``/``vmax`` (row 0 at the
    bottom, north up), titled with the UTC time and the source's flux (mJy/beam); returns
    the array of Axes."""
    import matplotlib.pyplot as plt

    from dsa110_ws.core.time import mjd_to_utc

    n = max(len(strip), 1)
    if axes is None:
        ncols = ncols or min(n, 6)
        nrows = int(np.ceil(n / ncols))
        _, axes = plt.subplots(nrows, ncols, figsize=(2.0 * ncols, 2.2 * nrows), squeeze=False)
    axes = np.atleast_1d(np.asarray(axes, dtype=object)).ravel()
    times = mjd_to_utc(strip.mjd) if len(strip) else []
    image = None
    for k, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= len(strip):
            ax.set_axis_off()
            continue
        image = ax.imshow(
            strip.data[k],
            origin="lower",
            cmap=cmap,
            vmin=strip.vmin,
            vmax=strip.vmax,
            interpolation="nearest",
        )
        f = strip.flux[k] if k < len(strip.flux) else np.nan
        ftext = f"\n{1e3 * f:.0f} mJy/beam" if np.isfinite(f) else ""
        ax.set_title(times[k].strftime("%Y-%m-%d %H:%M") + ftext, fontsize=7)
    if image is not None:
        fig = axes[0].figure
        fig.colorbar(
            image, ax=list(axes), shrink=0.8, label="Jy/beam (one scale: the source's range)"
        )
        total = strip.n_epochs or len(strip)
        shown = f"all {total}" if len(strip) == total else f"{len(strip)} of {total}"
        fig.suptitle(f"{strip.source_id}: {shown} epochs", fontsize=9)
    return axes
