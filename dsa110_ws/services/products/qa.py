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

from dsa110_ws.core.settings import QACalSettings, QAImageSettings
from dsa110_ws.errors import ConfigurationError, InvalidQueryError
from dsa110_ws.services.products._calqa import CalQAResult, grade_caltable
from dsa110_ws.services.products._checks import CAL_QA_DEFAULTS, IMAGE_QA_DEFAULTS, Check
from dsa110_ws.services.products._gainqa import GainQAResult, grade_gains
from dsa110_ws.services.products._imageqa import ImageQAResult, grade_image

if TYPE_CHECKING:
    from dsa110_ws.core.paths import PathPolicy
    from dsa110_ws.services.products.cache import ProductCache
    from dsa110_ws.services.products.caltables import CaltableService
    from dsa110_ws.services.products.fits import FitsImageService

__all__ = [
    "QAService",
    "ImageQAResult",
    "CalQAResult",
    "GainQAResult",
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
    ):
        self._paths = paths
        self._fits = fits
        self._cal = cal
        self._cache = cache
        self._settings = {
            "image": image_settings or QAImageSettings(),
            "cal": cal_settings or QACalSettings(),
        }

    def __repr__(self) -> str:
        return (
            "<QAService: image(path), cal(path), gains(path), plot_gains(path), thresholds(kind)>"
        )

    def thresholds(self, kind: str = "image", **overrides: Any) -> dict[str, float]:
        """The thresholds in force for ``kind`` (``"image"`` or ``"cal"``): defaults, then the
        settings table ``[qa.<kind>]``, then ``overrides`` (validated like the settings)."""
        if kind not in self._settings:
            raise InvalidQueryError(f"QA kind must be 'image' or 'cal', not {kind!r}.")
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
        p = self._paths.product(path, what="FITS image")

        def compute() -> ImageQAResult:
            stats = self._fits.stats(p, island_sigma=t["island_sigma"], use_cache=use_cache)
            return grade_image(stats, self._fits.header(p), t)

        return self._cache.get_or_compute(
            "qa.image",
            p,
            t,
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
        p = self._paths.product(path, what="calibration table")
        return self._cache.get_or_compute(
            "qa.cal",
            p,
            t,
            lambda: grade_caltable(self._cal.load(p), t),
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
        p = self._paths.product(path, what="calibration table")
        return self._cache.get_or_compute(
            "qa.gains",
            p,
            t,
            lambda: grade_gains(self._cal.load(p), t),
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
