"""Rendering image planes to PNG: downsampling, display limits, stretch, colour, orientation.

Orientation follows the astronomical convention: FITS row 0 (the lowest latitude for a
normal image) is the *bottom* row of the PNG, and columns keep their order, so with the usual
``CDELT1 < 0`` east (higher RA) is on the left.  Encoding is Pillow's; matplotlib is imported
only for colour maps other than grey.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import math

import numpy as np

from dsa110_ws.errors import InvalidQueryError

__all__ = ["RenderParams", "render_png", "display_limits", "stretch_unit", "downsample"]

SCALES = ("rms", "zscale", "percentile")
STRETCHES = ("asinh", "linear")
_NAN_RGB = (70, 80, 150)


@dataclasses.dataclass(frozen=True)
class RenderParams:
    """How a plane becomes a picture (every field is part of the thumbnail cache key).

    ``size`` is the longest side in pixels.  ``scale="rms"`` shows ``median +- vlim_sigma x
    rms`` (symmetric), the rms being the robust rms of the displayed pixels; ``"zscale"`` uses
    IRAF's zscale; ``"percentile"`` the ``percentiles`` of the displayed pixels.  The asinh
    stretch is linear within ``softening_sigma`` rms of the median and logarithmic beyond.
    """

    size: int = 256
    scale: str = "rms"
    stretch: str = "asinh"
    vlim_sigma: float = 50.0
    softening_sigma: float = 1.0
    percentiles: tuple[float, float] = (0.5, 99.5)
    cmap: str = "gray"

    def __post_init__(self) -> None:
        if not isinstance(self.size, (int, np.integer)) or not 8 <= int(self.size) <= 4096:
            raise InvalidQueryError(
                f"Thumbnail size {self.size!r} must be an integer from 8 to 4096 pixels."
            )
        if self.scale not in SCALES:
            raise InvalidQueryError(f"Unknown thumbnail scale {self.scale!r}; use one of {SCALES}.")
        if self.stretch not in STRETCHES:
            raise InvalidQueryError(f"Unknown stretch {self.stretch!r}; use one of {STRETCHES}.")
        lo, hi = self.percentiles
        if not (0 <= lo < hi <= 100) or not self.vlim_sigma > 0 or not self.softening_sigma > 0:
            raise InvalidQueryError(
                "Thumbnail limits need 0 <= percentiles[0] < percentiles[1] <= 100 and positive "
                f"vlim_sigma/softening_sigma (got {self.percentiles}, {self.vlim_sigma}, "
                f"{self.softening_sigma})."
            )
        object.__setattr__(self, "percentiles", (float(lo), float(hi)))
        object.__setattr__(self, "size", int(self.size))

    def key(self) -> dict:
        return dataclasses.asdict(self)


def downsample(plane: np.ndarray, size: int) -> np.ndarray:
    """Average ``plane`` over square blocks so its longest side is at most about ``2 x size``
    (NaN-aware: a block is NaN only when all its pixels are); float32 result."""
    ny, nx = plane.shape
    f = max(1, max(ny, nx) // (2 * size))
    if f == 1:
        return np.asarray(plane, dtype=np.float32)
    py, px = -ny % f, -nx % f
    a = np.asarray(plane, dtype=np.float32)
    if py or px:
        a = np.pad(a, ((0, py), (0, px)), constant_values=np.nan)
    shape = (a.shape[0] // f, f, a.shape[1] // f, f)
    finite = np.isfinite(a)
    if finite.all():
        return a.reshape(shape).mean(axis=(1, 3), dtype=np.float32)
    sums = np.where(finite, a, np.float32(0)).reshape(shape).sum(axis=(1, 3), dtype=np.float32)
    counts = finite.reshape(shape).sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.float32(np.nan)).astype(np.float32)


def display_limits(values: np.ndarray, p: RenderParams) -> tuple[float, float, float]:
    """``(low, high, centre)`` display limits of the finite ``values`` for ``p.scale``."""
    from dsa110_ws.services.products._imagestats import robust_stats

    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0, 1.0, 0.5
    if p.scale == "rms":
        st = robust_stats(finite.reshape(1, -1))
        rms = st.rms if st.rms > 0 else max(abs(st.maximum - st.median), 1e-30)
        half = p.vlim_sigma * rms
        return st.median - half, st.median + half, st.median
    if p.scale == "zscale":
        from astropy.visualization import ZScaleInterval

        lo, hi = ZScaleInterval().get_limits(finite)
    else:
        lo, hi = np.percentile(finite, p.percentiles)
    lo, hi = float(lo), float(hi)
    if not hi > lo:
        hi = lo + 1e-30 if lo == 0 else lo + abs(lo) * 1e-6
    return lo, hi, lo


def stretch_unit(
    values: np.ndarray, lo: float, hi: float, centre: float, p: RenderParams
) -> np.ndarray:
    """Map ``values`` to [0, 1]: linear or asinh, symmetric about ``centre`` for ``scale='rms'``."""
    v = np.asarray(values, dtype=np.float32)
    if p.scale == "rms":
        half = max(hi - centre, 1e-30)
        x = np.clip((v - np.float32(centre)) / np.float32(half), -1, 1)
        if p.stretch == "asinh":
            a = p.softening_sigma / p.vlim_sigma
            x = np.arcsinh(x / np.float32(a)) / np.float32(math.asinh(1 / a))
        return (x + 1) * np.float32(0.5)
    x = np.clip((v - np.float32(lo)) / np.float32(hi - lo), 0, 1)
    if p.stretch == "asinh":
        a = 0.1
        x = np.arcsinh(x / np.float32(a)) / np.float32(math.asinh(1 / a))
    return x


@functools.lru_cache(maxsize=16)
def _lut(cmap: str) -> np.ndarray | None:
    if cmap in ("gray", "grey", "greys_r"):
        return None
    try:
        import matplotlib

        colormap = matplotlib.colormaps[cmap]
    except (KeyError, ValueError):
        raise InvalidQueryError(
            f"Unknown colour map {cmap!r}; try 'gray', 'inferno' or 'viridis'."
        ) from None
    return (colormap(np.linspace(0, 1, 256))[:, :3] * 255 + 0.5).astype(np.uint8)


def _target_shape(ny: int, nx: int, size: int) -> tuple[int, int]:
    if ny >= nx:
        return size, max(1, round(nx * size / ny))
    return max(1, round(ny * size / nx)), size


def render_png(plane: np.ndarray, p: RenderParams) -> bytes:
    """Render a 2-D plane (row 0 = FITS row 0) to PNG bytes, row 0 at the bottom."""
    from PIL import Image

    ny, nx = plane.shape
    small = downsample(plane, p.size)
    lo, hi, centre = display_limits(small, p)
    blank = ~np.isfinite(small)
    unit = stretch_unit(np.where(blank, np.float32(centre), small), lo, hi, centre, p)
    th, tw = _target_shape(ny, nx, p.size)
    if unit.shape != (th, tw):
        shrinking = unit.shape[0] > th
        method = Image.Resampling.BOX if shrinking else Image.Resampling.NEAREST
        unit = np.asarray(Image.fromarray(unit.astype(np.float32)).resize((tw, th), method))
        blank = (
            np.asarray(
                Image.fromarray(blank.astype(np.uint8) * 255).resize(
                    (tw, th), Image.Resampling.NEAREST
                )
            )
            > 127
        )
    levels = np.clip(unit * 255.0 + 0.5, 0, 255).astype(np.uint8)[::-1]  # row 0 at the bottom
    blank = blank[::-1]
    lut = _lut(p.cmap)
    rgb = np.repeat(levels[..., None], 3, axis=2) if lut is None else lut[levels]
    if blank.any():
        rgb[blank] = _NAN_RGB
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG", compress_level=3)
    return buf.getvalue()
