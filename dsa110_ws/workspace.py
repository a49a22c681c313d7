"""The Workspace: settings, the pipeline database, repositories and services, wired once."""

from __future__ import annotations

import functools
import importlib
import sys
import threading
from pathlib import Path
from typing import Any

from dsa110_ws._util.paths import confine
from dsa110_ws.config import Settings, load_settings

__all__ = ["Workspace", "connect", "SERVICES"]

#: Service attribute -> "module:Class".  Each class is built lazily as ``Class(workspace)``.
SERVICES: dict[str, str] = {
    "fits": "dsa110_ws.services.fits:FitsImageService",
    "qa": "dsa110_ws.services.qa:QAService",
    "ms": "dsa110_ws.services.ms:MSService",
    "cal": "dsa110_ws.services.caltables:CaltableService",
    "batch": "dsa110_ws.services.batch:BatchRunner",
    "cache": "dsa110_ws.services.cache:ProductCache",
    "sources": "dsa110_ws.services.sources:SourceService",
    "jobs": "dsa110_ws.services.jobs:JobService",
    "actions": "dsa110_ws.services.actions:OperatorActions",
    "queue": "dsa110_ws.services.queue:QueueService",
    "logs": "dsa110_ws.services.logs:LogService",
    "health": "dsa110_ws.services.health:HealthService",
    "calhealth": "dsa110_ws.services.calhealth:CalibrationHealthService",
    "stats": "dsa110_ws.services.stats:StatsService",
}


class Workspace:
    """Entry point of the package: ``w = dsa110_ws.connect()``.

    ``w.repos.<table>`` are the repositories (``w.images`` is a shortcut for the images
    repository); ``w.qa``, ``w.sources``, ``w.health`` ... are services, built on first use.
    Nothing touches the database until it is needed.
    """

    def __init__(self, settings: Settings | None = None):
        self.settings = settings if settings is not None else load_settings()
        self._lock = threading.RLock()
        self._services: dict[str, Any] = {}

    def __repr__(self) -> str:
        kind = "demo" if self.settings.is_demo else "pipeline"
        return f"<Workspace {kind} state {self.settings.database_target}>"

    def __dir__(self) -> list[str]:
        return sorted({"settings", "db", "repos", "images", "state", "now", "open_path",
                       "open_log_path", *SERVICES})

    # -- infrastructure --------------------------------------------------------------
    @functools.cached_property
    def db(self):  # -> Database
        """The pipeline database (one engine per workspace)."""
        from dsa110_ws.repositories import Database

        s = self.settings
        if s.database_url:
            return Database(s.database_url, busy_timeout_s=s.busy_timeout_s,
                            allow_writes=s.allow_writes, variable="DSA110_WS_DATABASE_URL")
        if s.pipeline_db is None:
            from dsa110_ws.errors import ConfigurationError

            raise ConfigurationError(
                "No pipeline database configured: set PIPELINE_DB (or DSA110_WS_DATABASE_URL), "
                "or use dsa110_ws.connect() for the demo state.")
        return Database(s.pipeline_db, busy_timeout_s=s.busy_timeout_s,
                        allow_writes=s.allow_writes)

    @functools.cached_property
    def repos(self):  # -> Repositories
        """One repository per pipeline table."""
        from dsa110_ws.repositories import Repositories

        return Repositories(self.db, now=self.settings.now)

    @property
    def images(self):  # -> ImageRepository
        """Shortcut for ``w.repos.images``."""
        return self.repos.images

    @functools.cached_property
    def state(self):  # -> StateDB
        """The workspace's own database (audit records, cached results)."""
        from dsa110_ws.repositories.state import StateDB

        return StateDB(self.settings.state_dir)

    def now(self):  # -> astropy.time.Time
        """The workspace clock: ``settings.now`` when frozen (the demo), else the real time."""
        from astropy.time import Time

        from dsa110_ws._util.timeparse import to_time

        return to_time(self.settings.now) if self.settings.now else Time.now()

    def open_path(self, path: str | Path, *, what: str = "product file",
                  must_exist: bool = True) -> Path:
        """Resolve a product path and check it lies inside the data roots."""
        return confine(path, self.settings.data_roots, what=what, must_exist=must_exist)

    def open_log_path(self, path: str | Path, *, must_exist: bool = True) -> Path:
        """Resolve a log path and check it lies inside the log roots."""
        return confine(path, self.settings.log_roots, what="log file",
                       variable="DSA110_WS_LOG_ROOTS", must_exist=must_exist)

    # -- services --------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        target = SERVICES.get(name)
        if target is None:
            raise AttributeError(f"{type(self).__name__!s} has no attribute {name!r}")
        with self._lock:
            if name not in self._services:
                module, _, cls = target.partition(":")
                self._services[name] = getattr(importlib.import_module(module), cls)(self)
            return self._services[name]

    def close(self) -> None:
        """Release database connections."""
        if "db" in self.__dict__:
            self.db.dispose()


_announced = False


def connect(settings_file: str | Path | None = None, **overrides: Any) -> Workspace:
    """Build a :class:`Workspace` from arguments, the environment and the settings file.

    When no database is configured anywhere, the demo state is used: it is generated on
    first use into a per-user data directory (said once, on stderr).

    Parameters
    ----------
    settings_file
        TOML settings file (default ``$DSA110_WS_SETTINGS``).
    **overrides
        Settings fields (see ``dsa110_ws.config.FIELDS``) that win over everything else.
    """
    global _announced
    settings = load_settings(settings_file, **overrides)
    if settings.pipeline_db is None and settings.database_url is None:
        from dsa110_ws.demo import ensure_demo

        demo_dir, generated = ensure_demo(settings.demo_dir)
        if not _announced or generated:
            verb = "Generated" if generated else "Using"
            print(f"dsa110_ws: no PIPELINE_DB configured; {verb.lower()} the demo state in "
                  f"{demo_dir}", file=sys.stderr)
            _announced = True
        settings = load_settings(demo_dir / "settings.toml", **overrides)
        settings = _as_demo(settings)
    elif settings.settings_file and (settings.settings_file.parent / "truth.json").exists():
        settings = _as_demo(settings)  # a generated demo state opened through its settings file
    w = Workspace(settings)
    w.db  # noqa: B018 - fail early, with the path named, when the database is unusable
    return w


def _as_demo(settings: Settings) -> Settings:
    import dataclasses

    return dataclasses.replace(settings, is_demo=True)
