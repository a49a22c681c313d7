"""Session fixtures: one generated demo state (real SQLite, FITS, MS, caltables, logs)
shared read-only by the whole suite, and helpers to make workspaces over it."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from pathlib import Path

import pytest

SAMPLES = Path(__file__).parent / "data" / "casa_samples"

# Never let astropy try to download IERS tables (no network in CI).
os.environ.setdefault("ASTROPY_IERS_AUTO_DOWNLOAD", "0")


@pytest.fixture(scope="session", autouse=True)
def _isolated_user_dirs(tmp_path_factory):
    """Keep the per-user demo/state directories out of the real home during tests."""
    home = tmp_path_factory.mktemp("home")
    old = {k: os.environ.get(k) for k in ("XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")}
    os.environ["XDG_DATA_HOME"] = str(home / "data")
    os.environ["XDG_STATE_HOME"] = str(home / "state")
    os.environ["XDG_CACHE_HOME"] = str(home / "cache")
    for sub in ("data", "state", "cache"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    for var in (
        "PIPELINE_DB",
        "DSA110_WS_DATABASE_URL",
        "DSA110_WS_SETTINGS",
        "DSA110_WS_DATA_ROOTS",
        "DSA110_WS_LOG_ROOTS",
        "DSA110_WS_ALLOW_WRITES",
        "DSA110_WS_STATE_DIR",
        "DSA110_WS_NOW",
        "DSA110_WS_DEMO_DIR",
    ):
        os.environ.pop(var, None)
    from astropy.utils import iers

    iers.conf.auto_download = False
    yield
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if not p.is_dir()}


@pytest.fixture(scope="session", autouse=True)
def _shared_fixtures_stay_untouched():
    """Tests open copies of tests/data (casacore writes ``table.lock`` into any table it
    opens, even read-only): a file that appears there during the session is an error naming
    it, so the test that opened a shared fixture is found, not its lock files committed."""
    data = Path(__file__).parent / "data"
    before = _files_under(data)
    yield
    new = sorted(str(p.relative_to(data)) for p in _files_under(data) - before)
    if new:
        pytest.fail(
            f"files appeared under tests/data during the session (a test opened a shared "
            f"fixture instead of a copy): {', '.join(new[:5])}",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    """The default demo state, generated once per test session. Treat it as read-only.

    Its task queue's PostgreSQL server is started once here and held for the session, so
    the workspaces of the tests join it instead of starting and stopping it each time.
    It lives in its own ``/tmp`` directory, not pytest's: pytest makes its base directory
    private (0700) whenever a session starts, which would lock out the server's own user."""
    from dsa110_ws.demo import make_demo_state
    from dsa110_ws.demo.queue.day import start_queue_server

    base = Path(tempfile.mkdtemp(prefix="dsa110-demo-", dir="/tmp"))
    out = base / "state"
    make_demo_state(out)
    server = start_queue_server(out)
    yield out
    server.stop(force=True)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def truth(demo_dir) -> dict:
    from dsa110_ws.demo import load_truth

    return load_truth(demo_dir)


@pytest.fixture()
def state_dir(tmp_path) -> Path:
    return tmp_path / "ws-state"


@pytest.fixture()
def workspace(demo_dir, state_dir):
    """A read-only workspace over the session demo state, with its own state dir."""
    import dsa110_ws

    w = dsa110_ws.connect(demo_dir / "settings.toml", state_dir=state_dir)
    yield w
    w.close()


@pytest.fixture()
def writable_demo(tmp_path, demo_dir) -> Path:
    """A private copy of the demo database (products shared, read-only) that a test may
    modify; returns the directory holding its ``settings.toml``."""
    out = tmp_path / "writable"
    out.mkdir()
    shutil.copy2(demo_dir / "pipeline.sqlite3", out / "pipeline.sqlite3")
    shutil.copy2(demo_dir / "truth.json", out / "truth.json")
    settings = (demo_dir / "settings.toml").read_text()
    settings = settings.replace('data_roots = ["data"]', f'data_roots = ["{demo_dir / "data"}"]')
    settings = settings.replace('log_roots = ["logs"]', f'log_roots = ["{demo_dir / "logs"}"]')
    (out / "settings.toml").write_text(settings)
    return out


@pytest.fixture()
def casa_samples(tmp_path) -> Path:
    """Copies of the real CASA products (casacore writes lock files next to tables)."""
    dst = tmp_path / "casa"
    shutil.copytree(SAMPLES, dst)
    for p in dst.rglob("*"):
        p.chmod(p.stat().st_mode | 0o200)
    dst.chmod(dst.stat().st_mode | 0o200)
    return dst


@pytest.fixture()
def samp_hub(tmp_path, monkeypatch):
    """A SAMP hub (pyvo.samp, astropy's SAMP moved there) and a client that records what it
    receives; ``SAMP_HUB`` points the workspace at this hub's lock file."""
    from pyvo.samp import SAMPHubServer, SAMPIntegratedClient

    lock = tmp_path / "samp-lock"
    hub = SAMPHubServer(web_profile=False, lockfile=str(lock), addr="127.0.0.1", pool_size=2)
    hub.start()
    monkeypatch.setenv("SAMP_HUB", f"std-lockurl:{lock.as_uri()}")
    receiver = SAMPIntegratedClient(name="receiver", addr="127.0.0.1")
    receiver.connect(hub=hub)
    got: dict[str, dict] = {}
    events = {m: threading.Event() for m in ("table.load.votable", "coord.pointAt.sky")}

    def record(private_key, sender_id, msg_id, mtype, params, extra):
        got[mtype] = params
        events[mtype].set()

    for mtype in events:
        receiver.bind_receive_notification(mtype, record)
    yield got, events
    receiver.disconnect()
    hub.stop()
