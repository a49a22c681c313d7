"""``w.sources``: the source catalogue, light curves, variability and ESE candidates.

A thin facade: the science lives in private modules (``_variability``, ``_dips``,
``_ese``, ``_normalise``, ``_fluxdata``, ``_lightcurves``, ``_stamps``, ``_catalog``,
``_stored``, ``_export``); SQL lives in the repositories.

>>> v = w.sources.variability()                    # every source at once, vectorised
>>> cands = w.sources.ese_candidates(table=v)      # moderate preset, scored
>>> w.sources.plot_lightcurve(cands.source_id[0])
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from dsa110_ws._util.timeparse import TimeLike
from dsa110_ws.repositories._base import DEFAULT_LIMIT

__all__ = ["SourceService"]


class SourceService:
    """Sources, light curves, variability and ESE candidates (``w.sources``)."""

    def __init__(self, workspace: Any):
        self._w = workspace

    def __repr__(self) -> str:
        return ("<SourceService: catalog, get, cone, crossmatch, lightcurve, plot_lightcurve, "
                "stamps, plot_stamps, variability, eta_v_thresholds, eta_v_candidates, "
                "plot_eta_v, presets, ese_candidates, compare_stored, triage, normalisation, "
                "snapshot, export>")

    # -- catalogue -----------------------------------------------------------------------
    def catalog(self, *, limit: int | None = DEFAULT_LIMIT) -> pd.DataFrame:
        """The ``sources`` table when filled, else derived from photometry (error-weighted
        position, detection count, first/last MJD, mean flux, NVSS flux);
        ``df.attrs["derived"]`` says which."""
        return self._w.repos.sources.find(limit=limit)

    def get(self, source_id: str) -> Any:
        """One source as a frozen ``SourceRecord``; :class:`NotFoundError` if unknown."""
        return self._w.repos.sources.get(str(source_id))

    def cone(self, position: Any, radius: Any, *, limit: int | None = DEFAULT_LIMIT
             ) -> pd.DataFrame:
        """Sources within ``radius`` (angle ``Quantity``, or degrees) of ``position``
        (``SkyCoord`` or ``(ra_deg, dec_deg)``), nearest first, with exact ``sep_deg``."""
        from dsa110_ws.services import _catalog

        return _catalog.cone(self._w, position, radius, limit=limit)

    def crossmatch(self, positions: Any, *, max_sep: Any = None) -> pd.DataFrame:
        """Each of your positions (``SkyCoord``, or a DataFrame/Table with RA/Dec in degrees)
        matched to the nearest catalogue source: ``source_id`` (None beyond ``max_sep``,
        default 30 arcsec), ``nearest_source_id``, ``sep_arcsec``, ``matched``."""
        from astropy import units as u

        from dsa110_ws.services import _catalog

        return _catalog.crossmatch(self._w, positions,
                                   max_sep=30 * u.arcsec if max_sep is None else max_sep)

    # -- light curves -----------------------------------------------------------------------
    def lightcurve(self, source_id: str, *, start: TimeLike = None, end: TimeLike = None,
                   normalised: bool | str = True, normalisation: Any = None) -> pd.DataFrame:
        """One source's measurements in observation order (``mjd``, ``time_utc``,
        ``flux_jy``, ``flux_err_jy``, ``image_path``...), within [start, end) (ISO date, MJD
        or ``Time``).  ``normalised``: True = the stored normalised flux when every row has
        it, else raw; False = raw; ``"reference"`` = raw divided by the reference-source
        correction (pass ``normalisation=`` to reuse one).  ``attrs["flux_column"]`` says
        which was used."""
        from dsa110_ws.services import _lightcurves

        return _lightcurves.lightcurve(self._w, source_id, start=start, end=end,
                                       normalised=normalised, normalisation=normalisation)

    def plot_lightcurve(self, source_id: str, ax: Any = None, *, start: TimeLike = None,
                        end: TimeLike = None, normalised: bool | str = True,
                        time_axis: str = "utc", mark: tuple[float, float] | None = None,
                        **errorbar_kw: Any) -> Any:
        """Error-bar light curve (mJy) against UTC date (``time_axis="mjd"`` for MJD);
        ``mark`` shades an MJD interval (e.g. a candidate's dip).  Returns the Axes."""
        from dsa110_ws.services import _lightcurves

        lc = self.lightcurve(source_id, start=start, end=end, normalised=normalised)
        return _lightcurves.plot_lightcurve(lc, ax, time_axis=time_axis, mark=mark,
                                            **errorbar_kw)

    def stamps(self, source_id: str, *, size: Any = None, max_epochs: int = 12,
               start: TimeLike = None, end: TimeLike = None) -> Any:
        """Cutouts (``size`` angle, default 10 arcmin) of the source from up to
        ``max_epochs`` epochs spread over its light curve, with one shared display range."""
        from dsa110_ws.services import _stamps

        return _stamps.make_stamps(self._w, source_id, size=size, max_epochs=max_epochs,
                                   start=start, end=end)

    def plot_stamps(self, source_id: Any, axes: Any = None, *, size: Any = None,
                    max_epochs: int = 12, start: TimeLike = None, end: TimeLike = None,
                    cmap: str = "inferno") -> Any:
        """The stamp strip (one brightness scale for all panels); ``source_id`` may also be
        a strip from :meth:`stamps`.  Returns the array of Axes."""
        from dsa110_ws.services import _stamps

        strip = source_id if isinstance(source_id, _stamps.StampStrip) else self.stamps(
            source_id, size=size, max_epochs=max_epochs, start=start, end=end)
        return _stamps.plot_stamps(strip, axes, cmap=cmap)

    # -- variability ---------------------------------------------------------------------
    def variability(self, *, start: TimeLike = None, end: TimeLike = None,
                    min_epochs: int = 2, flux: str = "auto",
                    source_ids: Sequence[str] | None = None, preset: str | None = "moderate",
                    normalisation: Any = None) -> pd.DataFrame:
        """Variability metrics of every source at once (one read, no loop per source).

        One row per source: ``n_epochs``, ``mean_flux_jy``, ``std_flux_jy``, ``v``, ``eta``,
        ``chi2_nu``, ``sigma_deviation``, ``vs_max``/``m_max`` with their epoch pair
        (``vs_mjd_a``, ``vs_mjd_b``...), the deepest dip, ``flux_column``; with ``preset``
        also ``chi2_sigma``, ``eta_sigma``, ``score``, ``ese_like``, ``is_candidate``.
        ``flux``: "auto" (stored normalised flux where complete per source, else raw),
        "normalized", "raw" or "reference".  ``attrs`` count rows and sources that were
        skipped (NaN flux, non-positive errors, too few epochs) and which flux was used.
        Definitions: :mod:`dsa110_ws.services._variability`.
        """
        from dsa110_ws.services import _ese, _fluxdata, _variability

        arrays = _fluxdata.load_flux_arrays(self._w, start=start, end=end, source_ids=source_ids,
                                            flux=flux, normalisation=normalisation)
        table = _variability.compute_metrics(arrays, min_epochs=min_epochs)
        return table if preset is None else _ese.classify(table, preset)

    def eta_v_thresholds(self, table: pd.DataFrame, *, sigma: float | tuple[float, float] = 3.0,
                         method: str = "robust") -> dict[str, Any]:
        """Gaussian fits to log10(eta) and log10(V) and thresholds ``sigma`` above them
        (``method="mle"``: mean/std as VAST tools; "robust": median/MAD)."""
        from dsa110_ws.services import _ese

        return _ese.eta_v_fit(table, sigma=sigma, method=method)

    def eta_v_candidates(self, table: pd.DataFrame, *, sigma: float | tuple[float, float] = 3.0,
                         method: str = "robust") -> pd.DataFrame:
        """Sources above both eta-V thresholds, highest eta first."""
        fit = self.eta_v_thresholds(table, sigma=sigma, method=method)
        sel = (table["eta"] > fit["eta_threshold"]) & (table["v"] > fit["v_threshold"])
        out = table[sel].sort_values("eta", ascending=False).reset_index(drop=True)
        out.attrs.update(table.attrs)
        out.attrs["eta_v_fit"] = fit
        return out

    def plot_eta_v(self, table: pd.DataFrame, ax: Any = None, *,
                   sigma: float | tuple[float, float] = 3.0, method: str = "robust") -> Any:
        """The eta-V diagnostic with its thresholds; returns the Axes."""
        from dsa110_ws.services import _ese

        return _ese.plot_eta_v(table, self.eta_v_thresholds(table, sigma=sigma, method=method), ax)

    # -- ESE candidates ------------------------------------------------------------------------
    def presets(self) -> pd.DataFrame:
        """The conservative / moderate / sensitive thresholds, one row each."""
        import dataclasses

        from dsa110_ws.services import _ese

        return pd.DataFrame([dataclasses.asdict(p) for p in _ese.PRESETS.values()])

    def ese_candidates(self, *, preset: str = "moderate", table: pd.DataFrame | None = None,
                       start: TimeLike = None, end: TimeLike = None, flux: str = "auto",
                       **thresholds: Any) -> pd.DataFrame:
        """Candidates at ``preset`` (thresholds may be overridden by name), best ``score``
        first, with positions and the pipeline's stored status.  Pass ``table`` (from
        :meth:`variability`) to avoid reading the photometry again."""
        from dsa110_ws.services import _ese

        if table is None:
            table = self.variability(start=start, end=end, flux=flux, preset=None)
        classified = _ese.classify(table, preset, **thresholds)
        cands = classified[classified["is_candidate"]]
        cands = cands.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)
        return self._decorate(cands, classified.attrs)

    def _decorate(self, cands: pd.DataFrame, attrs: dict) -> pd.DataFrame:
        ids = cands["source_id"].tolist()
        pos = self._w.repos.sources.find(source_id=ids, limit=None) if ids else pd.DataFrame()
        if not pos.empty:
            where = pos.set_index("id")[["ra_deg", "dec_deg"]]
            cands = cands.assign(ra_deg=cands["source_id"].map(where["ra_deg"]),
                                 dec_deg=cands["source_id"].map(where["dec_deg"]))
        repo = self._w.repos.ese_candidates
        if ids and repo.available:
            stored = repo.find(source_id=ids, limit=None).sort_values("id")
            latest = stored.groupby("source_id").tail(1).set_index("source_id")
            cands = cands.assign(stored_candidate_id=cands["source_id"].map(latest["id"]),
                                 stored_status=cands["source_id"].map(latest["status"]))
        cands.attrs.update(attrs)
        return cands

    def compare_stored(self, *, table: pd.DataFrame | None = None, preset: str = "moderate",
                       rtol: float = 1e-6) -> pd.DataFrame:
        """The pipeline's stored ``variability_stats`` / ``ese_candidates`` against a fresh
        computation: per-metric values, ``disagree``, ``stale``, ``candidate_disagreement``;
        ``attrs`` summarise."""
        from dsa110_ws.services import _ese, _stored

        if table is None:
            table = self.variability(preset=preset)
        elif "is_candidate" not in table.columns:
            table = _ese.classify(table, preset)
        return _stored.compare(self._w, table, rtol=rtol)

    def triage(self, target: int | str, status: str = "investigated", *,
               note: str | None = None) -> Any:
        """Mark an ESE candidate (id, or source id) "investigated" or "dismissed" (or back
        to "active"), with a note: one audited transaction, only when writes are allowed."""
        from dsa110_ws.services import _stored

        return _stored.triage(self._w, target, status, note=note)

    # -- normalisation and export -----------------------------------------------------------
    def normalisation(self, *, start: TimeLike = None, end: TimeLike = None,
                      **params: Any) -> Any:
        """Per-image flux corrections from bright stable reference sources (median ratio to
        baseline, MAD 3-sigma rejection, >= 3 references, errors propagated):
        ``.corrections`` (the series), ``.references``, ``.apply_to(lightcurve)``.
        Parameters: :func:`dsa110_ws.services._normalise.solve`."""
        from dsa110_ws.services import _fluxdata, _normalise

        _, rows = _fluxdata.read_rows(self._w, start=start, end=end, flux="raw", image=True)
        return _normalise.solve_frame(rows, **params)

    def snapshot(self, *, refresh: bool = False) -> dict[str, Any]:
        """The columnar photometry snapshot survey-wide reads use (see
        :mod:`dsa110_ws.services._snapshot`): its status, or with ``refresh=True`` built
        and kept now if missing or stale (``"action"`` says which)."""
        from dsa110_ws.services import _snapshot

        return _snapshot.refresh(self._w) if refresh else _snapshot.status(self._w)

    def export(self, df: pd.DataFrame, path: str | os.PathLike[str], *,
               format: str | None = None, overwrite: bool = False) -> Path:  # noqa: A002
        """Write a light curve or table as CSV or VOTable (``format``, else from the suffix:
        .xml/.vot -> VOTable); never inside the data roots.  Returns the path."""
        from dsa110_ws.services import _export

        return _export.export_table(self._w, df, path, format=format, overwrite=overwrite)
