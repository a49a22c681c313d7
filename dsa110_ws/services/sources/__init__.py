"""Sources: the catalogue, light curves, forced photometry, variability, ESE candidates,
normalisation, VO export and SAMP.

The public surface of the sources domain (``w.sources`` is a :class:`SourceService`;
``w.dataset`` the :class:`PhotometryDataset`, the photometry as Parquet, that its
survey-wide reads use, through :class:`SurveyCompute` on a :class:`DaskCluster` or in
this process; ``w.samp`` the :class:`SampService`); everything else in this package is private to it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dsa110_ws.services.sources._cluster import DaskCluster
    from dsa110_ws.services.sources._dataset import PhotometryDataset
    from dsa110_ws.services.sources._ese import PRESETS, Preset
    from dsa110_ws.services.sources._normalise import Normalisation
    from dsa110_ws.services.sources._samp import SampService
    from dsa110_ws.services.sources._stamps import StampStrip
    from dsa110_ws.services.sources._survey import SurveyCompute
    from dsa110_ws.services.sources._variability import FluxArrays
    from dsa110_ws.services.sources.service import SourceService

__all__ = [
    "SourceService",
    "PhotometryDataset",
    "SurveyCompute",
    "DaskCluster",
    "SampService",
    "Normalisation",
    "StampStrip",
    "FluxArrays",
    "Preset",
    "PRESETS",
]

#: Public name -> the module of this package defining it (imported on first use).
_DEFINED_IN: dict[str, str] = {
    "SourceService": "service",
    "PhotometryDataset": "_dataset",
    "SurveyCompute": "_survey",
    "DaskCluster": "_cluster",
    "SampService": "_samp",
    "Normalisation": "_normalise",
    "StampStrip": "_stamps",
    "FluxArrays": "_variability",
    "Preset": "_ese",
    "PRESETS": "_ese",
}


def __getattr__(name: str) -> Any:
    module = _DEFINED_IN.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
