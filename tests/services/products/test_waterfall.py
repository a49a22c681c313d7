"""w.ms.waterfall: time x frequency images of amplitude, phase and flags, against direct
casacore reads (the oracle), the demo's injected RFI (truth.json) and the real CASA MS."""

from __future__ import annotations

import numpy as np
import pytest
from casacore import tables

import dsa110_ws
from dsa110_ws.errors import InvalidQueryError


def _direct(path, a, b, **kwargs):
    with np.errstate(invalid="ignore", divide="ignore"):  # fully flagged cells: NaN (masked)
        return _direct_read(path, a, b, **kwargs)


def _direct_read(path, a, b, *, quantity="amp", average="scalar", corrs=(0, 1), ddid=None):
    """The waterfall of baseline (a, b) (indices; None: every cross-correlation) computed from
    whole-column reads: rows grouped by TIME, data descriptions side by side by frequency."""
    with tables.table(str(path), ack=False) as t:
        data, flag = t.getcol("DATA"), t.getcol("FLAG")
        a1, a2, dd, time = (t.getcol(c) for c in ("ANTENNA1", "ANTENNA2", "DATA_DESC_ID", "TIME"))
        flag = flag | t.getcol("FLAG_ROW")[:, None, None]
    with tables.table(str(path / "DATA_DESCRIPTION"), ack=False) as t:
        spw_of = t.getcol("SPECTRAL_WINDOW_ID")
    with tables.table(str(path / "SPECTRAL_WINDOW"), ack=False) as t:
        freqs = [t.getcell("CHAN_FREQ", i) for i in range(t.nrows())]
    if a is None:
        sel, swap = a1 != a2, np.zeros(a1.size, bool)
    else:
        swap = (a1 == b) & (a2 == a)
        sel = ((a1 == a) & (a2 == b)) | swap
    if ddid is not None:
        sel &= dd == ddid
    data = np.where(swap[:, None, None], np.conj(data), data)[..., list(corrs)]
    good = ~flag[..., list(corrs)]
    times = np.unique(time[sel])
    ddids = sorted(set(dd[sel]))
    freq = np.concatenate([freqs[spw_of[d]] for d in ddids])
    out = np.full((times.size, freq.size), np.nan)
    frac = np.full_like(out, np.nan)
    for i, tt in enumerate(times):
        cols = []
        for d in ddids:
            r = sel & (time == tt) & (dd == d)
            v, g = data[r], good[r]
            n = g.sum(axis=(0, 2))
            if quantity == "phase" or average == "vector":
                z = np.where(g, v, 0).sum(axis=(0, 2)) / n
                val = np.abs(z) if quantity == "amp" else np.angle(z, deg=True)
            else:
                val = np.where(g, np.abs(v), 0).sum(axis=(0, 2)) / n
            cols.append((val, 1 - np.nan_to_num(n) / (g.shape[0] * g.shape[2])))
        out[i] = np.concatenate([c[0] for c in cols])
        frac[i] = np.concatenate([c[1] for c in cols])
    order = np.argsort(freq, kind="stable")
    return times, freq[order], out[:, order], frac[:, order]


@pytest.fixture(scope="module")
def demo_ms(truth):
    return truth["measurement_sets"][0]


def test_one_baseline_equals_a_direct_read(ws, demo_ms):
    from pathlib import Path

    path = Path(demo_ms["path"])
    for quantity, average in (("amp", "scalar"), ("amp", "vector"), ("phase", "vector")):
        wf = ws.ms.waterfall(path, quantity, baseline="1&5", average=average)
        times, freq, want, _ = _direct(path, 0, 4, quantity=quantity, average=average)
        assert wf.shape == want.shape == (12, 32)
        np.testing.assert_array_equal(wf.freq_hz, freq)
        got = wf.values.filled(np.nan)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4 if quantity == "phase" else 0)
        assert wf.time_mjd == pytest.approx(times / 86400.0, abs=1e-11)  # UTC in the file
        assert wf.n_rows_read == 2 * 12 and wf.correlations == ("XX", "YY")


