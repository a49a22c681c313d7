"""Workspace settings.

Precedence, highest first: an explicit argument to :func:`load_settings` (or
:func:`dsa110_ws.connect`), an environment variable, the TOML settings file
(``DSA110_WS_SETTINGS``), the default.  Every field is documented in ``FIELDS``; a test
fails when one is not.

A TOML settings file uses the field names as top-level keys; relative paths are taken
relative to the file.  Tables such as ``[qa.image]``, ``[health]`` or ``[reports]`` are
kept in :attr:`Settings.sections` for the services that read them.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dsa110_ws.errors import ConfigurationError

__all__ = ["Settings", "FIELDS", "load_settings", "default_demo_dir", "default_state_dir"]


def default_demo_dir() -> Path:
    """Per-user directory where the demo state is generated on first use."""
    import platformdirs

    return Path(platformdirs.user_data_dir("dsa110-ws")) / "demo"


def default_state_dir() -> Path:
    """Per-user directory for the workspace's own cache and database."""
    import platformdirs

    return Path(platformdirs.user_state_dir("dsa110-ws"))


@dataclasses.dataclass(frozen=True)
class FieldDoc:
    env: str | None
    kind: str
    doc: str


#: Every settings field: its environment variable, kind and meaning.
FIELDS: dict[str, FieldDoc] = {
    "pipeline_db": FieldDoc(
        "PIPELINE_DB", "path",
        "Path of the pipeline's SQLite database (pipeline.sqlite3); the variable the pipeline itself uses."),
    "database_url": FieldDoc(
        "DSA110_WS_DATABASE_URL", "str",
        "SQLAlchemy URL of the pipeline database (e.g. postgresql://...); wins over pipeline_db."),
    "data_roots": FieldDoc(
        "DSA110_WS_DATA_ROOTS", "paths",
        "Directories product files must resolve inside (after symlinks); os.pathsep-separated. "
        "Empty means unconfined."),
    "log_roots": FieldDoc(
        "DSA110_WS_LOG_ROOTS", "paths",
        "Directories holding per-run pipeline log files; os.pathsep-separated."),
    "state_dir": FieldDoc(
        "DSA110_WS_STATE_DIR", "path",
        "The workspace's own directory: derived-product cache and its small database "
        "(audit records, cached results). Never inside the pipeline's data."),
    "allow_writes": FieldDoc(
        "DSA110_WS_ALLOW_WRITES", "bool",
        "Allow operator actions that write to the pipeline database (off by default)."),
    "dask_scheduler": FieldDoc(
        "DSA110_WS_DASK_SCHEDULER", "str",
        "Address of a dask.distributed scheduler for batch work; empty means a local process pool."),
    "busy_timeout_s": FieldDoc(
        "DSA110_WS_BUSY_TIMEOUT", "float",
        "Seconds to wait for a locked SQLite database before raising DatabaseBusyError."),
    "now": FieldDoc(
        "DSA110_WS_NOW", "str",
        "Freeze the workspace clock at this UTC time (ISO). The demo state sets it to the moment "
        "it represents, so 'last night' and 'last 24 hours' mean the same every day."),
    "operator": FieldDoc(
        "DSA110_WS_OPERATOR", "str",
        "Name recorded in audit records for operator actions (default: the login name)."),
    "demo_dir": FieldDoc(
        "DSA110_WS_DEMO_DIR", "path",
        "Where the demo state is generated on first use when no database is configured."),
    "settings_file": FieldDoc(
        "DSA110_WS_SETTINGS", "path", "Optional TOML settings file (this list's keys, plus tables)."),
}


