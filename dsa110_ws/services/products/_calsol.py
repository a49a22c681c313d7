"""Reading CASA calibration tables into :class:`CalSolutions`, and their solve type.

The solve type comes from the table itself first: its ``VisCal`` keyword (``K Jones``, ``B
Jones``, ``G Jones``...) and ``ParType`` (``Float`` delays in FPARAM, ``Complex`` gains in
CPARAM).  The DSA-110 pipeline registers seven types -- K, BA, BP, GA, GP, 2G, FLUX -- and a
Jones type alone cannot tell BA from BP or GA from GP, so the DSA-110 filename suffix
(``_kcal``, ``_bacal``, ``_bpcal``, ``_gacal``, ``_gpcal``, ``_2gcal``, ``_fluxcal``) refines it
when it agrees with the table; without a usable suffix, G tables are told apart by their
solutions (all amplitudes 1: phase-only ``GP``; else ``GA``).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import numpy as np

from dsa110_ws.core.caltypes import SHORT_TYPES
from dsa110_ws.errors import DataUnavailableError
from dsa110_ws.services.products._casatables import (
    mjd_seconds_to_utc_mjd,
    open_subtable,
    open_table,
    read_column,
    table_keywords,
)

__all__ = ["CalSolutions", "REGISTRY_TYPES", "load_solutions", "registry_type"]

#: The pipeline registry's caltable types (docs/pipeline-data.md), in solve order.
REGISTRY_TYPES = SHORT_TYPES  # the production vocabulary (core.caltypes)
#: DSA-110 filename suffix -> registry type.
SUFFIX_TYPES = {
    "kcal": "K",
    "bacal": "BA",
    "bpcal": "BP",
    "gacal": "GA",
    "gpcal": "GP",
    "2gcal": "2G",
    "fluxcal": "FLUX",
    "flux": "FLUX",
}
#: Jones family of each registry type.
_FAMILY = {"K": "K", "BA": "B", "BP": "B", "GA": "G", "GP": "G", "2G": "G", "FLUX": "G"}
_SUFFIX = re.compile(
    r"_(kcal|bacal|bpcal|gacal|gpcal|2gcal|fluxcal|flux)(?:\.[A-Za-z0-9]+)?$", re.IGNORECASE
)


@dataclasses.dataclass(frozen=True)
class CalSolutions:
    """The solutions of one calibration table, one row per (time, spw, antenna).

    ``values``, ``flags``, ``snr`` and ``paramerr`` are ``(n_rows, n_channels, n_correlations)``
    (K delays in ns as floats; B/G gains complex).  ``time_mjd`` is UTC MJD per row;
    ``antenna`` indexes ``antenna_names``; ``freq_hz[spw]`` are the channel frequencies of each
    spectral window (``None`` when the table has no SPECTRAL_WINDOW rows); correlations are
    the receptor indices 0, 1, ... (CASA does not label them).  ``chi2`` is a per-solution
    ``CHI2`` column when the table has one (CASA's own tables do not; some self-calibration
    tools add it), else ``None``.
    """

    path: str
    vis_cal: str
    par_type: str
    table_type: str | None
    time_mjd: np.ndarray
    antenna: np.ndarray
    refant: np.ndarray
    spw: np.ndarray
    field: np.ndarray
    values: np.ndarray
    flags: np.ndarray
    snr: np.ndarray
    paramerr: np.ndarray | None
    antenna_names: tuple[str, ...]
    freq_hz: tuple[np.ndarray | None, ...]
    field_names: tuple[str, ...]
    ms_name: str | None
    time_scale: str
    chi2: np.ndarray | None = None

    @property
    def n_solutions(self) -> int:
        """Solution elements: rows x channels x correlations."""
        return int(self.flags.size)

    @property
    def is_complex(self) -> bool:
        return np.iscomplexobj(self.values)

    @property
    def channels(self) -> np.ndarray:
        return np.arange(self.values.shape[1])

    @property
    def correlations(self) -> np.ndarray:
        return np.arange(self.values.shape[2])

    def to_frame(self) -> Any:
        """One row per solution element: ``time_mjd, antenna, antenna_name, spw, channel,
        freq_hz, correlation, value`` (or ``amp, phase_deg`` for complex gains), ``flag, snr``."""
        import pandas as pd

        n_rows, n_chan, n_corr = self.values.shape
        rows = np.repeat(np.arange(n_rows), n_chan * n_corr)
        chan = np.tile(np.repeat(np.arange(n_chan), n_corr), n_rows)
        corr = np.tile(np.arange(n_corr), n_rows * n_chan)
        names = np.array(self.antenna_names + ("?",), dtype=object)
        ant = self.antenna[rows]
        freq = np.full(rows.size, np.nan)
        for s, f in enumerate(self.freq_hz):
            sel = self.spw[rows] == s
            if f is not None and len(f) == n_chan:
                freq[sel] = np.asarray(f)[chan[sel]]
        out = {
            "time_mjd": self.time_mjd[rows],
            "antenna": ant,
            "antenna_name": names[np.where((ant >= 0) & (ant < len(self.antenna_names)), ant, -1)],
            "spw": self.spw[rows],
            "channel": chan,
            "freq_hz": freq,
            "correlation": corr,
        }
        v = self.values.reshape(-1)
        if self.is_complex:
            out["amp"] = np.abs(v)
            out["phase_deg"] = wrap_deg(np.angle(v, deg=True))
        else:
            out["value"] = v
        out["flag"] = self.flags.reshape(-1)
        out["snr"] = self.snr.reshape(-1)
        return pd.DataFrame(out)


def wrap_deg(phase_deg: np.ndarray) -> np.ndarray:
    """Wrap phases to [-180, 180) degrees."""
    return (np.asarray(phase_deg, dtype=float) + 180.0) % 360.0 - 180.0


#: The first word of CASA's ``VisCal`` keyword -> Jones family, for the solve types the
#: pipeline registers (delays, bandpasses, gains); any other (``D Jones``, ``Df Jones``,
#: ``X Jones``, ``KAntPos Jones``, ``KCROSS Jones``, ``TSys``, ``TOpac``, ``Fringe Jones``,
#: ``EGainCurve``, ``A Mueller``...) is an unknown type here.
_VISCAL_FAMILY = {
    "K": "K",
    "KMBD": "K",
    "B": "B",
    "BPOLY": "B",
    "G": "G",
    "T": "G",
    "GSPLINE": "G",
}


def family_of(vis_cal: str | None) -> str | None:
    """Jones family ``'K'``, ``'B'`` or ``'G'`` of a CASA ``VisCal`` (``'K Jones'``...), or
    ``None`` for a solve type the pipeline does not register (or no keyword)."""
    if not vis_cal or not str(vis_cal).strip():
        return None
    return _VISCAL_FAMILY.get(str(vis_cal).split()[0].upper())


def suffix_type(path: str | Path) -> str | None:
    match = _SUFFIX.search(Path(path).name)
    return SUFFIX_TYPES[match.group(1).lower()] if match else None


def registry_type(
    path: str | Path,
    vis_cal: str | None,
    values: np.ndarray | None = None,
    flags: np.ndarray | None = None,
) -> str | None:
    """The pipeline registry type (K, BA, BP, GA, GP, 2G, FLUX) of a caltable, or ``None`` for
    a Jones type the pipeline does not register (D, X, Fringe...) or a table without a
    ``VisCal`` keyword.  The keyword decides the family; the file name only refines it (a
    ``_gacal`` suffix on a ``D Jones`` table does not make it a gain table)."""
    family, by_name = family_of(vis_cal), suffix_type(path)
    if family is None:
        return None
    if by_name is not None and _FAMILY[by_name] == family:
        return by_name
    if family == "G" and values is not None and np.iscomplexobj(values):
        good = ~flags if flags is not None else np.ones(values.shape, bool)
        amp = np.abs(values[good])
        return "GP" if amp.size and np.allclose(amp, 1.0, atol=1e-6) else "GA"
    return {"K": "K", "B": "BP", "G": "GA"}[family]


def param_column(tb: Any, path: Path) -> str:
    """``'CPARAM'`` or ``'FPARAM'``; :class:`DataUnavailableError` when ``tb`` is no caltable."""
    cols = tb.colnames()
    param = "CPARAM" if "CPARAM" in cols else "FPARAM" if "FPARAM" in cols else None
    if param is None or "FLAG" not in cols or "ANTENNA1" not in cols:
        vis_cal = table_keywords(tb).get("VisCal")
        raise DataUnavailableError(
            f"{path} is not a calibration table: it lacks the CPARAM/FPARAM, FLAG and ANTENNA1 "
            f"columns (VisCal keyword: {vis_cal!r}). Is it a Measurement Set?"
        )
    return param


def load_solutions(path: Path) -> CalSolutions:
    """Read a CASA calibration table (see :class:`CalSolutions`)."""
    with open_table(path, what="calibration table") as tb:
        param = param_column(tb, path)
        kw = table_keywords(tb)
        vis_cal = kw.get("VisCal")
        n = tb.nrows()
        if n == 0:  # casacore cannot getcol an empty table: the arrays are empty
            values = np.zeros((0, 1, 1), np.complex64 if param == "CPARAM" else np.float32)
            flags = np.zeros((0, 1, 1), bool)
        else:
            values = _array(tb, param, path)
            flags = _array(tb, "FLAG", path).astype(bool)
        snr = read_column(tb, "SNR", default=None) if n else None
        snr = np.full(flags.shape, np.nan, np.float32) if snr is None else np.asarray(snr)
        time_s = np.asarray(read_column(tb, "TIME", default=np.zeros(n)), dtype=float)
        from dsa110_ws.services.products._casatables import measure_ref

        time_mjd, scale = mjd_seconds_to_utc_mjd(time_s, measure_ref(tb, "TIME", "UTC"))
        ints = {
            c: np.asarray(read_column(tb, c, default=np.zeros(n, int)), dtype=np.int64)
            for c in ("ANTENNA1", "ANTENNA2", "SPECTRAL_WINDOW_ID", "FIELD_ID")
        }
        paramerr = read_column(tb, "PARAMERR", default=None) if n else None
        chi2 = read_column(tb, "CHI2", default=None) if n else None
    names = _names(path, "ANTENNA")
    return CalSolutions(
        path=str(path),
        vis_cal=str(vis_cal or ""),
        par_type=str(kw.get("ParType", "")),
        table_type=registry_type(path, vis_cal, values, flags),
        time_mjd=time_mjd,
        antenna=ints["ANTENNA1"],
        refant=ints["ANTENNA2"],
        spw=ints["SPECTRAL_WINDOW_ID"],
        field=ints["FIELD_ID"],
        values=values,
        flags=flags,
        snr=snr,
        paramerr=paramerr,
        antenna_names=names,
        freq_hz=_freqs(path),
        field_names=_names(path, "FIELD"),
        ms_name=kw.get("MSName"),
        time_scale=scale,
        chi2=None if chi2 is None else np.asarray(chi2, float).reshape(flags.shape),
    )


def _array(tb: Any, column: str, path: Path) -> np.ndarray:
    try:
        a = np.asarray(tb.getcol(column))
    except RuntimeError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "shape" in first.lower():
            raise DataUnavailableError(
                f"Calibration table {path}: column {column} cannot be read as one array "
                f"({first}); tables whose spws differ in channel count are not supported yet."
            ) from None
        raise DataUnavailableError(
            f"Calibration table {path}: column {column} cannot be read ({first})."
        ) from None
    return a.reshape(a.shape[0], 1, -1) if a.ndim == 2 else a


def _names(path: Path, sub: str) -> tuple[str, ...]:
    try:
        with open_subtable(path, sub, what="calibration table") as tb:
            return tuple(str(x) for x in (read_column(tb, "NAME", default=[]) or []))
    except DataUnavailableError:
        return ()


def _freqs(path: Path) -> tuple[np.ndarray | None, ...]:
    try:
        with open_subtable(path, "SPECTRAL_WINDOW", what="calibration table") as tb:
            return tuple(
                np.asarray(tb.getcell("CHAN_FREQ", i), dtype=float) for i in range(tb.nrows())
            )
    except (DataUnavailableError, RuntimeError):
        return ()
