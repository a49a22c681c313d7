"""Measurement Set views: flag-masked amplitude/phase quick-looks and the antenna layout.

Quick-looks read a column in row chunks, at most ``max_rows`` rows (evenly strided through the
MS), and never hold more than one chunk of visibilities.  Flagged visibilities never enter an
average; a point whose every channel is flagged is masked.  Amplitudes are scalar averages of
``|V|``; phases are those of the vector average, wrapped to [-180, 180).  Frequencies are the
channel centres, so spectra run low to high whatever the channel order in the file.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np

from dsa110_ws.errors import InvalidQueryError
from dsa110_ws.services.products._casatables import (
    measure_ref,
    mjd_seconds_to_utc_mjd,
    open_subtable,
    open_table,
    read_column,
)

__all__ = ["QuickLook", "quicklook", "antenna_layout"]

_CHUNK_BYTES = 32 * 1024 * 1024
X_AXES = ("time", "frequency", "baseline")


@dataclasses.dataclass(frozen=True)
class QuickLook:
    """Points of a quick-look: ``x`` (UTC MJD for time, Hz for frequency, metres of uv distance
    for baseline), ``y`` (masked: amplitude, or phase in degrees), and per point its
    ``correlation`` name and ``spw_id``."""

    path: str
    x_axis: str
    y_axis: str
    column: str
    x: np.ndarray
    y: np.ma.MaskedArray
    correlation: np.ndarray
    spw_id: np.ndarray
    n_rows_read: int

    def to_frame(self) -> Any:
        import pandas as pd

        return pd.DataFrame(
            {
                "x": self.x,
                "y": self.y.filled(np.nan),
                "flagged": np.ma.getmaskarray(self.y),
                "correlation": self.correlation,
                "spw_id": self.spw_id,
            }
        )

    @property
    def amplitude_unit(self) -> str:
        """Jy for calibrated (or model) visibilities; the correlator's arbitrary units for
        the raw DATA column."""
        return "Jy" if self.column in ("CORRECTED_DATA", "MODEL_DATA") else "uncalibrated"

    def plot(self, ax: Any = None) -> Any:
        """Scatter (time, baseline) or line (frequency) plot, one colour per correlation."""
        from dsa110_ws.services.products._plots import new_axes

        ax = new_axes(ax, figsize=(7.0, 4.0))
        x = self.x
        xlabel = {"frequency": "frequency (GHz)", "baseline": "uv distance (m)"}.get(self.x_axis)
        if self.x_axis == "time":  # UTC datetimes: the axis reads as clock time
            from dsa110_ws.core.time import mjd_to_utc

            x = mjd_to_utc(x).dt.tz_localize(None).to_numpy() if x.size else x
            day = str(x[0])[:10] if x.size else ""
            xlabel = f"time (UTC{', ' + day if day else ''})"
        elif self.x_axis == "frequency":
            x = x / 1e9
        for corr in dict.fromkeys(self.correlation.tolist()):
            sel = self.correlation == corr
            if self.x_axis == "frequency":
                for spw in np.unique(self.spw_id[sel]):
                    s = sel & (self.spw_id == spw)
                    ax.plot(x[s], self.y[s], lw=1, label=f"{corr} spw{spw}")
            else:
                ax.plot(x[sel], self.y[sel], ".", ms=2, label=str(corr))
        ax.set_xlabel(xlabel)
        if self.x_axis == "time" and x.size:
            import matplotlib.dates as mdates

            loc = mdates.AutoDateLocator()
            ax.xaxis.set_major_locator(loc)
            ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc))
        ax.set_ylabel(
            f"amplitude ({self.amplitude_unit})" if self.y_axis == "amp" else "phase (deg)"
        )
        ax.set_title(f"{self.column} {self.y_axis} vs {self.x_axis}: {Path(self.path).name}")
        ax.legend(fontsize="x-small", markerscale=4)
        return ax


def _layout(path: Path) -> tuple[dict[int, int], dict[int, np.ndarray], list[str] | None]:
    from dsa110_ws.services.products._msflags import _layout as flags_layout

    return flags_layout(path)


def quicklook(
    path: Path,
    *,
    x: str = "time",
    y: str = "amp",
    column: str = "DATA",
    spw: int | None = None,
    correlation: str | int | None = None,
    include_autos: bool = False,
    max_rows: int = 200_000,
) -> QuickLook:
    """Read the quick-look points (see :class:`QuickLook`)."""
    if x not in X_AXES or y not in ("amp", "phase"):
        raise InvalidQueryError(
            f"Quick-look axes: x in {X_AXES}, y in ('amp', 'phase'); got x={x!r}, y={y!r}."
        )
    if not isinstance(max_rows, int) or max_rows < 1:
        raise InvalidQueryError(f"max_rows must be a positive integer (got {max_rows!r}).")
    ddid_spw, freqs, corr_names = _layout(path)
    with open_table(path, what="Measurement Set") as ms:
        if column not in ms.colnames():
            have = [c for c in ms.colnames() if c.endswith("DATA")]
            raise InvalidQueryError(f"{path} has no {column} column; it has {have}.")
        n_rows = ms.nrows()
        stride = max(1, math.ceil(n_rows / max_rows))
        chunk = max(1, _CHUNK_BYTES // (8 * _cell(ms, column, n_rows))) * stride
        acc = _Accumulator(x, y, ddid_spw, spw, correlation, corr_names)
        time_ref = measure_ref(ms, "TIME", "UTC")
        for start in range(0, n_rows, chunk):
            rows = _read_rows(ms, column, start, min(chunk, n_rows - start), stride)
            if not include_autos:
                rows = {k: v[rows["ANTENNA1"] != rows["ANTENNA2"]] for k, v in rows.items()}
            acc.add(rows)
    points = acc.spectrum(freqs) if x == "frequency" else acc.points()
    xs, ys, mask, corr, spws = points
    if x == "time" and xs.size:
        xs, _ = mjd_seconds_to_utc_mjd(xs, time_ref)
    if y == "phase":
        ys = (np.asarray(ys, float) + 180.0) % 360.0 - 180.0
    ys = np.asarray(ys, float)
    return QuickLook(
        str(path),
        x,
        y,
        column,
        np.asarray(xs, float),
        np.ma.masked_array(ys, mask=np.asarray(mask, bool) | ~np.isfinite(ys)),
        np.array([acc.label(c) for c in corr], dtype=object),
        np.asarray(spws, int),
        acc.n_rows,
    )


def _cell(ms: Any, column: str, n_rows: int) -> int:
    if n_rows == 0:
        return 1
    shape = ms.getcolshapestring(column, 0, 1)[0].strip("[]").split(",")
    return max(1, int(np.prod([int(v) for v in shape])))


def _read_rows(ms: Any, column: str, start: int, n: int, stride: int) -> dict[str, np.ndarray]:
    """Every ``stride``-th row of ``[start, start + n)``: visibilities, flags (FLAG_ROW applied),
    antennas, data description, time and UVW."""
    out = {
        "vis": np.asarray(ms.getcol(column, start, n, stride)),
        "flag": np.asarray(ms.getcol("FLAG", start, n, stride), bool),
    }
    for col in ("ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "TIME"):
        out[col] = np.asarray(ms.getcol(col, start, n, stride))
    try:
        out["UVW"] = np.asarray(ms.getcol("UVW", start, n, stride), float)
    except RuntimeError:
        out["UVW"] = np.full((out["TIME"].size, 3), np.nan)
    if "FLAG_ROW" in ms.colnames():
        frow = np.asarray(ms.getcol("FLAG_ROW", start, n, stride), bool)
        if frow.any():
            out["flag"] = out["flag"] | frow[:, None, None]
    return out


class _Accumulator:
    """Collects per-row channel averages (time, baseline) or per-channel sums (frequency)."""

    def __init__(self, x, y, ddid_spw, spw, correlation, corr_names):
        self.x, self.y, self.ddid_spw, self.spw = x, y, ddid_spw, spw
        self.correlation, self.names = correlation, list(corr_names or [])
        self.corrs: list[int] | None = None
        self.rows: list[tuple[np.ndarray, ...]] = []
        self.spec: dict[int, list[np.ndarray]] = {}
        self.n_rows = 0

    def label(self, corr: int) -> str:
        return self.names[int(corr)] if int(corr) < len(self.names) else str(int(corr))

    def _select_corrs(self, n_corr: int) -> list[int]:
        if self.correlation is None:
            return list(range(n_corr))
        key = str(self.correlation).upper()
        for i in range(n_corr):
            if self.label(i).upper() == key or str(i) == key:
                return [i]
        have = [self.label(i) for i in range(n_corr)]
        raise InvalidQueryError(f"No correlation {self.correlation!r}; this MS has {have}.")

    def add(self, r: dict[str, np.ndarray]) -> None:
        spws = np.array([self.ddid_spw.get(int(d), int(d)) for d in r["DATA_DESC_ID"]], int)
        keep = np.ones(spws.size, bool) if self.spw is None else spws == self.spw
        if not keep.any():
            return
        self.corrs = self._select_corrs(r["vis"].shape[2])
        vis, good, spws = (
            r["vis"][keep][..., self.corrs],
            ~r["flag"][keep][..., self.corrs],
            spws[keep],
        )
        self.n_rows += int(keep.sum())
        if self.x == "frequency":
            for s in np.unique(spws):
                m = spws == s
                sums = [
                    np.where(good[m], np.abs(vis[m]), 0).sum(0),
                    np.where(good[m], vis[m], 0).sum(0),
                    good[m].sum(0),
                ]
                prev = self.spec.get(int(s))
                self.spec[int(s)] = (
                    sums if prev is None else [a + b for a, b in zip(prev, sums, strict=True)]
                )
            return
        count = good.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            amp = np.where(good, np.abs(vis), 0).sum(axis=1) / count
            vec = np.where(good, vis, 0).sum(axis=1) / np.maximum(count, 1)
        value = amp if self.y == "amp" else np.angle(vec, deg=True)
        uvw = r["UVW"][keep]
        xval = r["TIME"][keep] if self.x == "time" else np.hypot(uvw[:, 0], uvw[:, 1])
        k = len(self.corrs)
        self.rows.append(
            (
                np.repeat(xval, k),
                value.reshape(-1),
                (count == 0).reshape(-1),
                np.tile(np.array(self.corrs), xval.size),
                np.repeat(spws, k),
            )
        )

    def points(self) -> list[np.ndarray]:
        return [
            np.concatenate([p[i] for p in self.rows]) if self.rows else np.empty(0)
            for i in range(5)
        ]

    def spectrum(self, freqs: dict[int, np.ndarray]) -> list[np.ndarray]:
        """Per (spw, channel, correlation), channels sorted by frequency (the channel index when
        the MS has no frequencies for the spw)."""
        parts: list[list[np.ndarray]] = [[], [], [], [], []]
        for s, (amp_sum, vec_sum, count) in sorted(self.spec.items()):
            f = freqs.get(s)
            f = (
                np.arange(amp_sum.shape[0], dtype=float)
                if f is None or f.size != amp_sum.shape[0]
                else f
            )
            order = np.argsort(f, kind="stable")
            with np.errstate(invalid="ignore", divide="ignore"):
                val = amp_sum / count if self.y == "amp" else np.angle(vec_sum, deg=True)
            for j, corr in enumerate(self.corrs or []):
                for part, values in zip(
                    parts,
                    (
                        f[order],
                        val[order, j],
                        count[order, j] == 0,
                        np.full(order.size, corr),
                        np.full(order.size, s),
                    ),
                    strict=True,
                ):
                    part.append(values)
        return [np.concatenate(p) if p else np.empty(0) for p in parts]


def antenna_layout(path: Path, *, reference: Any = None) -> Any:
    """Antenna positions as local east/north/up metres about a reference.

    ``reference`` is an ``EarthLocation``; by default the ANTENNA table's ``ARRAY_POSITION``
    keyword when present, else the centroid of the antennas.  The DataFrame's
    ``attrs["reference"]`` says which.
    """
    import pandas as pd
    from astropy import units as u
    from astropy.coordinates import EarthLocation

    with open_subtable(path, "ANTENNA") as tb:
        n = tb.nrows()
        xyz = np.asarray(
            read_column(tb, "POSITION", default=np.full((n, 3), np.nan)), float
        ).reshape(n, 3)
        names = [str(v) for v in (read_column(tb, "NAME", default=[""] * n) or [])]
        stations = [str(v) for v in (read_column(tb, "STATION", default=[""] * n) or [])]
        dish = np.asarray(read_column(tb, "DISH_DIAMETER", default=np.full(n, np.nan)), float)
        try:
            array_pos = tb.getcolkeyword("POSITION", "ARRAY_POSITION")
        except RuntimeError:
            array_pos = None
    if reference is not None:
        ref_xyz = np.array(
            [reference.x.to_value(u.m), reference.y.to_value(u.m), reference.z.to_value(u.m)]
        )
        what = "given EarthLocation"
    elif array_pos is not None and len(array_pos) == 3:
        ref_xyz, what = np.asarray(array_pos, float), "ARRAY_POSITION keyword"
    else:
        ref_xyz, what = np.nanmean(xyz, axis=0), "centroid of the antennas"
    loc = EarthLocation.from_geocentric(*ref_xyz, unit=u.m)
    lat, lon = loc.lat.rad, loc.lon.rad
    rot = np.array(
        [
            [-np.sin(lon), np.cos(lon), 0.0],
            [-np.sin(lat) * np.cos(lon), -np.sin(lat) * np.sin(lon), np.cos(lat)],
            [np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)],
        ]
    )
    enu = (xyz - ref_xyz) @ rot.T
    df = pd.DataFrame(
        {
            "antenna_id": np.arange(n),
            "name": names,
            "station": stations[:n] or [""] * n,
            "east_m": enu[:, 0],
            "north_m": enu[:, 1],
            "up_m": enu[:, 2],
            "dish_diameter_m": dish,
        }
    )
    df.attrs["reference"] = what
    df.attrs["reference_lat_deg"], df.attrs["reference_lon_deg"] = (
        math.degrees(lat),
        math.degrees(lon),
    )
    return df
