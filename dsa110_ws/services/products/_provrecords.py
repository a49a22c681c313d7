"""The records of an image's provenance: one :class:`ProvenanceLink` per link of the chain."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from dsa110_ws.core.severity import Severity, worst

__all__ = ["ProvenanceLink", "Provenance", "STEPS", "link", "gap"]

#: The steps of the chain, in the order the strip shows them.
STEPS = ("image", "job", "ms", "stages", "calibration", "pointing", "qa", "log")


@dataclasses.dataclass(frozen=True)
class ProvenanceLink:
    """One link of an image's provenance.

    ``step`` is one of :data:`STEPS`; ``status`` a severity word (``ok``, ``unknown``,
    ``warning``, ``critical``); ``label`` and ``detail`` are what the strip shows.  ``view``
    names the view that opens it (``"image"``, ``"ms"``, ``"cal"``, ``"job"``, ``"log"``) with
    its ``key`` (a path, a job id, a run id) and ``cli`` the command that shows it.  A missing
    link has ``missing`` set to the table (or file) that lacks it and ``status`` warning.
    ``data`` holds the values behind the detail (JSON-ready).
    """

    step: str
    label: str
    status: str
    detail: str
    view: str | None = None
    key: str | None = None
    cli: str | None = None
    missing: str | None = None
    data: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["data"] = _jsonable(self.data)
        return d


@dataclasses.dataclass(frozen=True)
class Provenance:
    """The chain behind one image (``w.provenance.image(path_or_id)``): ``links`` in the
    order of :data:`STEPS`; ``gaps`` says, per missing link, which table lacks what;
    ``status`` is the worst link status.  ``to_dict()`` is the JSON of
    ``dsa110-ws image provenance --json``."""

    image_path: str
    image_id: int | None
    ms_path: str | None
    links: tuple[ProvenanceLink, ...]

    @property
    def gaps(self) -> list[str]:
        return [f"{x.step}: {x.detail}" for x in self.links if x.missing]

    @property
    def complete(self) -> bool:
        """Every link was found (no table lacks a row the chain needs)."""
        return not any(x.missing for x in self.links)

    @property
    def status(self) -> str:
        return str(worst(Severity.parse(x.status) for x in self.links))

    def step(self, name: str) -> list[ProvenanceLink]:
        """The links of one step (a step may have several, e.g. one per caltable)."""
        return [x for x in self.links if x.step == name]

    def to_dict(self) -> dict[str, Any]:
        return {
            "image_path": self.image_path,
            "image_id": self.image_id,
            "ms_path": self.ms_path,
            "complete": self.complete,
            "status": self.status,
            "gaps": self.gaps,
            "links": [x.to_dict() for x in self.links],
        }


def link(step: str, label: str, status: Any, detail: str, **kw: Any) -> ProvenanceLink:
    """A found link (``status`` in any vocabulary :meth:`Severity.parse` knows)."""
    return ProvenanceLink(step, label, str(Severity.parse(status)), detail, **kw)


def gap(step: str, label: str, table: str, detail: str, **kw: Any) -> ProvenanceLink:
    """A missing link: ``table`` lacks it (``status`` warning)."""
    return ProvenanceLink(step, label, "warning", detail, missing=table, **kw)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
