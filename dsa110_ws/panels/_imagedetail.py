"""The selected image's detail in the image browser, as HTML: its header facts and the
products it came from (its MS and the caltables applied to it)."""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

from dsa110_ws.panels._format import beam_text
from dsa110_ws.panels._widgets import kv_html

__all__ = ["image_info_html", "products_html"]


def image_info_html(h: Any, image_id: Any) -> str:
    """Header facts of an image (``h``: what ``w.fits.header`` returns), units in labels."""
    centre = h.center
    return kv_html(
        [
            ("path", h.path),
            ("object", h.object),
            ("telescope", h.telescope),
            ("date-obs", h.date_obs),
            ("frequency (MHz)", (h.freq_hz or 0) / 1e6 or None),
            ("bandwidth (MHz)", (h.bandwidth_hz or 0) / 1e6 or None),
            ("beam", beam_text(h.bmaj_arcsec, h.bmin_arcsec, h.bpa_deg)),
            ("cell (arcsec)", h.cell_arcsec),
            ("size", " x ".join(map(str, h.plane_shape))),
            ("BUNIT", h.bunit),
            ("centre", None if centre is None else centre.to_string("hmsdms", precision=1)),
        ],
        title=f"Image {image_id}",
    )


def products_html(row: pd.Series, applied: pd.DataFrame) -> str:
    """The image's MS and the caltables applied to it (``calibration_applied`` rows)."""
    items = [f"<li>MS: <code>{html.escape(str(row.get('ms_path')))}</code></li>"]
    for _, a in applied.iterrows():
        ok = "applied" if a.get("success") in (1, True) else "FAILED"
        items.append(
            f"<li>caltable ({ok}): <code>{html.escape(str(a['caltable_path']))}</code></li>"
        )
    if applied.empty:
        items.append("<li>no calibration_applied record for this MS</li>")
    return f"<b>Products</b><ul class='dsa-image-links'>{''.join(items)}</ul>"
