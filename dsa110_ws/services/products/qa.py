"""Quality assessment of images and calibration tables from the files themselves (``w.qa``).

Image QA (docs/science.md) takes the first 2-D plane, ignores blank pixels and measures the
robust rms (1.4826 x MAD refined by iterative 3-sigma clipping -- the old backend used an
unclipped rms), the peak, the dynamic range, the beam, islands above 5 sigma and the blanked
fraction.  Caltable QA reads the solutions.  Both grade with explicit :class:`Check` records
against thresholds from the settings tables ``[qa.image]`` and ``[qa.cal]`` (defaults and
meanings in :data:`IMAGE_QA_DEFAULTS` / :data:`CAL_QA_DEFAULTS`), and both are cached by file
identity and thresholds.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dsa110_ws.core.settings import QACalSettings, QAImageSettings, QAMSSettings
from dsa110_ws.errors import ConfigurationError, CorruptFileError, InvalidQueryError, one_line
from dsa110_ws.services.products._calqa import CalQAResult, grade_caltable, ungradable_caltable
from dsa110_ws.services.products._checks import CAL_QA_DEFAULTS, IMAGE_QA_DEFAULTS, Check
from dsa110_ws.services.products._gainqa import GainQAResult, grade_gains, ungradable_gains
from dsa110_ws.services.products._imageqa import ImageQAResult, grade_image
from dsa110_ws.services.products._msqa import MSQAResult, grade_ms, ungradable_ms

if TYPE_CHECKING:
    from dsa110_ws.core.paths import PathPolicy
    from dsa110_ws.services.products.cache import ProductCache
    from dsa110_ws.services.products.caltables import CaltableService
    from dsa110_ws.services.products.fits import FitsImageService
    from dsa110_ws.services.products.ms import MSService

__all__ = [
    "QAService",
    "ImageQAResult",
    "CalQAResult",
    "GainQAResult",
    "MSQAResult",
    "Check",
    "IMAGE_QA_DEFAULTS",
    "CAL_QA_DEFAULTS",
]

PathLike = str | os.PathLike[str]


class QAService:
    """Image and caltable QA (``w.qa``)."""

    def __init__(
        self,
        paths: PathPolicy,
        fits: FitsImageService,
        cal: CaltableService,
        cache: ProductCache,
        *,
        image_settings: QAImageSettings | None = None,
        cal_settings: QACalSettings | None = None,
        ms: MSService | None = None,
        ms_settings: QAMSSettings | None = None,
    ):
        self._paths = paths
        self._fits = fits
        self._cal = cal
        self._cache = cache
        self._ms = ms
        self._settings = {
            "image": image_settings or QAImageSettings(),
            "cal": cal_settings or QACalSettings(),
            "ms": ms_settings or QAMSSettings(),
        }

    def __repr__(self) -> str:
        return (
            "<QAService: image(path), peers(images), ms(path), cal(path), gains(path), "
            "plot_gains(path), thresholds(kind)>"
        )

    def thresholds(self, kind: str = "image", **overrides: Any) -> dict[str, float]:
        """The thresholds in force for ``kind`` (``"image"``, ``"cal"`` or ``"ms"``): defaults,
        then the settings table ``[qa.<kind>]``, then ``overrides`` (validated like the
        settings)."""
        if kind not in self._settings:
            raise InvalidQueryError(f"QA kind must be 'image', 'cal' or 'ms', not {kind!r}.")
        section = self._settings[kind]
        if overrides:
            from pydantic import ValidationError

            try:
                section = type(section).model_validate({**section.model_dump(), **overrides})
            except ValidationError as exc:
                first = exc.errors()[0]
                raise ConfigurationError(
                    f"QA threshold override {'.'.join(map(str, first['loc']))}: "
                    f"{first['msg']}; known [qa.{kind}] thresholds: "
                    f"{sorted(type(section).model_fields)}."
                ) from None
        return {k: float(v) for k, v in section.model_dump().items()}

    def image(
        self, path: PathLike, *, thresholds: Mapping[str, Any] | None = None, use_cache: bool = True
    ) -> ImageQAResult:
        """Grade one FITS image from its pixels.

        Parameters
        ----------
        path
            FITS image inside the data roots.
        thresholds
            Overrides of the ``[qa.image]`` thresholds for this call.
        use_cache
            ``False`` recomputes (and refreshes the cache entry).

        Returns
        -------
        ImageQAResult
            Metrics, ``grade`` (good / warning / bad) and the ``checks`` behind it.
        """
        t = self.thresholds("image", **dict(thresholds or {}))
        p = self._paths.product(path, what="FITS image", expect="file")

        def compute() -> ImageQAResult:
            stats = self._fits.stats(p, island_sigma=t["island_sigma"], use_cache=use_cache)
            return grade_image(stats, self._fits.header(p), t)

        key = {k: v for k, v in t.items() if not k.startswith("peer_")}  # peers: w.qa.peers
        return self._cache.get_or_compute(
            "qa.image",
            p,
            key,
            compute,
            encode=ImageQAResult.to_dict,
            decode=ImageQAResult.from_dict,
            use_cache=use_cache,
        )

    def cal(
        self, path: PathLike, *, thresholds: Mapping[str, Any] | None = None, use_cache: bool = True
    ) -> CalQAResult:
        """Grade one CASA calibration table from its solutions (flags, amplitudes, phases,
        SNR, dead antennas), with per-antenna and per-spw breakdowns."""
        t = self.thresholds("cal", **dict(thresholds or {}))
        p = self._paths.product(path, what="calibration table", expect="dir")

        def compute() -> CalQAResult:
            try:
                sol = self._cal.load(p)
            except CorruptFileError as exc:
                return ungradable_caltable(str(p), one_line(exc))
            return grade_caltable(sol, t)

        return self._cache.get_or_compute(
            "qa.cal",
            p,
            t,
            compute,
            encode=CalQAResult.to_dict,
            decode=CalQAResult.from_dict,
            use_cache=use_cache,
        )

    def gains(
        self, path: PathLike, *, thresholds: Mapping[str, Any] | None = None, use_cache: bool = True
    ) -> GainQAResult:
        """Gain QA per antenna of a calibration table: median SNR, chi-squared (a CHI2 column,
        when present) and the scatter between successive solutions in amplitude and phase
        (along time, or along channel for a single-time bandpass), graded against the
        ``gain_*`` thresholds of ``[qa.cal]``; the noisy antennas are named (see
        :class:`GainQAResult`)."""
        t = self.thresholds("cal", **dict(thresholds or {}))
        p = self._paths.product(path, what="calibration table", expect="dir")

        def compute() -> GainQAResult:
            try:
                sol = self._cal.load(p)
            except CorruptFileError as exc:
                return ungradable_gains(str(p), one_line(exc))
            return grade_gains(sol, t)

        return self._cache.get_or_compute(
            "qa.gains",
            p,
            t,
            compute,
            encode=GainQAResult.to_dict,
            decode=GainQAResult.from_dict,
            use_cache=use_cache,
        )

    def plot_gains(
        self,
        path: PathLike,
        ax: Any = None,
        *,
        y: str = "phase",
        spw: int | None = None,
        correlation: int = 0,
    ) -> Any:
        """Every antenna's gain amplitude (``y="amp"``) or phase along the solution axis, the
        antennas :meth:`gains` found noisy in red; returns the Axes."""
        from dsa110_ws.services.products._gainplot import plot_gain_qa

        result = self.gains(path)
        return plot_gain_qa(self._cal.load(path), result, ax, y=y, spw=spw, correlation=correlation)

    def peers(
        self,
        images: Any,
        *,
        thresholds: Mapping[str, Any] | None = None,
        use_cache: bool = True,
    ) -> Any:
        """Image QA of many images, each also compared with its peers (same declination strip,
        observed within a window of it): extra check records beside the absolute ones.

        Parameters
        ----------
        images
            A DataFrame of the image catalogue (``w.images.find(...)``: ``path``, ``obs_mjd``,
            ``center_dec_deg``) or a list of FITS paths (time and declination then come from
            each header's DATE-OBS and centre).
        thresholds
            Overrides of ``[qa.image]`` (the absolute thresholds and the ``peer_*`` ones).

        Returns
        -------
        pandas.DataFrame
            One row per image, in the given order: ``path, obs_mjd, dec_deg``, the absolute
            ``grade`` (as :meth:`image`; ``"unreadable"`` with ``error`` when the file cannot
            be read), ``rms_jy, beam_major_arcsec, beam_minor_arcsec, n_islands``, per metric
            ``<metric>_peer_median`` and ``<metric>_z``, ``n_peers``, ``peer_checks``,
            ``peer_grade``, ``peer_reasons`` and ``grade_with_peers`` (the worse of the two).
        """
        from dsa110_ws.services.products._peers import peer_table

        t = self.thresholds("image", **dict(thresholds or {}))
        table = self._peer_inputs(images, thresholds, use_cache)
        out = peer_table(table, t)
        rank = {"good": 0, "unknown": 1, "warning": 2, "bad": 3, "unreadable": 4}
        out["grade_with_peers"] = [
            g if rank.get(g, 4) >= rank.get(p, 0) else p
            for g, p in zip(out["grade"], out["peer_grade"], strict=True)
        ]
        return out

    def _peer_inputs(
        self, images: Any, thresholds: Mapping[str, Any] | None, use_cache: bool
    ) -> Any:
        """path, obs_mjd, dec_deg, grade, error and the peer metrics of every image."""
        import numpy as np
        import pandas as pd

        from dsa110_ws.errors import WorkspaceError, one_line
        from dsa110_ws.services.products._peers import PEER_METRICS

        if isinstance(images, pd.DataFrame):
            if "path" not in images.columns:
                raise InvalidQueryError("w.qa.peers needs a DataFrame with a 'path' column.")
            df = images
        else:
            df = pd.DataFrame({"path": [str(p) for p in images]})
        obs = df["obs_mjd"] if "obs_mjd" in df else pd.Series(np.nan, index=df.index)
        dec_col = "center_dec_deg" if "center_dec_deg" in df else "dec_deg"
        decs = df[dec_col] if dec_col in df else pd.Series(np.nan, index=df.index)
        rows = []
        for path, t_mjd, dec in zip(df["path"], obs, decs, strict=True):
            row: dict[str, Any] = {"path": str(path), "obs_mjd": t_mjd, "dec_deg": dec}
            try:
                r = self.image(path, thresholds=thresholds, use_cache=use_cache)
                row.update({c: getattr(r, c) for c in PEER_METRICS}, grade=r.grade, error=None)
                if not (pd.notna(t_mjd) and pd.notna(dec)):
                    row.update(self._header_time_dec(path))
            except WorkspaceError as exc:
                row.update(
                    {c: np.nan for c in PEER_METRICS}, grade="unreadable", error=one_line(exc)
                )
            rows.append(row)
        cols = ["path", "obs_mjd", "dec_deg", "grade", *PEER_METRICS, "error"]
        return pd.DataFrame(rows, columns=cols)

    def _header_time_dec(self, path: PathLike) -> dict[str, float]:
        from dsa110_ws.core.time import to_mjd

        h = self._fits.header(path)
        t = to_mjd(h.date_obs) if h.date_obs else float("nan")
        dec = float(h.center.icrs.dec.deg) if h.center is not None else float("nan")
        return {"obs_mjd": t, "dec_deg": dec}

    def ms(self, path: PathLike, *, thresholds: Mapping[str, Any] | None = None) -> MSQAResult:
        """Grade a Measurement Set from its flags (``w.ms.flag_stats``, cached): the flagged
        fraction of the cross-correlations and the share of fully flagged antennas, against
        ``[qa.ms]``."""
        if self._ms is None:
            raise ConfigurationError("This QAService was built without an MSService.")
        t = self.thresholds("ms", **dict(thresholds or {}))
        try:
            flags = self._ms.flag_stats(path)
        except CorruptFileError as exc:
            return ungradable_ms(str(path), one_line(exc))
        return grade_ms(flags, t)
