"""Postage stamps of one source across epochs, with one shared brightness scale."""

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
    """Cutouts of one source (``data[i]`` from ``image_path[i]`` at ``mjd[i]``) and the one
    display range ``(vmin, vmax)`` (Jy/beam) shared by all of them; ``skipped`` lists
    (image path, reason) for epochs whose image could not be cut."""

    source_id: str
    position: Any  # SkyCoord
    size: Any  # Quantity
    data: list[np.ndarray]
    mjd: np.ndarray
    image_path: list[str]
    vmin: float
    vmax: float
    skipped: list[tuple[str, str]]

    def __len__(self) -> int:
        return len(self.data)


def _pick(n: int, max_epochs: int) -> np.ndarray:
    """Indices of at most ``max_epochs`` epochs spread evenly over ``n`` (first and last kept)."""
    if max_epochs <= 0:
        raise InvalidQueryError(f"max_epochs must be positive, not {max_epochs}.")
    if n <= max_epochs:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, max_epochs)).astype(int))


def make_stamps(
    source_id: str,
    lightcurve: pd.DataFrame,
    position: SkyCoord,
    cutout: Callable[[str, SkyCoord, Any], Any],
    *,
    size: Any = None,
    max_epochs: int = 12,
    percentiles: tuple[float, float] = (1.0, 99.5),
) -> StampStrip:
    """Cut ``size`` (default 10 arcmin) around ``position`` out of each epoch's image.

    ``lightcurve`` gives the epochs (``image_path``, ``mjd``); ``cutout(path, position,
    size)`` returns a cutout with ``.data`` (``w.fits.cutout``).
    """
    from astropy import units as u

    size = 10 * u.arcmin if size is None else size
    epochs = lightcurve.drop_duplicates("image_path").reset_index(drop=True)
    epochs = epochs[epochs["image_path"].notna()].reset_index(drop=True)
    data, mjd, paths, skipped = [], [], [], []
    for i in _pick(len(epochs), int(max_epochs)):
        path = str(epochs.loc[i, "image_path"])
        try:
            cut = cutout(path, position, size)
        except (DataUnavailableError, InvalidQueryError, PermissionError) as exc:
            skipped.append((path, one_line(exc)))
            continue
        data.append(np.asarray(cut.data, dtype=float))
        mjd.append(float(epochs.loc[i, "mjd"]))
        paths.append(path)
    pooled = np.concatenate([d[np.isfinite(d)] for d in data]) if data else np.array([])
    vmin, vmax = np.percentile(pooled, percentiles) if pooled.size else (np.nan, np.nan)
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
    )


def plot_stamps(
    strip: StampStrip, axes: Any = None, *, cmap: str = "inferno", ncols: int | None = None
) -> Any:
    """One panel per epoch, all with ``strip``'s shared ``vmin``/``vmax`` (row 0 at the
    bottom, north up); returns the array of Axes."""
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
        ax.set_title(times[k].strftime("%Y-%m-%d %H:%M"), fontsize=7)
    if image is not None:
        fig = axes[0].figure
        fig.colorbar(image, ax=list(axes), shrink=0.8, label="Jy/beam (shared scale)")
        fig.suptitle(f"{strip.source_id}: {len(strip)} epochs", fontsize=9)
    return axes