@dataclasses.dataclass(frozen=True)
class Settings:
    """Resolved workspace settings (see ``FIELDS`` for each field's meaning)."""

    pipeline_db: Path | None = None
    database_url: str | None = None
    data_roots: tuple[Path, ...] = ()
    log_roots: tuple[Path, ...] = ()
    state_dir: Path = dataclasses.field(default_factory=default_state_dir)
    allow_writes: bool = False
    dask_scheduler: str | None = None
    busy_timeout_s: float = 5.0
    now: str | None = None
    operator: str = dataclasses.field(default_factory=lambda: _login_name())
    demo_dir: Path = dataclasses.field(default_factory=default_demo_dir)
    settings_file: Path | None = None
    #: TOML tables other than the fields above, for services ([qa.image], [health], ...).
    sections: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    #: Where each field's value came from: "argument", "env:NAME", "file:PATH" or "default".
    origin: Mapping[str, str] = dataclasses.field(default_factory=dict, compare=False)
    #: True when these settings describe the generated demo state.
    is_demo: bool = False

    @property
    def database_target(self) -> str:
        """The database the workspace reads, as a URL or a path."""
        return self.database_url or str(self.pipeline_db)

    def section(self, dotted: str) -> dict[str, Any]:
        """A TOML table by dotted name (``"qa.image"``), or ``{}``."""
        node: Any = self.sections
        for part in dotted.split("."):
            node = node.get(part, {}) if isinstance(node, Mapping) else {}
        return dict(node) if isinstance(node, Mapping) else {}

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view (paths as strings)."""
        out: dict[str, Any] = {}
        for name in FIELDS:
            value = getattr(self, name)
            if isinstance(value, tuple):
                value = [str(v) for v in value]
            elif isinstance(value, Path):
                value = str(value)
            out[name] = value
        out["is_demo"] = self.is_demo
        return out


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _convert(name: str, value: Any, where: str, base: Path | None = None) -> Any:
    kind = FIELDS[name].kind
    try:
        if kind == "path":
            p = Path(os.path.expanduser(str(value)))
            return (base / p) if base is not None and not p.is_absolute() else p
        if kind == "paths":
            items = value.split(os.pathsep) if isinstance(value, str) else list(value)
            return tuple(_convert("state_dir", v, where, base) for v in items if str(v).strip())
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(f"not a boolean: {value!r}")
        if kind == "float":
            return float(value)
        return str(value) if str(value).strip() else None
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"Setting {name!r} from {where} is invalid ({exc}); expected a {kind}."
        ) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigurationError(
            f"Settings file {path} does not exist; fix DSA110_WS_SETTINGS or create the file."
        ) from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"Settings file {path} cannot be read: {exc}") from None


def load_settings(
    settings_file: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Resolve settings: explicit ``overrides`` > environment > TOML file > defaults.

    Parameters
    ----------
    settings_file
        TOML file to read; default ``$DSA110_WS_SETTINGS`` if set.
    env
        Environment to read (default ``os.environ``); for tests.
    **overrides
        Field values that win over everything else (``None`` means "not given").
    """
    env = os.environ if env is None else env
    unknown = set(overrides) - set(FIELDS) - {"sections"}
    if unknown:
        raise ConfigurationError(
            f"Unknown setting(s) {sorted(unknown)}; known settings: {sorted(FIELDS)}."
        )
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    file = settings_file if settings_file is not None else overrides.get("settings_file")
    if file is None and env.get("DSA110_WS_SETTINGS"):
        file = env["DSA110_WS_SETTINGS"]
    sections: dict[str, Any] = {}
    if file is not None:
        path = Path(os.path.expanduser(str(file))).resolve()
        data = _read_toml(path)
        for key, value in data.items():
            if key in FIELDS and key != "settings_file":
                values[key] = _convert(key, value, f"file {path}", base=path.parent)
                origin[key] = f"file:{path}"
            elif isinstance(value, Mapping):
                sections[key] = value
            else:
                raise ConfigurationError(
                    f"Settings file {path}: unknown key {key!r}; known keys: {sorted(FIELDS)}."
                )
        values["settings_file"], origin["settings_file"] = path, "argument"
    for name, doc in FIELDS.items():
        if doc.env and env.get(doc.env, "").strip() and name != "settings_file":
            values[name] = _convert(name, env[doc.env], f"environment variable {doc.env}")
            origin[name] = f"env:{doc.env}"
    for name, value in overrides.items():
        if value is None or name == "settings_file":
            continue
        if name == "sections":
            sections.update(value)
            continue
        values[name] = _convert(name, value, "argument")
        origin[name] = "argument"
    for name in FIELDS:
        origin.setdefault(name, "default")
    return Settings(**values, sections=sections, origin=origin)
