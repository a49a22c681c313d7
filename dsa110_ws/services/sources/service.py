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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from dsa110_ws.core.time import TimeLike
from dsa110_ws.repositories import DEFAULT_LIMIT
from dsa110_ws.services.sources import (
    _catalog,
    _ese,
    _export,
    _fluxdata,
    _forcedrun,
    _lightcurves,
    _normalise,
    _stamps,
    _stored,
    _timescales,
    _variability,
    _votable,
)

if TYPE_CHECKING:
    from dsa110_ws.core.paths import PathPolicy
    from dsa110_ws.core.settings import SourcesSettings
    from dsa110_ws.core.time import Clock
    from dsa110_ws.models import Record
    from dsa110_ws.repositories.photometry import PhotometryRepository
    from dsa110_ws.repositories.sources import SourceRepository
    from dsa110_ws.repositories.variability import (
        ESECandidateRepository,
        VariabilityStatsRepository,
    )
    from dsa110_ws.services.audit import ActionResult, AuditTrail
    from dsa110_ws.services.products import (
        BatchRunner,
        FitsImageService,
        ImageService,
        ProductCache,
    )
    from dsa110_ws.services.sources._dataset import PhotometryDataset, ProgressArg
    from dsa110_ws.services.sources._normalise import Normalisation
    from dsa110_ws.services.sources._survey import SurveyCompute

__all__ = ["SourceService"]


