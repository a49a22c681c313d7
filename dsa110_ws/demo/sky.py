"""The demo's sky and observing plan: sources, their light curves, the snapshot timeline.

DSA-110 is a drift-scan transit array: each 5-minute snapshot is centred on the meridian,
so consecutive snapshots step 1.2534 deg in RA at a fixed declination and every source
is seen in about two snapshots per day.  An observing "night" is a UTC day.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np

__all__ = ["Snapshot", "SkyModel", "plan_snapshots", "make_sky", "OVRO_LON_DEG", "OVRO_LAT_DEG"]

OVRO_LON_DEG = -118.2825
OVRO_LAT_DEG = 37.2339
SIDEREAL_DEG_PER_S = 360.98564736629 / 86400.0
SNAPSHOT_S = 300.0
RA0_DEG = 150.0
DEC0_DEG = 37.0


@dataclasses.dataclass(frozen=True)
class Snapshot:
    night: str  # UTC date, YYYY-MM-DD
    night_index: int
    index: int  # within the night
    start_unix: float
    ra_deg: float
    dec_deg: float

    @property
    def mid_unix(self) -> float:
        return self.start_unix + SNAPSHOT_S / 2

    @property
    def mid_mjd(self) -> float:
        return self.mid_unix / 86400.0 + 40587.0

    @property
    def stamp(self) -> str:
        t = dt.datetime.fromtimestamp(self.start_unix, dt.UTC)
        return t.strftime("%Y-%m-%dT%H:%M:%S")


def _transit_unix(day: dt.date, ra_deg: float) -> float:
    """UTC (Unix seconds) on ``day`` when ``ra_deg`` crosses the OVRO meridian (GMST formula)."""
    t0 = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()
    jd0 = t0 / 86400.0 + 2440587.5
    gmst0 = (280.46061837 + 360.98564736629 * (jd0 - 2451545.0)) % 360.0
    lst0 = (gmst0 + OVRO_LON_DEG) % 360.0
    return t0 + ((ra_deg - lst0) % 360.0) / SIDEREAL_DEG_PER_S


def plan_snapshots(end_night: str, nights: int, per_night: int) -> list[Snapshot]:
    """The snapshot timeline: ``per_night`` consecutive snapshots on each of ``nights`` days."""
    last = dt.date.fromisoformat(end_night)
    out = []
    for n in range(nights):
        day = last - dt.timedelta(days=nights - 1 - n)
        t_start = _transit_unix(day, RA0_DEG) - SNAPSHOT_S / 2
        for i in range(per_night):
            ra = RA0_DEG + i * SNAPSHOT_S * SIDEREAL_DEG_PER_S
            out.append(Snapshot(day.isoformat(), n, i, t_start + i * SNAPSHOT_S, ra, DEC0_DEG))
    return out


@dataclasses.dataclass
class SkyModel:
    source_id: np.ndarray  # str
    ra_deg: np.ndarray
    dec_deg: np.ndarray
    flux_jy: np.ndarray  # baseline flux
    nvss_flux_mjy: np.ndarray
    kind: np.ndarray  # "constant", "sinusoid", "flare", "trend", "stochastic", "ese"
    night_factor: np.ndarray  # (n_sources, nights) multiplicative light curve per night
    ese_windows: dict[str, tuple[int, int]]  # source_id -> (first, last) dip night index


def _name(ra: float, dec: float) -> str:
    h = ra / 15.0
    hh, mm = int(h), int((h % 1) * 60)
    ss = ((h * 60) % 1) * 60
    sign = "+" if dec >= 0 else "-"
    d = abs(dec)
    dd, dm = int(d), int((d % 1) * 60)
    ds = int(round(((d * 60) % 1) * 60)) % 60
    return f"J{hh:02d}{mm:02d}{ss:04.1f}{sign}{dd:02d}{dm:02d}{ds:02d}"


def make_sky(
    rng: np.random.Generator,
    *,
    n_sources: int,
    nights: int,
    ra_span: tuple[float, float],
    dec_half_width: float,
) -> SkyModel:
    """Sources uniformly over the strip, fluxes log-uniform 8 mJy - 1 Jy, six variables."""
    ra = rng.uniform(*ra_span, n_sources)
    dec = DEC0_DEG + rng.uniform(-dec_half_width, dec_half_width, n_sources)
    flux = 10 ** rng.uniform(np.log10(0.008), np.log10(1.0), n_sources)
    ids = np.array([_name(r, d) for r, d in zip(ra, dec, strict=True)], dtype=object)
    # unique ids even if two names collide at 0.1 s resolution
    seen: dict[str, int] = {}
    for i, s in enumerate(ids):
        if s in seen:
            ids[i] = f"{s}_{seen[s]}"
        seen[s] = seen.get(s, 0) + 1
    nvss = flux * 1000.0 * rng.normal(1.0, 0.05, n_sources)
    kind = np.full(n_sources, "constant", dtype=object)
    factor = np.ones((n_sources, nights))
    bright = np.flatnonzero(flux > 0.05)
    chosen = rng.choice(bright, size=6, replace=False)
    x = np.arange(nights)
    shapes = {
        "sinusoid": 1.0 + 0.25 * np.sin(2 * np.pi * x / max(nights / 2.5, 2.0)),
        "flare": np.where(x == nights // 2, 2.5, 1.0),
        "trend": 1.0 + 0.5 * x / max(nights - 1, 1),
        "stochastic": rng.choice([0.75, 1.0, 1.3], size=nights),
    }
    for idx, (name, shape) in zip(chosen[:4], shapes.items(), strict=True):
        kind[idx], factor[idx] = name, shape
    ese_windows = {}
    for idx, (a, b, depth) in zip(chosen[4:], _ese_windows(nights), strict=True):
        kind[idx] = "ese"
        factor[idx, a : b + 1] = depth
        if a > 0:
            factor[idx, a - 1] = 1.12  # caustic brightening at the edges of the dip
        if b + 1 < nights:
            factor[idx, b + 1] = 1.12
        ese_windows[str(ids[idx])] = (a, b)
    return SkyModel(ids, ra, dec, flux, nvss, kind, factor, ese_windows)


def _ese_windows(nights: int) -> list[tuple[int, int, float]]:
    """Two multi-day dips (first night, last night, depth) that fit in the run."""
    third = max(nights // 3, 1)
    a1, b1 = third - 1 if third > 1 else 1, min(third + 1, nights - 2)
    a2, b2 = min(2 * third, nights - 2), min(2 * third + 1, nights - 2)
    return [(max(a1, 1), max(b1, a1, 1), 0.45), (max(a2, 1), max(b2, a2, 1), 0.6)]
