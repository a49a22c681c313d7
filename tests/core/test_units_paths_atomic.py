"""core/units, core/paths and core/atomic."""

from __future__ import annotations

import os
import threading

import pytest
from astropy import units as u

from dsa110_ws.core.atomic import atomic_open, atomic_write
from dsa110_ws.core.paths import PathPolicy
from dsa110_ws.core.units import to_quantity, to_value
from dsa110_ws.errors import InvalidQueryError, NotPermittedError


@pytest.mark.parametrize(
    "value,deg",
    [
        (2.0, 2.0),
        ("30 arcmin", 0.5),
        ("1.5 deg", 1.5),
        (90 * u.arcsec, 0.025),
        ("2", 2.0),
    ],
)
def test_angles(value, deg):
    assert to_value(value, "deg", what="radius") == pytest.approx(deg)


@pytest.mark.parametrize(
    "bad", ["2 m", "lots", -1, 0, float("nan"), float("inf"), True, [1, 2] * u.deg]
)
def test_bad_angles_name_the_parameter(bad):
    with pytest.raises(InvalidQueryError, match="radius") as err:
        to_quantity(bad, "deg", what="radius")
    assert "\n" not in str(err.value)


def test_a_maximum():
    with pytest.raises(InvalidQueryError, match="maximum"):
        to_quantity("3 deg", "arcmin", what="size", maximum=60 * u.arcmin)


def test_paths_confine_reads_and_refuse_writes_among_the_pipelines_files(tmp_path):
    data, logs, db = tmp_path / "data", tmp_path / "logs", tmp_path / "state"
    for d in (data, logs, db):
        d.mkdir()
    (data / "a.fits").write_bytes(b"x")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "b.fits").write_bytes(b"y")
    (data / "escape").symlink_to(outside / "b.fits")
    policy = PathPolicy([data], [logs], protected=[db])
    assert policy.product(data / "a.fits") == (data / "a.fits").resolve()
    with pytest.raises(NotPermittedError, match="outside the data roots"):
        policy.product(data / "escape")
    for target in (data / "t.png", logs / "x.log", db / "pipeline.sqlite3", db / "sub" / "x"):
        with pytest.raises(NotPermittedError, match="never writes among the pipeline's files"):
            policy.output(target)
    assert policy.output(outside / "new" / "t.png") == (outside / "new" / "t.png").resolve()
    with pytest.raises(InvalidQueryError):
        policy.output("bad\x00name")


def test_atomic_writes_leave_old_or_new_never_half(tmp_path):
    target = tmp_path / "f.json"
    atomic_write(target, "old")
    with pytest.raises(RuntimeError), atomic_open(target, "w") as fh:
        fh.write("half of the new")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["f.json"]
    seen: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen.append(target.read_text())

    t = threading.Thread(target=reader)
    t.start()
    for i in range(200):
        atomic_write(target, f"version {i} " + "x" * 5000)
    stop.set()
    t.join()
    assert seen and all(
        s == "old" or (s.startswith("version ") and s.endswith("x" * 5000)) for s in seen
    )


def test_fifos_devices_and_the_wrong_kind_are_refused_before_anything_opens_them(tmp_path):
    import os

    from dsa110_ws.core.paths import PathPolicy
    from dsa110_ws.errors import InvalidQueryError, NotPermittedError

    fifo = tmp_path / "run.log"
    os.mkfifo(fifo)  # opening it for reading would block forever
    policy = PathPolicy(data_roots=[tmp_path], log_roots=[tmp_path])
    with pytest.raises(NotPermittedError, match="is a FIFO"):
        policy.log(fifo)
    with pytest.raises(NotPermittedError, match="is a FIFO"):
        policy.product(fifo)
    with pytest.raises(NotPermittedError, match="character device"):
        PathPolicy().product("/dev/zero")
    (tmp_path / "adir.log").mkdir()
    with pytest.raises(InvalidQueryError, match="is a directory, not a file"):
        policy.log(tmp_path / "adir.log")
    (tmp_path / "x.ms").write_text("not a table")
    with pytest.raises(InvalidQueryError, match="a casacore table is a directory"):
        policy.product(tmp_path / "x.ms", expect="dir")
    assert policy.product(tmp_path / "adir.log") == (tmp_path / "adir.log").resolve()