class SourceService:
    """Sources, light curves, variability and ESE candidates (``w.sources``).

    Parameters
    ----------
    photometry, catalogue, stored_stats, candidates
        The ``photometry``, ``sources``, ``variability_stats`` and ``ese_candidates``
        repositories.
    survey
        Survey-wide work over the photometry dataset (in this process or on Dask); its
        ``dataset`` is the Parquet dataset of the photometry.
    settings
        ``[sources]`` (the variability table's timescales).
    fits
        FITS cutouts for postage stamps; pixels for forced photometry.
    images, batch, cache
        The image catalogue, the batch runner and the product cache forced photometry
        selects images from, runs on and keeps its measurements in.
    audit
        The audited write path (triage).
    paths
        Where exports may be written.
    clock
        The workspace clock (relative times, triage times).
    """

    def __init__(
        self,
        *,
        photometry: PhotometryRepository,
        catalogue: SourceRepository,
        stored_stats: VariabilityStatsRepository,
        candidates: ESECandidateRepository,
        survey: SurveyCompute,
        settings: SourcesSettings,
        fits: FitsImageService,
        images: ImageService,
        batch: BatchRunner,
        cache: ProductCache,
        audit: AuditTrail,
        paths: PathPolicy,
        clock: Clock,
    ):
        self._photometry = photometry
        self._catalogue = catalogue
        self._stored_stats = stored_stats
        self._candidates = candidates
        self._survey = survey
        self._settings = settings
        self._fits = fits
        self._images = images
        self._batch = batch
        self._cache = cache
        self._audit = audit
        self._paths = paths
        self._clock = clock

    def _mjd_bounds(
        self, start: TimeLike | None, end: TimeLike | None
    ) -> tuple[float | None, float | None]:
        return _fluxdata.mjd_bounds(start, end, now=self._clock.now())

    def __repr__(self) -> str:
        return (
            "<SourceService: catalog, get, cone, within, crossmatch, lightcurve, forced, "
            "plot_lightcurve, "
            "stamps, plot_stamps, variability, eta_v_thresholds, eta_v_candidates, "
            "plot_eta_v, presets, ese_candidates, compare_stored, triage, normalisation, "
            "dataset, export, to_qtable, load_votable>"
        )

    # -- catalogue -----------------------------------------------------------------------
    def catalog(self, *, limit: int | None = DEFAULT_LIMIT, engine: str = "auto") -> pd.DataFrame:
        """The ``sources`` table when filled, else derived from photometry (error-weighted
        position, detection count, first/last MJD, mean flux, NVSS flux);
        ``df.attrs["derived"]`` says which.  A catalogue derived from a survey-scale
        photometry table comes from the photometry dataset (``engine`` as in
        :meth:`variability`), not from a GROUP BY in SQLite per call."""
        from dsa110_ws.repositories import finish

        if not self._catalogue.derived:
            return self._catalogue.find(limit=limit)
        engine = self._engine(engine)
        if engine == "sqlite":
            df = self._catalogue.find(limit=limit)
        else:
            full = self._survey.catalogue(engine=engine)
            df = finish(
                full if limit is None else full.iloc[: limit + 1],
                table="sources (derived from photometry)",
                limit=limit,
            )
        df.attrs.update(derived=True, engine=engine)
        return df

    def _engine(self, engine: str) -> str:
        return self._survey.engine(engine, self._photometry.approx_rows)

    def get(self, source_id: str) -> Record:
        """One source as a frozen ``SourceRecord``; :class:`NotFoundError` if unknown."""
        return self._catalogue.get(str(source_id))

    def cone(
        self, position: Any, radius: Any, *, limit: int | None = DEFAULT_LIMIT
    ) -> pd.DataFrame:
        """Sources within ``radius`` (angle ``Quantity``, or degrees) of ``position``
        (``SkyCoord`` or ``(ra_deg, dec_deg)``), nearest first, with exact ``sep_deg``."""
        return _catalog.cone(self._catalogue, position, radius, limit=limit)

    def within(self, area: Any, *, limit: int | None = DEFAULT_LIMIT) -> pd.DataFrame:
        """Sources inside ``area``: a ``mocpy.MOC`` (e.g. ``w.coverage.night(n).moc``), a MOC
        FITS file, an astropy-regions sky region or a DS9 region string (regions exactly)."""
        return _catalog.within(self._catalogue, area, limit=limit)

    def crossmatch(self, positions: Any, *, max_sep: Any = None) -> pd.DataFrame:
        """Each of your positions (``SkyCoord``, or a DataFrame/Table with RA/Dec in degrees)
        matched to the nearest catalogue source: ``source_id`` (None beyond ``max_sep``,
        default 30 arcsec), ``nearest_source_id``, ``sep_arcsec``, ``matched``."""
        from astropy import units as u

        return _catalog.crossmatch(
            lambda: self.catalog(limit=None),
            positions,
            max_sep=30 * u.arcsec if max_sep is None else max_sep,
        )

    # -- light curves -----------------------------------------------------------------------
    def lightcurve(
        self,
        source_id: str,
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        normalised: bool | str = True,
        normalisation: Normalisation | None = None,
        forced: bool = False,
    ) -> pd.DataFrame:
        """One source's measurements in observation order (``mjd``, ``time_utc``,
        ``flux_jy``, ``flux_err_jy``, ``image_path``...), within [start, end) (ISO date, MJD
        or ``Time``).  ``normalised``: True = the stored normalised flux when every row has
        it, else raw; False = raw; ``"reference"`` = raw divided by the reference-source
        correction (pass ``normalisation=`` to reuse one).  ``attrs["flux_column"]`` says
        which was used.  ``forced=True``: forced photometry at the catalogue position in
        every image that covered it (:meth:`forced`), with ``detected`` and
        ``upper_limit_jy``; raw image fluxes unless ``normalised="reference"``."""
        lo, hi = self._mjd_bounds(start, end)
        if _lightcurves.wants_reference(normalised) and normalisation is None:
            normalisation = self.normalisation(start=start, end=end)
        if forced:
            lc = _forcedrun.as_lightcurve(self.forced(source_id, start=start, end=end))
            return _forcedrun.normalise(lc, normalisation)
        return _lightcurves.lightcurve(
            self._photometry,
            self._catalogue,
            source_id,
            start_mjd=lo,
            end_mjd=hi,
            normalised=normalised,
            normalisation=normalisation,
        )

    def forced(
        self,
        target: Any,
        *,
        images: Any = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        type: str | None = "5min",  # noqa: A002 - the pipeline's column name
        beam: tuple[float, float, float] | None = None,
        detection_sigma: float = 3.0,
        limit_sigma: float = 3.0,
        mode: str = "auto",
        workers: int | None = None,
        progress: bool = False,
        use_cache: bool = True,
    ) -> pd.DataFrame:
        """Forced photometry at a fixed position in each image: a measurement or an upper limit
        from every image that covered it.

        ``target``: a source id (its catalogue position), a ``SkyCoord`` or ICRS
        ``(ra_deg, dec_deg)``.  ``images``: a table with a ``path`` column
        (``w.images.find(...)``) or FITS paths; by default the registered images of
        ``type`` observed in [start, end) whose footprint holds the position.  One row per
        image (``status``: detected, upper_limit, outside, edge, blanked, no_beam,
        noisy_box, failed), with ``flux_jy`` = the fitted beam amplitude ``peak_jyb``
        (Jy/beam), ``flux_err_jy`` its local rms, ``snr``, ``detected`` (snr >=
        ``detection_sigma``) and ``upper_limit_jy`` (``limit_sigma`` x error, non-detections
        only).  ``beam`` (arcsec, arcsec, deg) replaces the images' own.  Runs on ``w.batch``
        (``mode``, ``workers``) and keeps each image's result in ``w.cache``.
        Definitions: :mod:`dsa110_ws.services.sources._forced`.
        """
        return _forcedrun.run(
            target,
            catalogue=self._catalogue,
            images_service=self._images,
            fits=self._fits,
            cache=self._cache,
            batch=self._batch,
            images=images,
            start=start,
            end=end,
            type=type,
            beam=beam,
            detection_sigma=detection_sigma,
            limit_sigma=limit_sigma,
            mode=mode,
            workers=workers,
            progress=progress,
            use_cache=use_cache,
        )

    def plot_lightcurve(
        self,
        source_id: str | pd.DataFrame,
        ax: Any = None,
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        normalised: bool | str = True,
        forced: bool = False,
        time_axis: str = "utc",
        mark: tuple[float, float] | None = None,
        **errorbar_kw: Any,
    ) -> Any:
        """Error-bar light curve (mJy) against UTC date (``time_axis="mjd"`` for MJD);
        ``mark`` shades an MJD interval (e.g. a candidate's dip); ``forced=True`` plots
        forced photometry, non-detections as downward arrows at their upper limits.
        ``source_id`` may also be a light curve or a :meth:`forced` table.  Returns the Axes."""
        if isinstance(source_id, pd.DataFrame):
            lc = _forcedrun.as_lightcurve(source_id) if "status" in source_id else source_id
        else:
            lc = self.lightcurve(
                source_id, start=start, end=end, normalised=normalised, forced=forced
            )
        return _lightcurves.plot_lightcurve(lc, ax, time_axis=time_axis, mark=mark, **errorbar_kw)

    def stamps(
        self,
        source_id: str,
        *,
        size: Any = None,
        max_epochs: int = 12,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
    ) -> _stamps.StampStrip:
        """Cutouts (``size`` angle, default 10 arcmin) of the source from up to
        ``max_epochs`` epochs spread over its light curve, with one shared display range."""
        from astropy.coordinates import SkyCoord

        lc = self.lightcurve(source_id, start=start, end=end, normalised=False)
        rec = self.get(source_id)
        position = SkyCoord(float(rec.ra_deg), float(rec.dec_deg), unit="deg")
        return _stamps.make_stamps(
            str(source_id), lc, position, self._fits.cutout, size=size, max_epochs=max_epochs
        )

    def plot_stamps(
        self,
        source_id: Any,
        axes: Any = None,
        *,
        size: Any = None,
        max_epochs: int = 12,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        cmap: str = "inferno",
    ) -> Any:
        """The stamp strip (one brightness scale for all panels); ``source_id`` may also be
        a strip from :meth:`stamps`.  Returns the array of Axes."""
        strip = (
            source_id
            if isinstance(source_id, _stamps.StampStrip)
            else self.stamps(source_id, size=size, max_epochs=max_epochs, start=start, end=end)
        )
        return _stamps.plot_stamps(strip, axes, cmap=cmap)

    # -- variability ---------------------------------------------------------------------
    def variability(
        self,
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        min_epochs: int = 2,
        flux: str = "auto",
        source_ids: Sequence[str] | None = None,
        preset: str | None = "moderate",
        normalisation: Normalisation | None = None,
        engine: str = "auto",
        progress: ProgressArg = True,
        timescales: Mapping[str, float] | None = None,
    ) -> pd.DataFrame:
        """Variability metrics of every source at once (one read, no loop per source).

        One row per source: ``n_epochs``, ``mean_flux_jy``, ``std_flux_jy``, ``v``, ``eta``,
        ``chi2_nu``, ``sigma_deviation``, ``vs_max``/``m_max`` with their epoch pair
        (``vs_mjd_a``, ``vs_mjd_b``...), the deepest dip, ``flux_column``; with ``preset``
        also ``chi2_sigma``, ``eta_sigma``, ``score``, ``ese_like``, ``is_candidate``.
        Per timescale (``timescales``: name = bin width in days; default
        ``[sources] variability_timescales``, ``night`` and ``week``) the two-epoch
        metrics on measurements averaged per bin: ``n_bins_night``, ``vs_max_night``,
        ``vs_mjd_a_night``... (:mod:`dsa110_ws.services.sources._timescales`); the
        presets' two-epoch route uses ``night`` (``attrs["preset"]["timescale"]``).
        ``flux``: "auto" (stored normalised flux where complete per source, else raw),
        "normalized", "raw" or "reference".  ``attrs`` count rows and sources that were
        skipped (NaN flux, non-positive errors, too few epochs) and which flux was used.
        ``engine``: "auto" (SQLite for a small database, else the photometry dataset, on
        Dask for a large one: :mod:`dsa110_ws.services.sources._survey`), "sqlite",
        "dataset" (partition by partition here) or "dask"; ``attrs["engine"]`` says which
        ran (they agree to 1e-9).  ``progress``: tqdm bars for long work (True), none
        (False), or ``callback(stage, done, total)`` (a panel's progress bar).
        Definitions: :mod:`dsa110_ws.services.sources._variability`.
        """
        lo, hi = self._mjd_bounds(start, end)
        engine = self._engine(engine)
        scales = _timescales.checked(
            self._settings.variability_timescales if timescales is None else timescales
        )
        if flux == "reference" and normalisation is None:
            normalisation = self.normalisation(start=start, end=end, engine=engine)
        if engine == "sqlite":
            arrays = _fluxdata.load_flux_arrays(
                self._photometry,
                start_mjd=lo,
                end_mjd=hi,
                source_ids=source_ids,
                flux=flux,
                normalisation=normalisation,
            )
            table = _variability.compute_metrics(arrays, min_epochs=min_epochs, timescales=scales)
        else:
            table = self._survey.variability(
                engine=engine,
                flux=flux,
                min_epochs=min_epochs,
                start_mjd=lo,
                end_mjd=hi,
                source_ids=source_ids,
                normalisation=normalisation,
                progress=progress,
                timescales=scales,
            )
        table.attrs["engine"] = engine
        table.attrs["timescales"] = scales
        return table if preset is None else _ese.classify(table, preset)

    def eta_v_thresholds(
        self,
        table: pd.DataFrame,
        *,
        sigma: float | tuple[float, float] = 3.0,
        method: str = "robust",
    ) -> dict[str, Any]:
        """Gaussian fits to log10(eta) and log10(V) and thresholds ``sigma`` above them
        (``method="mle"``: mean/std as VAST tools; "robust": median/MAD)."""
        return _ese.eta_v_fit(table, sigma=sigma, method=method)

    def eta_v_candidates(
        self,
        table: pd.DataFrame,
        *,
        sigma: float | tuple[float, float] = 3.0,
        method: str = "robust",
    ) -> pd.DataFrame:
        """Sources above both eta-V thresholds, highest eta first."""
        fit = self.eta_v_thresholds(table, sigma=sigma, method=method)
        sel = (table["eta"] > fit["eta_threshold"]) & (table["v"] > fit["v_threshold"])
        out = table[sel].sort_values("eta", ascending=False).reset_index(drop=True)
        out.attrs.update(table.attrs)
        out.attrs["eta_v_fit"] = fit
        return out

    def plot_eta_v(
        self,
        table: pd.DataFrame,
        ax: Any = None,
        *,
        sigma: float | tuple[float, float] = 3.0,
        method: str = "robust",
    ) -> Any:
        """The eta-V diagnostic with its thresholds; returns the Axes."""
        return _ese.plot_eta_v(table, self.eta_v_thresholds(table, sigma=sigma, method=method), ax)

    # -- ESE candidates ------------------------------------------------------------------------
    def presets(self) -> pd.DataFrame:
        """The conservative / moderate / sensitive thresholds, one row each."""
        import dataclasses

        return pd.DataFrame([dataclasses.asdict(p) for p in _ese.PRESETS.values()])

    def ese_candidates(
        self,
        *,
        preset: str = "moderate",
        table: pd.DataFrame | None = None,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        flux: str = "auto",
        **thresholds: Any,
    ) -> pd.DataFrame:
        """Candidates at ``preset`` (thresholds may be overridden by name), best ``score``
        first, with positions and the pipeline's stored status.  Pass ``table`` (from
        :meth:`variability`) to avoid reading the photometry again."""
        if table is None:
            table = self.variability(start=start, end=end, flux=flux, preset=None)
        classified = _ese.classify(table, preset, **thresholds)
        cands = classified[classified["is_candidate"]]
        cands = cands.sort_values("score", ascending=False, kind="stable").reset_index(drop=True)
        return _stored.decorate(cands, classified.attrs, self._catalogue, self._candidates)

    def compare_stored(
        self, *, table: pd.DataFrame | None = None, preset: str = "moderate", rtol: float = 1e-6
    ) -> pd.DataFrame:
        """The pipeline's stored ``variability_stats`` / ``ese_candidates`` against a fresh
        computation: per-metric values, ``disagree``, ``stale``, ``candidate_disagreement``;
        ``attrs`` summarise."""
        if table is None:
            table = self.variability(preset=preset)
        elif "is_candidate" not in table.columns:
            table = _ese.classify(table, preset)
        return _stored.compare(self._stored_stats, self._candidates, table, rtol=rtol)

    def triage(
        self, target: int | str, status: str = "investigated", *, note: str | None = None
    ) -> ActionResult:
        """Mark an ESE candidate (id, or source id) "investigated" or "dismissed" (or back
        to "active"), with a note: one audited transaction, only when writes are allowed."""
        return _stored.triage(
            self._candidates,
            self._catalogue,
            self._audit,
            target,
            status,
            at=self._clock.now_unix(),
            note=note,
        )

    # -- normalisation and export -----------------------------------------------------------
    def normalisation(
        self,
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        engine: str = "auto",
        **params: Any,
    ) -> Normalisation:
        """Per-image flux corrections from bright stable reference sources (median ratio to
        baseline, MAD 3-sigma rejection, >= 3 references, errors propagated):
        ``.corrections`` (the series), ``.references``, ``.apply_to(lightcurve)``.
        ``engine`` as in :meth:`variability`.  Parameters:
        :func:`dsa110_ws.services.sources._normalise.solve`."""
        lo, hi = self._mjd_bounds(start, end)
        engine = self._engine(engine)
        if engine != "sqlite":
            return self._survey.normalisation(engine=engine, start_mjd=lo, end_mjd=hi, **params)
        _, rows = _fluxdata.read_rows(
            self._photometry, start_mjd=lo, end_mjd=hi, flux="raw", image=True
        )
        return _normalise.solve_frame(rows, **params)

    def dataset(
        self, *, refresh: bool = True, full: bool = False, progress: ProgressArg = True
    ) -> PhotometryDataset:
        """The photometry as a Parquet dataset (:mod:`dsa110_ws.services.sources._dataset`):
        ``.path`` (point pandas, DuckDB or polars at it), ``.to_arrow()``,
        ``.to_dask()``, ``.status()``.  Refreshed from the database first (built on
        first use; ``full=True`` also checks every row for in-place updates) unless
        ``refresh=False``."""
        ds = self._survey.dataset
        if refresh:
            ds.refresh(full=full, progress=progress)
        return ds

    def export(
        self,
        df: pd.DataFrame,
        path: str | os.PathLike[str],
        *,
        format: str | None = None,
        overwrite: bool = False,
        serialization: str = "auto",
    ) -> Path:  # noqa: A002
        """Write a light curve or table as CSV or VOTable (``format``, else from the suffix:
        .xml/.vot -> VOTable 1.4 with units, UCDs, UTC time columns and ``df.attrs`` as
        PARAM/INFO; BINARY2 from 10,000 rows, or as ``serialization`` says); never among
        the pipeline's files.  Returns the path."""
        return _export.export_table(
            self._paths, df, path, format=format, overwrite=overwrite, serialization=serialization
        )

    def to_qtable(self, df: pd.DataFrame) -> Any:
        """A table as an astropy ``QTable``: units, ``Time`` columns (UTC), UCDs in each
        column's ``meta["ucd"]``, ``df.attrs`` as ``meta``."""
        return _votable.to_qtable(df)

    def load_votable(self, path: str | os.PathLike[str]) -> Any:
        """Read a VOTable (e.g. one :meth:`export` wrote) back as the same ``QTable``."""
        return _votable.read_votable(path)
