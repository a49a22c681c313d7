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
from dsa110_ws.services._casatables import (
    STOKES_NAMES,
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

    def plot(self, ax: Any = None) -> Any:
        """Scatter (time, baseline) or line (frequency) plot, one colour per correlation."""
        from dsa110_ws.services._products_plots import new_axes

        ax = new_axes(ax, figsize=(7.0, 4.0))
        x = self.x
        xlabel = {"frequency": "frequency (GHz)", "baseline": "uv distance (m)"}.get(self.x_axis)
        if self.x_axis == "time":
            t0 = float(np.min(x)) if x.size else 0.0
            x = (x - t0) * 1440.0
            xlabel = f"time (min since MJD {t0:.5f} UTC)"
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
        ax.set_ylabel("amplitude" if self.y_axis == "amp" else "phase (deg)")
        ax.set_title(f"{self.column} {self.y_axis} vs {self.x_axis}: {Path(self.path).name}")
        ax.legend(fontsize="x-small", markerscale=4)
        return ax


def _layout(path: Path) -> tuple[dict[int, int], dict[int, np.ndarray], list[str] | None]:
    from dsa110_ws.services._products_msflags import _layout as flags_layout

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
            raise InvalidQueryError(
                f"{path} has no {column} column; it has "
                f"{[c for c in ms.colnames() if c.endswith('DATA')]}."
            )
        n_rows = ms.nrows()
        stride = max(1, math.ceil(n_rows / max_rows))
        cell = (
            max(
                1,
                np.prod(
                    [int(s) for s in ms.getcolshapestring(column, 0, 1)[0].strip("[]").split(",")]
                ),
            )
            if n_rows
            else 1
        )
        chunk = max(1, _CHUNK_BYTES // (8 * cell)) * stride
        acc = _Accumulator(x, y, ddid_spw, freqs, corr_names, spw, correlation)
        time_ref = measure_ref(ms, "TIME", "UTC")
        for start in range(0, n_rows, chunk):
            n = min(chunk, n_rows - start)
            rows = _read_rows(ms, column, start, n, stride)
            if not include_autos:
                rows = {k: v[rows["ANTENNA1"] != rows["ANTENNA2"]] for k, v in rows.items()}
            acc.add(rows)
    return acc.result(path, column, time_ref, n_rows_read=acc.n_rows)


def _read_rows(ms: Any, column: str, start: int, n: int, stride: int) -> dict[str, np.ndarray]:
    out = {
        "vis": np.asarray(ms.getcol(column, start, n, stride)),
        "flag": np.asarray(ms.getcol("FLAG", start, n, stride), bool),
    }
    for col in ("ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "TIME"):
        out[col] = np.asarray(ms.getcol(col, start, n, stride))
    out["UVW"] = np.asarray(read_column_strided(ms, "UVW", start, n, stride))
    frow = (
        np.asarray(ms.getcol("FLAG_ROW", start, n, stride), bool)
        if "FLAG_ROW" in ms.colnames()
        else None
    )
    if frow is not None and frow.any():
        out["flag"] = out["flag"] | frow[:, None, None]
    return out


def read_column_strided(ms: Any, column: str, start: int, n: int, stride: int) -> np.ndarray:
    try:
        return ms.getcol(column, start, n, stride)
    except RuntimeError:
        return np.full((len(range(start, start + n, stride)), 3), np.nan)


class _Accumulator:
    def __init__(self, x, y, ddid_spw, freqs, corr_names, spw, correlation):
        self.x, self.y, self.ddid_spw, self.freqs = x, y, ddid_spw, freqs
        self.corr_names, self.spw, self.correlation = corr_names, spw, correlation
        self.points: list[tuple[np.ndarray, ...]] = []
        self.spec: dict[int, list[np.ndarray]] = {}
        self.n_rows = 0

    def _corr_index(self, n_corr: int) -> list[int]:
        names = (
            self.corr_names
            if self.corr_names and len(self.corr_names) == n_corr
            else [str(i) for i in range(n_corr)]
        )
        if self.correlation is None:
            return list(range(n_corr))
        key = str(self.correlation).upper()
        for i, name in enumerate(names):
            if name.upper() == key or str(i) == key:
                return [i]
        raise InvalidQueryError(f"No correlation {self.correlation!r}; this MS has {names}.")

    def add(self, r: dict[str, np.ndarray]) -> None:
        spws = np.array([self.ddid_spw.get(int(d), int(d)) for d in r["DATA_DESC_ID"]], int)
        keep = np.ones(spws.size, bool) if self.spw is None else spws == self.spw
        if not keep.any():
            return
        vis, good = r["vis"][keep], ~r["flag"][keep]
        self.n_rows += int(keep.sum())
        corrs = self._corr_index(vis.shape[2])
        vis, good = vis[:, :, corrs], good[:, :, corrs]
        if self.x == "frequency":
            for s in np.unique(spws[keep]):
                m = spws[keep] == s
                v, g = vis[m], good[m]
                sums = [np.where(g, np.abs(v), 0).sum(0), np.where(g, v, 0).sum(0), g.sum(0)]
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
        xval = (
            r["TIME"][keep]
            if self.x == "time"
            else np.hypot(r["UVW"][keep][:, 0], r["UVW"][keep][:, 1])
        )
        self.points.append(
            (
                np.repeat(xval, len(corrs)),
                value.reshape(-1),
                (count == 0).reshape(-1),
                np.tile(np.array(corrs), xval.size),
                np.repeat(spws[keep], len(corrs)),
            )
        )

    def result(self, path: Path, column: str, time_ref: str | None, n_rows_read: int) -> QuickLook:
        n_corr = None
        names = self.corr_names or []
        if self.x == "frequency":
            xs, ys, masks, cs, ss = [], [], [], [], []
            for s, (amp_sum, vec_sum, count) in sorted(self.spec.items()):
                f = self.freqs.get(s, np.arange(amp_sum.shape[0], dtype=float))
                order = np.argsort(f, kind="stable")
                with np.errstate(invalid="ignore", divide="ignore"):
                    val = amp_sum / count if self.y == "amp" else np.angle(vec_sum, deg=True)
                n_corr = val.shape[1]
                for k in range(n_corr):
                    (
                        xs.append(f[order]),
                        ys.append(val[order, k]),
                        masks.append(count[order, k] == 0),
                    )
                    cs.append(np.full(order.size, k)), ss.append(np.full(order.size, s))
            parts = (xs, ys, masks, cs, ss)
            arrays = [np.concatenate(p) if p else np.empty(0) for p in parts]
        else:
            arrays = [
                np.concatenate([p[i] for p in self.points]) if self.points else np.empty(0)
                for i in range(5)
            ]
        x, y, mask, corr, spw = arrays
        if self.x == "time" and x.size:
            x, _ = mjd_seconds_to_utc_mjd(x, time_ref)
        if self.y == "phase":
            y = (np.asarray(y, float) + 180.0) % 360.0 - 180.0
        labels = np.array(
            [names[int(c)] if int(c) < len(names) else str(int(c)) for c in corr], dtype=object
        )
        return QuickLook(
            str(path),
            self.x,
            self.y,
            column,
            np.asarray(x, float),
            np.ma.masked_array(
                np.asarray(y, float),
                mask=np.asarray(mask, bool) | ~np.isfinite(np.asarray(y, float)),
            ),
            labels,
            np.asarray(spw, int),
            n_rows_read,
        )


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


def corr_name(code: int) -> str:
    return STOKES_NAMES.get(int(code), str(code))
