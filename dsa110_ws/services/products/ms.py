"""Measurement Sets: summary, flag statistics, quick-looks, waterfalls and the antenna layout
(``w.ms``).

Everything is read with casacore, read-only, tables closed after use.  The summary comes from
the subtables and light main-table columns; flag statistics stream FLAG in row chunks, so
memory stays bounded whatever the MS size.  Summaries and flag statistics are cached by the
MS's identity (its files' total size and newest modification time).
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dsa110_ws.core.time import TimeLike
from dsa110_ws.errors import DataUnavailableError, one_line
from dsa110_ws.services.products._msflags import FlagStats, compute_flag_stats
from dsa110_ws.services.products._mssummary import MSSummary, read_summary
from dsa110_ws.services.products._msviews import QuickLook, antenna_layout, quicklook
from dsa110_ws.services.products._needsdb import needs_database
from dsa110_ws.services.products._waterfall import Waterfall, compute_waterfall

if TYPE_CHECKING:
    import pandas as pd

    from dsa110_ws.core.paths import PathPolicy
    from dsa110_ws.repositories.ms import MSIndexRepository
    from dsa110_ws.services.products.cache import ProductCache

__all__ = ["MSService", "MSSummary", "FlagStats", "QuickLook", "Waterfall"]

PathLike = str | os.PathLike[str]


class MSService:
    """Measurement Set inspection (``w.ms``)."""

    def __init__(self, paths: PathPolicy, cache: ProductCache, index: MSIndexRepository | None):
        self._paths = paths
        self._cache = cache
        self._index_repo = index  # None: files only (no pipeline database configured)

    @property
    def _index(self) -> MSIndexRepository:
        return needs_database(self._index_repo, "ms_index", "a Measurement Set's files")

    def __repr__(self) -> str:
        return (
            "<MSService: find, summary, flag_stats, quicklook, plot_quicklook, waterfall, "
            "plot_waterfall, antenna_layout, plot_antenna_layout>"
        )

    def _path(self, path: PathLike) -> Path:
        return self._paths.product(path, what="Measurement Set", expect="dir")

    def find(
        self,
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        limit: int | None = 1000,
        **filters: Any,
    ) -> pd.DataFrame:
        """The pipeline's ``ms_index`` rows observed in [start, end) (``mid_mjd``), by stage,
        status, group, field or path; relative times are read on the workspace clock."""
        return self._index.find(start=start, end=end, limit=limit, **filters)

    def summary(self, path: PathLike, *, flags: bool = True, use_cache: bool = True) -> MSSummary:
        """What the MS holds (see :class:`MSSummary`), cached.

        Parameters
        ----------
        flags
            Make one chunked pass over the rows (FLAG and the per-row columns) to fill the flag
            fractions (overall, cross-correlations, per antenna), the scans, the antennas with
            data and the exact time range and integration.  ``False`` reads only metadata, in
            a time independent of the number of rows (the per-row fields are then ``None``).
        use_cache
            ``False`` recomputes (and refreshes the cache entry).
        """
        p = self._path(path)
        from dsa110_ws.services.products.cache import file_identity

        def compute() -> MSSummary:
            meta = read_summary(p, file_identity(p).size)
            if not flags:
                return meta
            try:
                fs = self.flag_stats(p, use_cache=use_cache)
            except DataUnavailableError as exc:  # the metadata stands; say what is missing
                said = f"The flag pass could not be made ({one_line(exc)}): flags, scans and "
                said += "antennas with data are unknown."
                return dataclasses.replace(meta, warnings=(*meta.warnings, said))
            warnings = list(meta.warnings)
            if fs.integration_varies:
                warnings.append("INTERVAL varies between rows; integration_s is its median.")
            return dataclasses.replace(
                meta,
                n_antennas_with_data=fs.n_antennas_with_data,
                scans=fs.scans,
                integration_s=fs.integration_s,
                **time_fields_from(fs),
                flag_fraction=_finite_or_none(fs.flag_fraction),
                flag_fraction_cross=_finite_or_none(fs.flag_fraction_cross),
                flag_fraction_per_antenna=fs.flag_fraction_per_antenna,
                warnings=tuple(warnings),
            )

        return self._cache.get_or_compute(
            "ms.summary",
            p,
            {"flags": bool(flags)},
            compute,
            encode=MSSummary.to_dict,
            decode=MSSummary.from_dict,
            use_cache=use_cache,
        )

    def flag_stats(
        self, path: PathLike, *, chunk_rows: int | None = None, use_cache: bool = True
    ) -> FlagStats:
        """Flagged fractions overall and per antenna, spw, field, scan, correlation and channel.

        FLAG (and FLAG_ROW) are read ``chunk_rows`` rows at a time (default: 32 MB of flags per
        chunk), so memory is bounded by the chunk, not the MS.
        """
        p = self._path(path)
        return self._cache.get_or_compute(
            "ms.flags",
            p,
            {},
            lambda: compute_flag_stats(p, chunk_rows=chunk_rows),
            encode=FlagStats.to_dict,
            decode=FlagStats.from_dict,
            use_cache=use_cache and chunk_rows is None,
        )

    def quicklook(
        self,
        path: PathLike,
        *,
        x: str = "time",
        y: str = "amp",
        column: str = "DATA",
        spw: int | None = None,
        correlation: str | int | None = None,
        include_autos: bool = False,
        max_rows: int = 200_000,
    ) -> QuickLook:
        """Flag-masked amplitude (``y="amp"``) or phase (``"phase"``, deg) against ``x``:
        ``"time"`` (UTC MJD), ``"frequency"`` (Hz, ascending) or ``"baseline"`` (uv distance,
        m), averaged over channels (time, baseline) or over rows (frequency).

        At most ``max_rows`` rows are read, evenly strided through the MS; cross-correlations
        only unless ``include_autos``.
        """
        return quicklook(
            self._path(path),
            x=x,
            y=y,
            column=column,
            spw=spw,
            correlation=correlation,
            include_autos=include_autos,
            max_rows=max_rows,
        )

    def plot_quicklook(self, path: PathLike, ax: Any = None, **kwargs: Any) -> Any:
        """Plot :meth:`quicklook` (same keyword arguments); returns the Axes."""
        return self.quicklook(path, **kwargs).plot(ax)

    def waterfall(
        self,
        path: PathLike,
        quantity: str = "amp",
        *,
        baseline: Any = None,
        average: str = "scalar",
        correlation: Any = None,
        spw: int | None = None,
        column: str = "DATA",
        chunk_rows: int | None = None,
    ) -> Waterfall:
        """Time x frequency image of amplitude, phase or flags (see :class:`Waterfall`).

        Parameters
        ----------
        quantity
            ``"amp"`` (in the column's units), ``"phase"`` (deg, of the vector average) or
            ``"flag"`` (flagged fraction of each cell's visibilities).
        baseline
            ``None``: every cross-correlation baseline averaged; ``"A&B"`` or ``("A", "B")``:
            one baseline (names are ANTENNA names, integers ANTENNA row indices); ``"A"``: the
            cross-correlations of antenna A averaged.
        average
            ``"scalar"`` (mean of ``|V|``) or ``"vector"`` (``|mean V|``) for amplitudes.
        correlation
            A correlation name or index, or a list; default the parallel hands (XX and YY,
            or RR and LL), averaged.
        spw
            Only this spectral window (default: all, side by side in frequency).
        column
            ``DATA``, ``CORRECTED_DATA`` or ``MODEL_DATA`` (not read for ``"flag"``).
        chunk_rows
            Rows per read (default: ``DEFAULT_CHUNK_BYTES``, 32 MB, of the column per chunk,
            the flag statistics' bound).

        The rows of one baseline or antenna of an MS in the standard regular order are read
        with strided reads: the time depends on that baseline's rows, not on the others'.
        """
        return compute_waterfall(
            self._path(path),
            quantity=quantity,
            baseline=baseline,
            average=average,
            correlation=correlation,
            spw=spw,
            column=column,
            chunk_rows=chunk_rows,
        )

    def plot_waterfall(self, path: PathLike, ax: Any = None, **kwargs: Any) -> Any:
        """Plot :meth:`waterfall` (same keyword arguments; ``quantity`` too); returns the Axes."""
        return self.waterfall(path, **kwargs).plot(ax)

    def antenna_layout(self, path: PathLike, *, reference: Any = None) -> Any:
        """Antennas in local east/north/up metres (DataFrame: ``antenna_id, name, station,
        east_m, north_m, up_m, dish_diameter_m``) about ``reference`` (an ``EarthLocation``;
        default the array position in the MS, else the antennas' centroid)."""
        return antenna_layout(self._path(path), reference=reference)

    def plot_antenna_layout(
        self,
        path: PathLike,
        ax: Any = None,
        *,
        annotate: bool = True,
        mark: list[str] | None = None,
    ) -> Any:
        """East/north positions with equal axes; antennas named in ``mark`` are drawn in red."""
        from dsa110_ws.services.products._plots import new_axes

        df = self.antenna_layout(path)
        ax = new_axes(ax, figsize=(6.0, 6.0))
        marked = df["name"].isin([str(m) for m in (mark or [])])
        ax.scatter(df["east_m"][~marked], df["north_m"][~marked], s=16, color="C0")
        ax.scatter(df["east_m"][marked], df["north_m"][marked], s=24, color="red")
        if annotate:
            for _, r in df.iterrows():
                ax.annotate(
                    r["name"],
                    (r["east_m"], r["north_m"]),
                    fontsize="x-small",
                    xytext=(2, 2),
                    textcoords="offset points",
                )
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_xlabel("east (m)")
        ax.set_ylabel("north (m)")
        ax.set_title(f"{Path(str(path)).name} ({df.attrs['reference']})")
        return ax


def time_fields_from(fs: FlagStats) -> dict[str, Any]:
    """The summary's time fields from the exact range found by the flag pass."""
    from dsa110_ws.services.products._mssummary import _iso

    if fs.time_start_mjd is None or fs.time_end_mjd is None:
        return {}
    return {
        "time_start_mjd": fs.time_start_mjd,
        "time_end_mjd": fs.time_end_mjd,
        "time_start_utc": _iso(fs.time_start_mjd),
        "time_end_utc": _iso(fs.time_end_mjd),
        "time_scale": fs.time_scale,
    }


def _finite_or_none(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None
