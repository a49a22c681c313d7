"""Reading the photometry columns the survey-wide analyses need, once, as flat arrays.

Which flux a source's series uses (``flux=``):

* ``"auto"`` (default): the pipeline's normalised columns (``normalized_flux_jy`` /
  ``normalized_flux_err_jy``) for a source whose every measured row has them filled, else
  the raw columns (``flux_jy`` / ``flux_err_jy``) for all of that source's rows, so one
  light curve never mixes two flux scales.  Sources that had only some rows normalised
  are counted (``n_sources_partly_normalised``);
* ``"normalized"`` / ``"raw"``: that pair of columns only;
* ``"reference"``: raw flux divided by the per-image correction from bright stable
  reference sources (:mod:`dsa110_ws.services.sources._normalise`), errors propagated.

The rows come from SQLite here; the same functions run over the partitions of the
photometry dataset (:mod:`dsa110_ws.services.sources._partitions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from dsa110_ws.core.time import TimeLike, to_mjd
from dsa110_ws.errors import InvalidQueryError
from dsa110_ws.services.sources._variability import FluxArrays

if TYPE_CHECKING:
    from dsa110_ws.repositories.photometry import PhotometryRepository
    from dsa110_ws.services.sources._normalise import Normalisation

__all__ = [
    "FLUX_MODES",
    "frame_arrays",
    "load_flux_arrays",
    "mjd_bounds",
    "needed_columns",
    "read_rows",
]

FLUX_MODES = ("auto", "normalized", "raw", "reference")
NORM = ("normalized_flux_jy", "normalized_flux_err_jy")
RAW = ("flux_jy", "flux_err_jy")


def mjd_bounds(
    start: TimeLike | None, end: TimeLike | None, now: TimeLike | None = None
) -> tuple[float | None, float | None]:
    """ISO date / MJD / ``Time`` bounds to MJD floats (checked for order)."""
    lo = None if start is None else to_mjd(start, now=now, what="start")
    hi = None if end is None else to_mjd(end, now=now, what="end")
    if lo is not None and hi is not None and hi < lo:
        raise InvalidQueryError("The end of the time range is before its start; swap them.")
    return lo, hi


def _check_mode(flux: str, have: set[str]) -> str:
    if flux not in FLUX_MODES:
        raise InvalidQueryError(f"flux={flux!r} is not one of {FLUX_MODES}.")
    if flux == "normalized" and not set(NORM) <= have:
        raise InvalidQueryError(
            "flux='normalized' needs photometry.normalized_flux_jy, which "
            "this database lacks; use flux='raw' or 'reference'."
        )
    if flux == "auto" and not set(NORM) <= have:
        return "raw"
    return flux


def needed_columns(flux: str, have: set[str], *, image: bool = False) -> tuple[str, list[str]]:
    """The resolved flux mode and the photometry columns it reads (``obs_mjd`` included)."""
    flux = _check_mode(flux, have)
    cols = ["source_id", "obs_mjd"]
    cols += list(NORM) if flux in ("auto", "normalized") else []
    cols += list(RAW) if flux in ("auto", "raw", "reference") else []
    cols += ["image_path"] if (image or flux == "reference") else []
    return flux, cols


def read_rows(
    repo: PhotometryRepository,
    *,
    start_mjd: float | None = None,
    end_mjd: float | None = None,
    source_ids: Sequence[str] | None = None,
    flux: str = "auto",
    image: bool = False,
) -> tuple[str, Any]:
    """The photometry columns ``flux`` needs, in one scan of SQLite, and the resolved
    flux mode."""
    flux, cols = needed_columns(flux, set(repo.columns()), image=image)
    lo, hi = start_mjd, end_mjd
    data = repo.scan_columns(cols, start_mjd=lo, end_mjd=hi, source_id=source_ids)
    df = pd.DataFrame(data, columns=cols, copy=False)  # the arrays are fresh: no second copy
    df.attrs.update(table="photometry", n_rows=len(df), start_mjd=lo, end_mjd=hi)
    return flux, df


def load_flux_arrays(
    repo: PhotometryRepository,
    *,
    start_mjd: float | None = None,
    end_mjd: float | None = None,
    source_ids: Sequence[str] | None = None,
    flux: str = "auto",
    normalisation: Normalisation | None = None,
) -> FluxArrays:
    """Read once from SQLite and choose each source's flux series (see module doc)."""
    flux, df = read_rows(
        repo, start_mjd=start_mjd, end_mjd=end_mjd, source_ids=source_ids, flux=flux
    )
    return frame_arrays(df, flux, normalisation)


