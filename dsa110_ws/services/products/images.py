"""The pipeline's image catalogue (``w.images``): the ``images`` table with its stored QA.

Time filters use the observation time of each image's Measurement Set (``obs_mjd``),
never when the row was written; relative times ("yesterday") are read on the workspace
clock.  The pixels themselves are ``w.fits``; grading from the pixels is ``w.qa``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from dsa110_ws.core.time import TimeLike
from dsa110_ws.repositories import DEFAULT_LIMIT

if TYPE_CHECKING:
    from dsa110_ws.models import Record
    from dsa110_ws.repositories.caltables import CalibrationAppliedRepository
    from dsa110_ws.repositories.images import ImageRepository
    from dsa110_ws.repositories.qa import ImageQARepository

__all__ = ["ImageService", "NO_QA"]

#: Stored grade of an image the pipeline has no ``image_qa`` row for.
NO_QA = "no QA"


class ImageService:
    """The image catalogue (``w.images``).

    Parameters
    ----------
    images, image_qa, applied
        The ``images``, ``image_qa`` and ``calibration_applied`` repositories.
        (Relative times such as "yesterday" are read on the repositories' clock.)
    """

    def __init__(
        self,
        images: ImageRepository,
        image_qa: ImageQARepository,
        applied: CalibrationAppliedRepository,
    ):
        self._images = images
        self._qa = image_qa
        self._applied = applied

    def __repr__(self) -> str:
        return "<ImageService: find, get, get_by_path, types, stored_grades, applied_caltables>"

    def find(
        self,
        *,
        start: TimeLike | None = None,
        end: TimeLike | None = None,
        created_start: TimeLike | None = None,
        created_end: TimeLike | None = None,
        limit: int | None = DEFAULT_LIMIT,
        **filters: Any,
    ) -> pd.DataFrame:
        """Images matching every filter (see :meth:`ImageRepository.find
        <dsa110_ws.repositories.images.ImageRepository.find>`: ``type``, ``field_name``,
        ``dec_min_deg``/``dec_max_deg``, ``noise_min_jy``/``noise_max_jy``, ``ms_path``,
        ``path``, ``order``), observed in [start, end)."""
        return self._images.find(
            start=start,
            end=end,
            created_start=created_start,
            created_end=created_end,
            limit=limit,
            **filters,
        )

    def get(self, image_id: int) -> Record:
        """One image by its id (``NotFoundError`` if absent)."""
        return self._images.get(image_id)

    def get_by_path(self, path: str) -> Record:
        """One image by its file path (``NotFoundError`` if not registered)."""
        return self._images.get_by_path(path)

    def types(self) -> list[str]:
        """Distinct image types present (``5min``, ``pbcor``...)."""
        return self._images.types()

    def stored_grades(self, paths: pd.Series | list[str]) -> list[str]:
        """The pipeline's stored QA grade of each image path (its latest
        ``image_qa.overall_quality``), :data:`NO_QA` where there is none."""
        paths = list(paths)
        if not paths or not self._qa.available:
            return [NO_QA] * len(paths)
        qa = self._qa.find(image_path=paths, limit=None)
        latest = qa.drop_duplicates("image_path", keep="last").set_index("image_path")
        grades = pd.Series(paths).map(latest["overall_quality"])
        return [g if isinstance(g, str) else NO_QA for g in grades]

    def applied_caltables(self, ms_path: str | None) -> pd.DataFrame:
        """The ``calibration_applied`` rows of an image's MS (empty when unknown or when the
        database has no such table)."""
        if not isinstance(ms_path, str) or not self._applied.available:
            return pd.DataFrame()
        return self._applied.find(ms_path=ms_path, limit=None)
