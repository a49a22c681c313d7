"""Image QA from the pixels (docs/science.md): metrics, checks and the result record."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from dsa110_ws.services.products._checks import (
    Check,
    GradedMixin,
    grade_of,
    lower,
    upper,
)

__all__ = ["ImageQAResult", "grade_image"]


@dataclasses.dataclass(frozen=True)
class ImageQAResult(GradedMixin):
    """QA of one image, computed from its pixels (Jy/beam, arcsec, degrees).

    ``rms_jy`` is the clipped robust rms; ``peak_jy`` the maximum pixel (CASA ``imstat``'s
    ``max``) at ``peak_ra_deg``/``peak_dec_deg``, and ``peak_fit_jy`` the brightest component's
    fitted sub-pixel peak; ``median_jy`` the median of every finite pixel (imstat ``median``);
    ``dynamic_range = peak_jy / rms_jy``; ``n_islands`` counts islands above
    ``island_threshold_sigma``; ``checks`` say why the ``grade`` is what it is (see
    :class:`~dsa110_ws.services.products.ImageStats` and docs/casa-conventions.md).
    ``to_dict()`` is the stable JSON of ``dsa110-ws qa image --json``.
    """

    path: str
    rms_jy: float
    median_jy: float
    peak_jy: float
    peak_fit_jy: float
    peak_ra_deg: float | None
    peak_dec_deg: float | None
    dynamic_range: float
    beam_major_arcsec: float | None
    beam_minor_arcsec: float | None
    beam_pa_deg: float | None
    cell_arcsec: float | None
    n_islands: int
    island_threshold_sigma: float
    blanked_fraction: float
    n_pixels: int
    grade: str
    checks: tuple[Check, ...]

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "checks"}
        for k, v in d.items():
            if isinstance(v, float) and not math.isfinite(v):
                d[k] = None
        d["reasons"] = self.reasons
        d["checks"] = [c.to_dict() for c in self.checks]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ImageQAResult:
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        for k in (
            "rms_jy",
            "median_jy",
            "peak_jy",
            "peak_fit_jy",
            "dynamic_range",
            "blanked_fraction",
        ):
            kw[k] = math.nan if kw.get(k) is None else kw[k]
        kw["checks"] = tuple(Check.from_dict(c) for c in d.get("checks", []))
        return cls(**kw)

    def _repr_html_(self) -> str:
        import html

        from dsa110_ws.core.severity import from_grade

        colour = from_grade(self.grade).colour
        rows = "".join(
            f"<tr><td>{html.escape(c.metric)}</td><td>{c.verdict}</td><td>{html.escape(c.reason)}</td></tr>"
            for c in self.checks
        )
        return (
            f"<div><b>{html.escape(self.path)}</b>: <span style='color:{colour}'>{self.grade}</span>"
            f"<table><tr><th>metric</th><th>verdict</th><th>reason</th></tr>{rows}</table></div>"
        )


def grade_image(stats: Any, header: Any, t: dict[str, float]) -> ImageQAResult:
    """Grade an image from its :class:`ImageStats` and :class:`ImageHeader` with thresholds ``t``."""
    checks: list[Check] = []
    finite = stats.n_finite > 0
    rms = stats.rms_jy
    if not finite:
        checks.append(
            Check(
                "finite_pixels",
                0,
                1,
                ">=",
                "fail",
                "Every pixel is blank (NaN/inf): the image holds no data (its rms, peak and "
                "dynamic range do not exist).",
            )
        )
    elif not rms > 0:
        checks.append(
            Check(
                "rms_jy",
                rms,
                0.0,
                ">",
                "fail",
                "The image is constant (zero rms): nothing was imaged.",
            )
        )
    elif stats.jy_per_unit is None:
        checks.append(
            Check(
                "rms_jy",
                rms,
                None,
                "<=",
                "warn",
                f"The rms ({rms:.3g} {header.bunit}) is not graded: BUNIT is not a "
                "flux density unit.",
            )
        )
    else:
        checks.append(
            upper("rms_jy", rms, t["rms_warn_jy"], t["rms_max_jy"], "The robust rms", " Jy/beam")
        )
        dr = stats.peak_jy / rms
        checks.append(
            lower(
                "dynamic_range",
                dr,
                t["dynamic_range_min"],
                "The dynamic range",
                verdict="warn",
                fmt=".4g",
            )
        )
        checks.append(
            lower(
                "n_islands",
                stats.n_islands,
                t["n_islands_min"],
                f"The number of islands above {stats.island_threshold_sigma:g} sigma",
                verdict="warn",
                fmt=".0f",
            )
        )
    checks.append(
        upper(
            "blanked_fraction",
            stats.blanked_fraction,
            None,
            t["blanked_fraction_max"],
            "The blanked fraction",
            fmt=".3f",
        )
    )
    checks.extend(_beam_checks(header, t))
    checks.append(_unit_check(header))
    if header.center is None:
        checks.append(
            Check(
                "celestial_wcs",
                False,
                True,
                "present",
                "fail",
                "The header has no celestial WCS: positions cannot be measured.",
            )
        )
    dr = stats.peak_jy / rms if finite and rms > 0 else math.nan
    return ImageQAResult(
        path=stats.path,
        rms_jy=rms,
        median_jy=stats.median_jy,
        peak_jy=stats.peak_jy,
        peak_fit_jy=stats.peak_fit_jy,
        peak_ra_deg=stats.peak_ra_deg,
        peak_dec_deg=stats.peak_dec_deg,
        dynamic_range=dr,
        beam_major_arcsec=header.bmaj_arcsec,
        beam_minor_arcsec=header.bmin_arcsec,
        beam_pa_deg=header.bpa_deg,
        cell_arcsec=header.cell_arcsec,
        n_islands=stats.n_islands,
        island_threshold_sigma=stats.island_threshold_sigma,
        blanked_fraction=stats.blanked_fraction,
        n_pixels=stats.n_pixels,
        grade=grade_of(checks),
        checks=tuple(checks),
    )


def _beam_checks(header: Any, t: dict[str, float]) -> list[Check]:
    if not header.has_beam:
        note = getattr(header, "beam_note", None)
        reason = (
            f"The header's restoring beam is unusable ({note}): fluxes cannot be calibrated "
            "in Jy; the image's header needs valid BMAJ/BMIN (degrees)."
            if note
            else "No restoring beam in the header (BMAJ/BMIN missing): fluxes cannot be "
            "calibrated in Jy."
        )
        return [Check("beam", None, "BMAJ/BMIN", "present", "fail", reason)]
    out = [
        Check(
            "beam",
            header.beam_source,
            "BMAJ/BMIN",
            "present",
            "pass",
            f'Beam {header.bmaj_arcsec:.1f}" x {header.bmin_arcsec:.1f}" at '
            f"{header.bpa_deg or 0:.0f} deg ({header.beam_source}).",
        )
    ]
    if header.cell_arcsec:
        out.append(
            lower(
                "beam_minor_pixels",
                header.bmin_arcsec / header.cell_arcsec,
                t["beam_min_pixels"],
                "The beam minor axis in pixels",
            )
        )
    ratio = header.bmaj_arcsec / header.bmin_arcsec
    out.append(
        upper("beam_axis_ratio", ratio, None, t["beam_axis_ratio_max"], "The beam axis ratio")
    )
    return out


def _unit_check(header: Any) -> Check:
    from dsa110_ws.services.products._fitsio import unit_scale_to_jy

    if not header.bunit:
        return Check(
            "bunit",
            None,
            "Jy/beam",
            "flux unit",
            "warn",
            "No BUNIT in the header: pixel values are taken to be Jy/beam.",
        )
    if unit_scale_to_jy(header.bunit) is None:
        return Check(
            "bunit",
            header.bunit,
            "Jy/beam",
            "flux unit",
            "warn",
            f"BUNIT {header.bunit!r} is not a flux density unit: values are left in it.",
        )
    return Check(
        "bunit", header.bunit, "Jy/beam", "flux unit", "pass", f"Pixels in {header.bunit}."
    )
