"""DSA-110-like array geometry for the demo: antenna layout near OVRO, ENU <-> ITRF, UVW."""

from __future__ import annotations

import numpy as np

__all__ = [
    "OVRO_LAT_DEG",
    "OVRO_LON_DEG",
    "OVRO_HEIGHT_M",
    "dsa110_layout",
    "enu_to_itrf",
    "gmst_rad",
    "baseline_uvw",
]

#: OVRO / DSA-110 array reference: geodetic latitude, longitude (deg) and height (m).
OVRO_LAT_DEG, OVRO_LON_DEG, OVRO_HEIGHT_M = 37.2339, -118.2825, 1222.0


def dsa110_layout(n_antennas: int, *, seed: int = 0) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Make a DSA-110-like T-shaped array near OVRO.

    About two thirds of the antennas sit on a 1.2 km east-west arm centred on the array reference,
    the rest on a 1.5 km arm running north from it; positions are jittered with a seeded generator.

    Parameters
    ----------
    n_antennas : int
        Number of antennas (>= 2).
    seed : int, optional
        Seed for the position jitter.

    Returns
    -------
    names : list of str
        DSA-style antenna names ``'1'``, ``'2'``, ...
    itrf_positions_m : numpy.ndarray
        ``(n, 3)`` ITRF (WGS84 geocentric) X, Y, Z in metres.
    offsets_enu_m : numpy.ndarray
        ``(n, 2)`` east and north offsets from the array reference, metres.
    """
    if n_antennas < 2:
        raise ValueError(f"dsa110_layout needs at least 2 antennas, got {n_antennas}")
    rng = np.random.default_rng(seed)
    n_ew = int(np.ceil(2 * n_antennas / 3))
    n_ns = n_antennas - n_ew
    east = np.linspace(-600.0, 600.0, n_ew)
    east += rng.uniform(-0.2, 0.2, n_ew) * (1200.0 / max(n_ew, 2))
    north = np.linspace(1500.0 / max(n_ns, 1), 1500.0, n_ns)
    north += rng.uniform(-0.2, 0.2, n_ns) * (1500.0 / max(n_ns, 1))
    enu = np.zeros((n_antennas, 2))
    enu[:n_ew, 0] = east
    enu[n_ew:, 1] = north
    return [str(i + 1) for i in range(n_antennas)], enu_to_itrf(enu), enu


def enu_to_itrf(enu_m: np.ndarray) -> np.ndarray:
    """Convert ``(n, 2)`` east/north (or ``(n, 3)`` ENU) offsets at OVRO to ITRF XYZ, metres."""
    from astropy import units as u
    from astropy.coordinates import EarthLocation

    ref = EarthLocation.from_geodetic(
        OVRO_LON_DEG * u.deg, OVRO_LAT_DEG * u.deg, OVRO_HEIGHT_M * u.m
    )
    ref_xyz = np.array([ref.x.to_value(u.m), ref.y.to_value(u.m), ref.z.to_value(u.m)])
    enu = np.zeros((len(enu_m), 3))
    enu[:, : np.shape(enu_m)[1]] = enu_m
    lat, lon = np.deg2rad(OVRO_LAT_DEG), np.deg2rad(OVRO_LON_DEG)
    rot = np.array(
        [
            [-np.sin(lon), -np.sin(lat) * np.cos(lon), np.cos(lat) * np.cos(lon)],
            [np.cos(lon), -np.sin(lat) * np.sin(lon), np.cos(lat) * np.sin(lon)],
            [0.0, np.cos(lat), np.sin(lat)],
        ]
    )
    return ref_xyz + enu @ rot.T


def gmst_rad(mjd_utc: np.ndarray) -> np.ndarray:
    """Greenwich mean sidereal time (radians) for UTC MJD, ignoring UT1-UTC (< 1 s)."""
    days = np.asarray(mjd_utc, dtype=float) - 51544.5
    return np.deg2rad((280.46061837 + 360.98564736629 * days) % 360.0)


def baseline_uvw(
    antenna_itrf_m: np.ndarray,
    ant1: np.ndarray,
    ant2: np.ndarray,
    times_mjd_s: np.ndarray,
    ra_deg: float,
    dec_deg: float,
) -> np.ndarray:
    """UVW (m, J2000 frame) of baselines ``ant2 - ant1`` (CASA's convention).

    The ITRF baseline is rotated by GMST into the mean equator of date, then precessed back to
    J2000 (IAU 2006) and projected towards the J2000 phase centre. Nutation, polar motion and
    UT1-UTC are ignored: errors of ~1e-4 of the baseline length.

    Returns
    -------
    numpy.ndarray
        ``(n_times, n_baselines, 3)``.
    """
    import erfa

    bvec = antenna_itrf_m[ant2] - antenna_itrf_m[ant1]  # (n_bl, 3), ITRF
    mjd = np.asarray(times_mjd_s, dtype=float) / 86400.0
    theta = gmst_rad(mjd)
    cos_t, sin_t, zero, one = np.cos(theta), np.sin(theta), 0 * theta, 0 * theta + 1
    earth_rot = np.stack(  # ITRF -> mean equator of date: rotate by +GMST about z, (n_t, 3, 3)
        [np.stack([cos_t, -sin_t, zero], -1), np.stack([sin_t, cos_t, zero], -1),
         np.stack([zero, zero, one], -1)], axis=-2,
    )  # fmt: skip
    precess = erfa.pmat06(2400000.5, mjd)  # J2000 -> mean of date, (n_t, 3, 3)
    b_j2000 = np.einsum("tji,tjk,bk->tbi", precess, earth_rot, bvec)
    ra, dec = np.deg2rad(ra_deg), np.deg2rad(dec_deg)
    to_uvw = np.array(
        [
            [-np.sin(ra), np.cos(ra), 0.0],
            [-np.sin(dec) * np.cos(ra), -np.sin(dec) * np.sin(ra), np.cos(dec)],
            [np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)],
        ]
    )
    return b_j2000 @ to_uvw.T
