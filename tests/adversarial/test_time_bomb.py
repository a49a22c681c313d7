"""No time bombs: astropy's bundled leap-second table expires on 2027-06-28.  The workspace
configures astropy deliberately (``core.time.configure_astropy``: no IERS download, the
bundled table used past its expiry), so on an offline site every command keeps working, with
warnings as errors, after that date.

The clock is really set past the expiry: each case runs in a subprocess under libfaketime
(``LD_PRELOAD``, from the ``libfaketime`` test dependency), which moves the system clock every
library sees, astropy's and ERFA's included.  Nothing here touches the network: the
subprocesses get an empty astropy cache and never download."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import libfaketime  # a missing test dependency fails, never skips
import pytest

PAST_EXPIRY = "2028-03-01 12:00:00"
CODE_CLI = "import sys; from dsa110_ws.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture()
def env(tmp_path, demo_dir):
    """The environment of a subprocess: an empty home (no astropy cache or config), the
    demo's settings, a private state dir."""
    home = tmp_path / "home"
    for sub in (".cache", ".config"):
        (home / sub).mkdir(parents=True)
    out = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DSA110_WS_", "XDG_", "ASTROPY_", "LD_", "FAKETIME"))
    }
    out.update(
        HOME=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_CONFIG_HOME=str(home / ".config"),
        DSA110_WS_SETTINGS=str(demo_dir / "settings.toml"),
        DSA110_WS_STATE_DIR=str(tmp_path / "state"),
    )
    return out


def _faked(env: dict[str, str], when: str = PAST_EXPIRY) -> dict[str, str]:
    needs_preload, additions = libfaketime.get_reload_information()
    assert needs_preload
    return {**env, **additions, "FAKETIME": f"@{when}"}


def _python(env: dict[str, str], code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_subprocess_clock_is_past_the_expiry(env):
    code = "import datetime as d, time; print(d.datetime.now(d.UTC).isoformat(), time.time())"
    res = _python(_faked(env), code)
    assert res.returncode == 0, res.stderr
    iso, unix = res.stdout.split()
    assert iso.startswith("2028-03-01T12:0") and float(unix) > 1835000000


def test_unconfigured_astropy_would_fail_there(env):
    """The oracle that the clock matters: astropy as shipped, told only not to download,
    warns that its leap-second file is expired (an error with warnings as errors)."""
    code = (
        "from astropy.utils import iers; iers.conf.auto_download = False\n"
        "from astropy.time import Time; print(Time('2028-02-29T12:00:00').tai.isot)"
    )
    res = _python(_faked(env), code)
    assert res.returncode != 0 and "expired" in res.stderr
    assert _python(env, code).returncode == 0  # today it passes


def test_the_workspace_converts_times_past_the_expiry(env):
    code = (
        "from dsa110_ws.core.time import to_time, Clock\n"
        "t = to_time('2028-02-29T12:00:00')\n"
        "print(t.tai.isot, t.tt.isot, Clock().now().isot[:10], to_time('now').isot[:4])"
    )
    res = _python(_faked(env), code)
    assert res.returncode == 0 and not res.stderr, res.stderr
    tai, tt, today, year = res.stdout.split()
    assert tai == "2028-02-29T12:00:37.000"  # TAI - UTC = 37 s, the last leap second (2017)
    assert tt == "2028-02-29T12:01:09.184"
    assert today == "2028-03-01" and year == "2028"


@pytest.fixture()
def casa_ms(casa_samples, tmp_path, env):
    """The CASA 3C273 sample (times in TAI) in a data root of its own."""
    settings = tmp_path / "casa-settings.toml"
    demo = Path(env["DSA110_WS_SETTINGS"]).parent
    settings.write_text(
        f'pipeline_db = "{demo / "pipeline.sqlite3"}"\ndata_roots = ["{casa_samples}"]\n'
    )
    env["DSA110_WS_SETTINGS"] = str(settings)
    return casa_samples / "vla_3c273_xband.ms"


def test_an_ms_in_tai_is_summarised_the_same_past_the_expiry(env, casa_ms):
    today = _python(env, CODE_CLI, "ms", "summary", str(casa_ms), "--json", "--no-flags")
    assert today.returncode == 0, today.stderr
    later = _python(_faked(env), CODE_CLI, "ms", "summary", str(casa_ms), "--json", "--no-flags")
    assert later.returncode == 0 and not later.stderr, later.stderr
    a, b = json.loads(today.stdout), json.loads(later.stdout)
    assert a["time_scale"] == "UTC (from TAI)" and a["time_start_utc"] == b["time_start_utc"]
    assert a["time_start_utc"].startswith("1989-06-27T")  # the sample's observation


@pytest.mark.parametrize(
    "args",
    [
        ["info", "--json"],
        ["stats", "--json"],
        ["cal", "health", "--json"],
    ],
)
def test_commands_keep_working_past_the_expiry(env, args, truth):
    res = _python(_faked(env), CODE_CLI, *args)
    assert res.returncode in (0, 1, 2, 3), res.stderr
    assert "Traceback" not in res.stderr and "Warning" not in res.stderr, res.stderr
    assert "unexpected" not in res.stderr
    json.loads(res.stdout)


def test_qa_of_an_image_past_the_expiry(env, truth, tmp_path):
    image = Path(truth["images"][0]["path"])
    copy = tmp_path / "copy.fits"
    shutil.copy2(image, copy)
    res = _python(_faked(env), CODE_CLI, "qa", "image", str(image), "--json", "--no-cache")
    assert res.returncode == 0 and not res.stderr, res.stderr
    assert json.loads(res.stdout)["grade"] in ("good", "warning", "bad")
    assert copy.read_bytes() == image.read_bytes()