def frame_arrays(df: pd.DataFrame, flux: str, normalisation: Normalisation | None) -> FluxArrays:
    """Rows (``source_id`` categorical with sorted categories, ``obs_mjd``, the flux
    columns ``flux`` needs) to the flux series of each source, for a resolved ``flux``."""
    cat = df["source_id"].cat
    code = cat.codes.to_numpy().astype(np.int64)
    ids = cat.categories.to_numpy().astype(object)
    n_src = len(ids)
    mjd = df["obs_mjd"].to_numpy(float)
    counts = {
        "n_rows_read": len(df),
        "n_rows_no_source": int(np.sum(code < 0)),
        "n_rows_no_time": int(np.sum(~np.isfinite(mjd))),
        "flux": flux,
        "start_mjd": df.attrs.get("start_mjd"),
        "end_mjd": df.attrs.get("end_mjd"),
    }
    if flux == "auto":
        f, s, column = _auto(df, code, n_src, counts)
    elif flux == "reference":
        f, s, column = _reference(df, code, normalisation, counts)
        column = np.full(n_src, "reference", dtype=object)
    else:
        pair = NORM if flux == "normalized" else RAW
        f, s = df[pair[0]].to_numpy(float), df[pair[1]].to_numpy(float)
        column = np.full(n_src, pair[0], dtype=object)
    with np.errstate(invalid="ignore"):
        counts["n_rows_nan_flux"] = int(np.sum(~np.isfinite(f) & (code >= 0)))
        counts["n_rows_bad_error"] = int(np.sum(np.isfinite(f) & ~(np.isfinite(s) & (s > 0))))
    return FluxArrays(ids, code, mjd, f, s, column, counts)


def _auto(df, code: np.ndarray, n_src: int, counts: dict) -> tuple[np.ndarray, ...]:
    nf, ne = df[NORM[0]].to_numpy(float), df[NORM[1]].to_numpy(float)
    f, e = df[RAW[0]].to_numpy(float), df[RAW[1]].to_numpy(float)
    ok = code >= 0
    has_norm = np.isfinite(nf)
    missing = np.bincount(code[ok & ~has_norm & np.isfinite(f)], minlength=n_src)
    n_norm = np.bincount(code[ok & has_norm], minlength=n_src)
    use_norm = (n_norm > 0) & (missing == 0)
    counts.update(
        n_sources_normalised=int(use_norm.sum()),
        n_sources_raw=int(n_src - use_norm.sum()),
        n_sources_partly_normalised=int(np.sum((n_norm > 0) & (missing > 0))),
    )
    sel = np.zeros(len(code), dtype=bool)
    sel[ok] = use_norm[code[ok]]
    column = np.where(use_norm, NORM[0], RAW[0]).astype(object)
    return np.where(sel, nf, f), np.where(sel, ne, e), column


def _reference(df, code: np.ndarray, normalisation: Normalisation | None, counts: dict):
    from dsa110_ws.services.sources import _normalise

    img = df["image_path"].cat
    if normalisation is None:
        normalisation = _normalise.solve_frame(df)
    corr = normalisation.per_image(img.categories.to_numpy().astype(object))
    f, e = df[RAW[0]].to_numpy(float), df[RAW[1]].to_numpy(float)
    icode = img.codes.to_numpy()
    c = np.where(icode >= 0, corr["correction"][np.maximum(icode, 0)], np.nan)
    sc = np.where(icode >= 0, corr["correction_err"][np.maximum(icode, 0)], np.nan)
    fn, en = _normalise.apply(f, e, c, sc)
    counts["n_rows_uncorrected"] = int(np.sum(np.isfinite(f) & ~np.isfinite(c)))
    return fn, en, None
