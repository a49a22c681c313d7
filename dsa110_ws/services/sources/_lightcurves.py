"""One source's light curve (keyed on observation time) and its plot.

The light curve is a derived table: ``flux_jy`` / ``flux_err_jy`` hold the flux density
the curve uses, named per row in ``flux_column`` and for the whole curve in
``df.attrs["flux_column"]``; the pipeline's own raw values stay alongside as
``raw_flux_jy`` / ``raw_flux_err_jy``, and its normalised ones under their own names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dsa110_ws.core.time import mjd_to_utc
from dsa110_ws.errors import InvalidQueryError, NotFoundError
from dsa110_ws.services.sources._fluxdata import NORM, RAW

if TYPE_CHECKING:
    from dsa110_ws.repositories.photometry import PhotometryRepository
    from dsa110_ws.repositories.sources import SourceRepository
    from dsa110_ws.services.sources._normalise import Normalisation

__all__ = ["lightcurve", "plot_lightcurve", "wants_reference", "LC_COLUMNS"]

#: Leading columns of a light curve, in order (the pipeline's others follow).
LC_COLUMNS = (
    "source_id",
    "mjd",
    "time_utc",
    "flux_jy",
    "flux_err_jy",
    "flux_column",
    "image_path",
    "raw_flux_jy",
    "raw_flux_err_jy",
    "normalized_flux_jy",
    "normalized_flux_err_jy",
    "snr",
    "quality_flag",
    "flags",
    "id",
)


def _choose(rows: pd.DataFrame, normalised: bool | str) -> str:
    """The flux column pair for this source (see :mod:`._fluxdata`, rule ``auto``)."""
    if normalised is False or normalised == "raw":
        return RAW[0]
    if normalised == "reference":
        return "reference"
    if normalised not in (True, "auto", "normalized"):
        raise InvalidQueryError(
            f"normalised={normalised!r}: use True (stored normalised flux where complete), "
            "False (raw), 'normalized' or 'reference'."
        )
    if NORM[0] not in rows.columns:
        if normalised == "normalized":
            raise InvalidQueryError("This database has no normalized_flux_jy column.")
        return RAW[0]
    nf = pd.to_numeric(rows[NORM[0]], errors="coerce")
    f = pd.to_numeric(rows[RAW[0]], errors="coerce")
    complete = nf.notna().any() and not (f.notna() & nf.isna()).any()
    return NORM[0] if (complete or normalised == "normalized") else RAW[0]


def wants_reference(normalised: bool | str) -> bool:
    """Whether ``normalised`` asks for the reference-source normalisation."""
    return normalised == "reference"


def lightcurve(
    photometry: PhotometryRepository,
    catalogue: SourceRepository,
    source_id: str,
    *,
    start_mjd: float | None = None,
    end_mjd: float | None = None,
    normalised: bool | str = True,
    normalisation: Normalisation | None = None,
) -> pd.DataFrame:
    """Every measurement of ``source_id`` in observation order (see module doc).

    ``normalisation`` is required for ``normalised="reference"``.  Raises
    :class:`NotFoundError` for an unknown source; a known source with no rows in the time
    range gives an empty light curve.
    """
    lo, hi = start_mjd, end_mjd
    rows = photometry.find_lightcurve(str(source_id), start_mjd=lo, end_mjd=hi)
    if rows.empty:
        try:
            catalogue.get(str(source_id))
        except NotFoundError:
            raise NotFoundError(
                f"No source {source_id!r} in the catalogue or the photometry; check the id "
                "(w.sources.catalog(), w.sources.cone(...))."
            ) from None
    column = _choose(rows, normalised)
    raw_f = pd.to_numeric(rows.get(RAW[0]), errors="coerce")
    raw_e = pd.to_numeric(rows.get(RAW[1]), errors="coerce")
    lc = rows.drop(columns=[c for c in ("mjd", *RAW) if c in rows.columns])
    lc = lc.assign(mjd=rows["obs_mjd"].astype(float), raw_flux_jy=raw_f, raw_flux_err_jy=raw_e)
    lc["time_utc"] = mjd_to_utc(lc["mjd"]).to_numpy()
    if column == "reference":
        if normalisation is None:
            raise InvalidQueryError(
                "normalised='reference' needs a normalisation (w.sources.normalisation())."
            )
        lc = normalisation.apply_to(lc.assign(flux_jy=raw_f, flux_err_jy=raw_e))
    elif column == NORM[0]:
        lc["flux_jy"] = pd.to_numeric(rows[NORM[0]], errors="coerce")
        lc["flux_err_jy"] = pd.to_numeric(rows[NORM[1]], errors="coerce")
    else:
        lc["flux_jy"], lc["flux_err_jy"] = raw_f, raw_e
    lc["flux_column"] = column
    lc = lc.drop(columns=["obs_mjd"])
    lead = [c for c in LC_COLUMNS if c in lc.columns]
    lc = lc[lead + [c for c in lc.columns if c not in lead]].reset_index(drop=True)
    lc.attrs.update(
        source_id=str(source_id), flux_column=column, n_points=len(lc), start_mjd=lo, end_mjd=hi
    )
    return lc


def plot_lightcurve(
    lc: pd.DataFrame,
    ax: Any = None,
    *,
    time_axis: str = "utc",
    mark: tuple[float, float] | None = None,
    by_night: bool = False,
    **errorbar_kw: Any,
) -> Any:
    """Error-bar plot of a light curve (mJy) against UTC date (or MJD); returns the Axes.

    ``mark`` shades an MJD interval (e.g. a dip found by the variability table);
    ``by_night`` draws each UTC night's measurements in its own colour and marker (one
    point per measurement), with the nights in the legend.
    """
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.5))
    ok = np.isfinite(lc["flux_jy"].to_numpy(float))
    limits = _upper_limits(lc)
    ok &= ~limits
    x = lc["time_utc"] if time_axis == "utc" else lc["mjd"]
    kw = {"fmt": "o", "ms": 4, "capsize": 2, "lw": 1} | errorbar_kw
    if limits.any() and ok.any():
        kw.setdefault("label", "detection")
    if by_night and ok.any():
        drawn = _errorbars_by_night(ax, lc, np.asarray(x), ok, kw)
    else:
        drawn = ax.errorbar(
            np.asarray(x[ok]), 1e3 * lc["flux_jy"][ok], yerr=1e3 * lc["flux_err_jy"][ok], **kw
        )
    if limits.any():
        _draw_upper_limits(ax, np.asarray(x[limits]), 1e3 * lc["upper_limit_jy"][limits], drawn)
    if mark is not None and np.all(np.isfinite(mark)):
        lo, hi = mjd_to_utc(list(mark)).to_numpy() if time_axis == "utc" else mark
        ax.axvspan(lo, hi, color="tab:orange", alpha=0.15, lw=0)
    if time_axis == "utc":
        loc = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(loc)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
        ax.set_xlabel("observation time (UTC)")
    else:
        ax.set_xlabel("MJD")
    ax.set_ylabel(f"flux density (mJy)\n[{lc.attrs.get('flux_column', '')}]")
    ax.set_title(_title(lc))
    ax.grid(alpha=0.3)
    return ax


_NIGHT_MARKERS = ("o", "s", "D", "^", "v", "P", "X", "<", ">", "h")


def _errorbars_by_night(ax: Any, lc: pd.DataFrame, x: np.ndarray, ok: np.ndarray, kw: dict) -> Any:
    """One error-bar series per UTC night (colour and marker cycle); returns the first."""
    nights = pd.to_datetime(lc["time_utc"]).dt.strftime("%Y-%m-%d").to_numpy()
    first = None
    for k, night in enumerate(pd.unique(nights[ok])):
        sel = ok & (nights == night)
        style = kw | {
            "fmt": _NIGHT_MARKERS[k % len(_NIGHT_MARKERS)],
            "color": f"C{k % 10}",
            "label": night,
        }
        drawn = ax.errorbar(
            x[sel], 1e3 * lc["flux_jy"][sel], yerr=1e3 * lc["flux_err_jy"][sel], **style
        )
        first = first if first is not None else drawn
    n = len(pd.unique(nights[ok]))  # beside the axes, never over the points
    ax.legend(
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=7,
        ncols=1 + (n > 10),
        title="UTC night",
        title_fontsize=7,
        borderaxespad=0.0,
    )
    return first


def _title(lc: pd.DataFrame) -> str:
    sid, ra, dec = (lc.attrs.get(k) for k in ("source_id", "ra_deg", "dec_deg"))
    if sid:
        return str(sid)
    if isinstance(ra, float) and isinstance(dec, float):
        return f"forced photometry at RA {ra:.4f}, Dec {dec:+.4f} (deg)"
    return ""


def _upper_limits(lc: pd.DataFrame) -> np.ndarray:
    """Rows to draw as upper limits: forced photometry below its detection threshold."""
    if "upper_limit_jy" not in lc.columns or "detected" not in lc.columns:
        return np.zeros(len(lc), dtype=bool)
    ul = pd.to_numeric(lc["upper_limit_jy"], errors="coerce").to_numpy(float)
    return np.isfinite(ul) & ~lc["detected"].fillna(False).to_numpy(bool)


def _draw_upper_limits(ax: Any, x: np.ndarray, ul_mjy: Any, detections: Any) -> None:
    """Downward arrows from each upper limit (mJy), in the colour of the detections."""
    colour = detections.lines[0].get_color() if detections.lines[0] is not None else "C0"
    y = np.asarray(ul_mjy, dtype=float)
    lo, hi = ax.get_ylim() if ax.has_data() else (0.0, float(np.nanmax(y)))
    span = max(hi, float(np.nanmax(y))) - min(lo, 0.0)
    length = 0.12 * span if span > 0 else 1.0
    ax.errorbar(
        x,
        y,
        yerr=np.vstack([np.full(y.shape, length), np.zeros(y.shape)]),
        fmt="_",
        ms=8,
        lw=1,
        color=colour,
        uplims=True,
        label="upper limit",
    )
    ax.legend(loc="best", fontsize=7, handlelength=1.2)