def test_a_baseline_given_the_other_way_round_is_conjugated(ws, demo_ms):
    ab = ws.ms.waterfall(demo_ms["path"], "phase", baseline="1&5")
    ba = ws.ms.waterfall(demo_ms["path"], "phase", baseline=("5", "1"))
    np.testing.assert_allclose(ba.values.filled(0), -ab.values.filled(0), atol=1e-3)
    amp = ws.ms.waterfall(demo_ms["path"], "amp", baseline=(4, 0))  # indices
    np.testing.assert_allclose(
        amp.values.filled(0), ws.ms.waterfall(demo_ms["path"], baseline="1&5").values.filled(0)
    )


def test_every_cross_correlation_averaged_equals_a_direct_read(ws, demo_ms):
    from pathlib import Path

    path = Path(demo_ms["path"])
    wf = ws.ms.waterfall(path, "amp")
    _, _, want, frac = _direct(path, None, None)
    np.testing.assert_allclose(wf.values.filled(np.nan), want, rtol=1e-5)
    fl = ws.ms.waterfall(path, "flag")
    np.testing.assert_allclose(fl.values.filled(np.nan), frac, rtol=1e-12)
    assert fl.n_rows_read == 2 * 12 * 45  # cross-correlations only, both spws


def test_injected_rfi_is_flagged_in_the_waterfall(ws, demo_ms):
    """truth.json's RFI (a persistent band in both spws and a burst in spw 1) is exactly what a
    baseline of two good antennas shows as flagged."""
    wf = ws.ms.waterfall(demo_ms["path"], "flag", baseline="1&2")
    want = np.zeros(wf.shape, bool)
    for burst in demo_ms["rfi"]:
        cols = [
            int(np.flatnonzero((wf.spw_id == burst["spw"]) & (wf.channel == c))[0])
            for c in burst["channels"]
        ]
        want[np.ix_(burst["integrations"], cols)] = True
    np.testing.assert_array_equal(wf.values.filled(-1) == 1.0, want)
    assert set(np.unique(wf.values.filled(-1))) == {0.0, 1.0}
    persistent = {
        (b["spw"], c) for b in demo_ms["rfi"] if len(b["integrations"]) == 12 for c in b["channels"]
    }
    assert set(map(tuple, wf.flagged_channels[["spw_id", "channel"]].values.tolist())) == persistent
    amp = ws.ms.waterfall(demo_ms["path"], "amp", baseline="1&2")
    assert np.array_equal(np.ma.getmaskarray(amp.values), want)  # flagged RFI never averaged in
    assert amp.values.max() < 5.0  # the 25-60 Jy interference stays out


def test_an_antenna_averages_its_cross_correlations(ws, demo_ms, truth):
    dead = next(n for n, f in demo_ms["flag_fraction_per_antenna"].items() if f == 1.0)
    wf = ws.ms.waterfall(demo_ms["path"], "flag", baseline=dead)
    assert wf.n_rows_read == 2 * 12 * 9 and (wf.values == 1.0).all()
    assert "antenna " + dead in wf.selection
    amp = ws.ms.waterfall(demo_ms["path"], "amp", baseline=dead)
    assert np.ma.getmaskarray(amp.values).all()


def test_spw_and_correlation_selection(ws, demo_ms):
    one = ws.ms.waterfall(demo_ms["path"], "amp", baseline="1&5", spw=1, correlation="YY")
    assert one.shape == (12, 16) and set(one.spw_id) == {1} and one.correlations == ("YY",)
    from pathlib import Path

    _, _, want, _ = _direct(Path(demo_ms["path"]), 0, 4, corrs=(1,), ddid=1)
    np.testing.assert_allclose(one.values.filled(np.nan), want, rtol=1e-5)


def test_chunking_and_row_order_do_not_change_the_result(ws, demo_ms, scratch_root, scratch_ws):
    """A copy sorted by baseline (not the regular time-major order: read by scanning) and tiny
    chunks give the same waterfall as the strided read of the original."""
    reordered = scratch_root / "by_baseline.ms"
    with tables.table(demo_ms["path"], ack=False) as t:
        s = t.sort("ANTENNA1, ANTENNA2, DATA_DESC_ID, TIME")
        s.copy(str(reordered), deep=True).close()
        s.close()
    for baseline in ("1&5", "3", None):
        ref = scratch_ws.ms.waterfall(demo_ms["path"], "phase", baseline=baseline)
        for got in (
            scratch_ws.ms.waterfall(reordered, "phase", baseline=baseline),
            scratch_ws.ms.waterfall(demo_ms["path"], "phase", baseline=baseline, chunk_rows=7),
        ):
            np.testing.assert_allclose(got.values.filled(0), ref.values.filled(0), atol=1e-3)
            assert got.n_rows_read == ref.n_rows_read


