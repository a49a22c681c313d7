"""The real CASA Measurement Set (tests/data/casa_samples, see its README): the numbers the README
states, TAI times, the B1950 phase centre, flags -- read as CASA wrote them.

The committed copy of ``vla_3c273_xband.ms`` is the re-export of 2026-12-06 (every subtable
written whole): 1 spectral window of 1 channel at 8.085 GHz, 4 correlations.  An earlier copy
declared 0 rows in SPECTRAL_WINDOW, POLARIZATION and DATA_DESCRIPTION; the last test breaks a
private copy the same way to check that such an MS is reported, not guessed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.time import Time
from casacore import tables  # a missing casacore must fail, not skip

import dsa110_ws

MS = "vla_3c273_xband.ms"
#: 3C273 in the ICRF (J2000), for checking the B1950 -> J2000 conversion.
ICRF_3C273 = SkyCoord("12h29m06.6997s +02d03m08.598s", frame="icrs")


@pytest.fixture()
def casa_ws(demo_dir, casa_samples, state_dir):
    """A workspace whose only data root is the private copy of the CASA samples."""
    w = dsa110_ws.connect(
        demo_dir / "settings.toml", state_dir=state_dir, data_roots=[str(casa_samples)]
    )
    yield w
    w.close()


def _declare_rows(table_dir, n_rows):
    """Make ``table.dat`` declare ``n_rows`` rows (format version 2: a big-endian uInt after the
    version number that follows the 'Table' type name)."""
    dat = table_dir / "table.dat"
    raw = bytearray(dat.read_bytes())
    at = raw.find(b"Table") + len("Table")
    assert int.from_bytes(raw[at : at + 4], "big") == 2
    raw[at + 4 : at + 8] = int(n_rows).to_bytes(4, "big")
    dat.write_bytes(bytes(raw))


def test_readme_numbers(casa_ws, casa_samples):
    s = casa_ws.ms.summary(casa_samples / MS)
    assert s.n_rows == 7669
    assert s.n_antennas == 28 and s.n_antennas_with_data == 27
    assert s.scans == (1, 2, 3) and s.integration_s == 10.0
    assert s.telescope == "VLA" and s.data_columns == ("DATA",)
    assert s.flag_fraction == pytest.approx(0.22, abs=0.01)
    json.dumps(s.to_dict(), allow_nan=False)


def test_flags_equal_a_direct_read(casa_ws, casa_samples):
    with tables.table(str(casa_samples / MS), ack=False) as t:
        flag, a1, a2 = t.getcol("FLAG"), t.getcol("ANTENNA1"), t.getcol("ANTENNA2")
        flag_row = t.getcol("FLAG_ROW")
    flag = flag | flag_row[:, None, None]
    fs = casa_ws.ms.flag_stats(casa_samples / MS, chunk_rows=1000)
    assert fs.n_visibilities == flag.size and fs.n_flagged == int(flag.sum())
    assert fs.flag_fraction == flag.mean()
    with tables.table(str(casa_samples / MS / "ANTENNA"), ack=False) as t:
        names = t.getcol("NAME")
    want = {names[k]: float(flag[(a1 == k) | (a2 == k)].mean()) for k in np.union1d(a1, a2)}
    assert fs.flag_fraction_per_antenna == pytest.approx(want, abs=1e-15)
    no_data = fs.per_antenna.loc[fs.per_antenna["n_visibilities"] == 0, "name"].tolist()
    assert no_data == [names[k] for k in range(28) if k not in set(a1) | set(a2)]


def test_tai_times_are_converted_to_utc(casa_ws, casa_samples):
    with tables.table(str(casa_samples / MS), ack=False) as t:
        assert t.getcolkeyword("TIME", "MEASINFO")["Ref"] == "TAI"
        t_min = float(t.getcol("TIME").min())
    s = casa_ws.ms.summary(casa_samples / MS)
    assert "TAI" in s.time_scale and s.time_scale.startswith("UTC")
    want = Time(t_min / 86400.0, format="mjd", scale="tai").utc.mjd
    assert s.time_start_mjd == pytest.approx(want, abs=1e-9)  # < 0.1 ms
    naive = t_min / 86400.0
    assert (naive - s.time_start_mjd) * 86400.0 == pytest.approx(24.0, abs=1e-3)  # TAI-UTC 1989
    assert s.time_start_utc.startswith("1989-06-27T")


def test_b1950_phase_centre_is_converted_to_j2000(casa_ws, casa_samples):
    with tables.table(str(casa_samples / MS / "FIELD"), ack=False) as t:
        assert t.getcolkeyword("PHASE_DIR", "MEASINFO")["Ref"].startswith("B1950")
        lon, lat = t.getcol("PHASE_DIR")[0, 0]
    field = casa_ws.ms.summary(casa_samples / MS).fields[0]
    assert field["name"] == "3C273" and field["frame"] == "J2000"
    got = SkyCoord(field["ra_deg"], field["dec_deg"], unit="deg", frame="fk5")
    assert got.separation(ICRF_3C273).arcsec < 0.1
    as_stored = SkyCoord(np.degrees(lon) % 360, np.degrees(lat), unit="deg", frame="fk5")
    assert as_stored.separation(ICRF_3C273).deg > 0.2  # B1950 read as J2000 would be wrong


def test_spectral_window_and_correlations_are_the_readme_ones(casa_ws, casa_samples):
    s = casa_ws.ms.summary(casa_samples / MS)
    assert len(s.spws) == 1
    spw = s.spws[0]
    assert spw["n_channels"] == 1 and spw["freq_min_hz"] == spw["freq_max_hz"] == 8.085e9
    assert spw["chan_width_hz"] == 50e6
    assert s.correlations == ("RR", "RL", "LR", "LL")
    assert s.warnings == ()
    fs = casa_ws.ms.flag_stats(casa_samples / MS)
    assert fs.per_correlation["correlation"].tolist() == ["RR", "RL", "LR", "LL"]
    assert fs.per_channel["freq_hz"].tolist() == [8.085e9]
    assert fs.per_spw["spw_id"].tolist() == [0]
    q = casa_ws.ms.quicklook(casa_samples / MS, x="frequency")
    assert q.x.tolist() == [8.085e9] * 4 and q.correlation.tolist() == ["RR", "RL", "LR", "LL"]


def test_flag_row_never_contradicts_flag(casa_samples):
    """CASA's flagdata summary counts FLAG only; we count FLAG or FLAG_ROW.  They agree on
    files CASA writes, where FLAG_ROW set means every FLAG of the row is set."""
    with tables.table(str(casa_samples / MS), ack=False) as t:
        flag, flag_row = t.getcol("FLAG"), t.getcol("FLAG_ROW")
    assert not (flag_row & ~flag.all(axis=(1, 2))).any()


def test_a_copy_with_empty_subtables_is_reported_not_guessed(casa_ws, casa_samples):
    for sub in ("SPECTRAL_WINDOW", "POLARIZATION", "DATA_DESCRIPTION"):
        _declare_rows(casa_samples / MS / sub, 0)
    s = casa_ws.ms.summary(casa_samples / MS)
    assert s.spws == () and s.correlations is None
    text = " ".join(s.warnings)
    assert "SPECTRAL_WINDOW subtable has no rows" in text and "POLARIZATION" in text
    assert "[1, 4]" in text  # the cell shape: 1 channel, 4 correlations
    q = casa_ws.ms.quicklook(casa_samples / MS, x="frequency")
    assert q.x.size == 4 and np.array_equal(q.x, np.zeros(4))  # channel index: no frequencies
