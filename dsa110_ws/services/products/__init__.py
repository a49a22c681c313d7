"""Products: FITS images, Measurement Sets, calibration tables, their QA, thumbnails, batch work.

The public surface of the products domain; everything else in this package is private to
it.  Services: :class:`ImageService` (``w.images``, the pipeline's image catalogue),
:class:`FitsImageService` (``w.fits``), :class:`QAService` (``w.qa``), :class:`MSService`
(``w.ms``), :class:`CaltableService` (``w.cal``), :class:`BatchRunner` (``w.batch``) and
:class:`ProductCache` (``w.cache``), :class:`ProvenanceService` (``w.provenance``),
:class:`CoverageService` (``w.coverage``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dsa110_ws.services.products._calqa import CalQAResult
    from dsa110_ws.services.products._calsol import REGISTRY_TYPES, CalSolutions
    from dsa110_ws.services.products._checks import CAL_QA_DEFAULTS, IMAGE_QA_DEFAULTS, Check
    from dsa110_ws.services.products._fitsio import ImageHeader
    from dsa110_ws.services.products._gainqa import GainQAResult
    from dsa110_ws.services.products._imageqa import ImageQAResult
    from dsa110_ws.services.products._measure import ImageStats
    from dsa110_ws.services.products._msflags import FlagStats
    from dsa110_ws.services.products._msqa import MSQAResult
    from dsa110_ws.services.products._mssummary import MSSummary
    from dsa110_ws.services.products._msviews import QuickLook
    from dsa110_ws.services.products._view import ImageView, PixelBox
    from dsa110_ws.services.products._waterfall import Waterfall
    from dsa110_ws.services.products.batch import BatchRunner, ProductServices
    from dsa110_ws.services.products.cache import FileIdentity, ProductCache, file_identity
    from dsa110_ws.services.products.caltables import CaltableService
    from dsa110_ws.services.products.coverage import Coverage, CoverageService
    from dsa110_ws.services.products.fits import Cutout, FitsImageService
    from dsa110_ws.services.products.images import NO_QA, ImageService
    from dsa110_ws.services.products.ms import MSService
    from dsa110_ws.services.products.provenance import Provenance, ProvenanceLink, ProvenanceService
    from dsa110_ws.services.products.qa import QAService

__all__ = [
    "ImageService",
    "FitsImageService",
    "QAService",
    "MSService",
    "CaltableService",
    "ProvenanceService",
    "Provenance",
    "ProvenanceLink",
    "BatchRunner",
    "ProductCache",
    "CoverageService",
    "Coverage",
    "ProductServices",
    "ImageHeader",
    "ImageStats",
    "Cutout",
    "ImageView",
    "PixelBox",
    "ImageQAResult",
    "CalQAResult",
    "GainQAResult",
    "MSQAResult",
    "Check",
    "CalSolutions",
    "MSSummary",
    "FlagStats",
    "QuickLook",
    "Waterfall",
    "FileIdentity",
    "file_identity",
    "REGISTRY_TYPES",
    "IMAGE_QA_DEFAULTS",
    "CAL_QA_DEFAULTS",
    "NO_QA",
]

#: Public name -> the module of this package defining it (imported on first use, so
#: importing one service does not import the others).
_DEFINED_IN: dict[str, str] = {
    "CalQAResult": "_calqa",
    "REGISTRY_TYPES": "_calsol",
    "CalSolutions": "_calsol",
    "CAL_QA_DEFAULTS": "_checks",
    "IMAGE_QA_DEFAULTS": "_checks",
    "Check": "_checks",
    "ImageHeader": "_fitsio",
    "GainQAResult": "_gainqa",
    "ImageQAResult": "_imageqa",
    "ImageStats": "_measure",
    "FlagStats": "_msflags",
    "MSQAResult": "_msqa",
    "MSSummary": "_mssummary",
    "QuickLook": "_msviews",
    "Waterfall": "_waterfall",
    "ImageView": "_view",
    "PixelBox": "_view",
    "BatchRunner": "batch",
    "ProductServices": "batch",
    "FileIdentity": "cache",
    "ProductCache": "cache",
    "file_identity": "cache",
    "CaltableService": "caltables",
    "Coverage": "coverage",
    "CoverageService": "coverage",
    "Cutout": "fits",
    "FitsImageService": "fits",
    "NO_QA": "images",
    "ImageService": "images",
    "MSService": "ms",
    "ProvenanceService": "provenance",
    "Provenance": "provenance",
    "ProvenanceLink": "provenance",
    "QAService": "qa",
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