def test_bad_requests_are_one_line_errors(ws, demo_ms):
    path = demo_ms["path"]
    for kwargs, words in (
        ({"quantity": "power"}, "quantity must be one of"),
        ({"average": "median"}, "average must be one of"),
        ({"baseline": "1&99"}, "No antenna named '99'"),
        ({"baseline": 42}, "out of range"),
        ({"spw": 7}, "No spectral window 7"),
        ({"correlation": "RR"}, "No correlation 'RR'"),
        ({"column": "CORRECTED_DATA"}, "has no CORRECTED_DATA column"),
        ({"chunk_rows": 0}, "chunk_rows must be a positive integer"),
    ):
        with pytest.raises(InvalidQueryError, match=words):
            ws.ms.waterfall(path, **kwargs)


def test_plot_has_units_utc_and_mhz(ws, demo_ms):
    import matplotlib.pyplot as plt

    ax = ws.ms.plot_waterfall(demo_ms["path"], quantity="amp", baseline="1&2")
    try:
        assert "frequency (MHz)" in ax.get_xlabel() and "time (UTC)" in ax.get_ylabel()
        assert "baseline 1&2" in ax.get_title()
        bar = ax.figure.axes[-1]
        assert "amplitude (DATA, uncalibrated" in bar.get_ylabel()
        ticks = [t.get_text() for t in ax.get_xticklabels()]
        assert any(t.startswith("1405") for t in ticks)  # the second spw, after the closed gap
    finally:
        plt.close(ax.figure)


@pytest.fixture()
def casa_ws(demo_dir, casa_samples, state_dir):
    w = dsa110_ws.connect(
        demo_dir / "settings.toml", state_dir=state_dir, data_roots=[str(casa_samples)]
    )
    yield w
    w.close()


def test_the_casa_ms_waterfall(casa_ws, casa_samples):
    """3C273 at 8.085 GHz (README): one channel, 23 integrations in TAI converted to UTC, the
    parallel hands RR and LL by default; values equal a direct read."""
    from astropy.time import Time

    path = casa_samples / "vla_3c273_xband.ms"
    wf = casa_ws.ms.waterfall(path, "amp")
    times, freq, want, frac = _direct(path, None, None, corrs=(0, 3))
    assert wf.shape == (times.size, 1) and wf.freq_hz.tolist() == [8.085e9]
    assert wf.chan_width_hz.tolist() == [50e6] and wf.correlations == ("RR", "LL")
    np.testing.assert_allclose(wf.values.filled(np.nan), want, rtol=1e-5)
    utc = Time(times / 86400.0, format="mjd", scale="tai").utc.mjd
    assert wf.time_mjd == pytest.approx(utc, abs=1e-9)
    assert wf.time_mjd[0] == pytest.approx(casa_ws.ms.summary(path).time_start_mjd, abs=1e-9)
    fl = casa_ws.ms.waterfall(path, "flag", correlation=["RR", "RL", "LR", "LL"])
    with tables.table(str(path), ack=False) as t:
        overall = float(t.getcol("FLAG").mean())
        tt, a1, a2 = t.getcol("TIME"), t.getcol("ANTENNA1"), t.getcol("ANTENNA2")
    rows_per_time = np.array([np.sum(tt == x) for x in times])
    assert float(np.average(fl.values[:, 0], weights=rows_per_time)) == pytest.approx(
        overall, rel=1e-12
    )  # the README's ~22 %
    assert overall == pytest.approx(0.22, abs=0.01)
    one = casa_ws.ms.waterfall(path, "phase", baseline=(0, 1), correlation="RR")
    assert one.n_rows_read == int(np.sum((a1 == 0) & (a2 == 1)))
