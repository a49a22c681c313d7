"""Workspace settings.

Precedence, highest first: an explicit argument to :func:`load_settings` (or
:func:`dsa110_ws.connect`), an environment variable, the TOML settings file
(``DSA110_WS_SETTINGS``), the default.  Every field is documented in ``FIELDS``; a test
fails when one is not.

A TOML settings file uses the field names as top-level keys; relative paths are taken
relative to the file.  Its tables (``[qa.image]``, ``[health]``, ``[reports]`` ...) are
validated into typed sections (:mod:`dsa110_ws.core.settings`) when the settings load: an
unknown key or a wrong type is a :class:`ConfigurationError` naming the key, the file and
the expected type.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from dsa110_ws.errors import ConfigurationError

if TYPE_CHECKING:
    from dsa110_ws.core.settings import Sections

__all__ = [
    "Settings",
    "FIELDS",
    "load_settings",
    "default_demo_dir",
    "default_state_dir",
    "mask_url",
    "sqlite_url_path",
]

DEFAULT_QUEUE = "dsa110-pipeline"


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
    """A settings field: its environment variables (first set wins), kind and meaning."""

    env: tuple[str, ...]
    kind: str
    doc: str


#: Every settings field: its environment variables, kind and meaning.
FIELDS: dict[str, FieldDoc] = {
    "pipeline_db": FieldDoc(
        ("PIPELINE_DB", "DSA110_DB_SQLITE_PATH", "PIPELINE_PRODUCTS_DB"),
        "path",
        "Path of the pipeline's SQLite database (pipeline.sqlite3), or a sqlite:/// URL; "
        "the variables the pipeline itself uses. Always opened read-only.",
    ),
    "data_roots": FieldDoc(
        ("DSA110_WS_DATA_ROOTS",),
        "paths",
        "Directories product files must resolve inside (after symlinks); os.pathsep-separated. "
        "Empty means unconfined.",
    ),
    "log_roots": FieldDoc(
        ("DSA110_WS_LOG_ROOTS",),
        "paths",
        "Directories holding per-run pipeline log files; os.pathsep-separated.",
    ),
    "state_dir": FieldDoc(
        ("DSA110_WS_STATE_DIR",),
        "path",
        "The workspace's own directory: derived-product cache and its small database "
        "(audit records, cached results). Never inside the pipeline's data.",
    ),
    "allow_writes": FieldDoc(
        ("DSA110_WS_ALLOW_WRITES",),
        "bool",
        "Allow operator actions that write to the pipeline database or task queue "
        "(off by default).",
    ),
    "dask_scheduler": FieldDoc(
        ("DSA110_WS_DASK_SCHEDULER",),
        "str",
        "Address of a dask.distributed scheduler for batch work; empty means a local process pool.",
    ),
    "busy_timeout_s": FieldDoc(
        ("DSA110_WS_BUSY_TIMEOUT",),
        "float",
        "Seconds to wait for a locked SQLite database before raising DatabaseBusyError.",
    ),
    "statement_timeout_s": FieldDoc(
        ("DSA110_WS_STATEMENT_TIMEOUT",),
        "float",
        "Seconds one query of the pipeline's SQLite may run before it is stopped "
        "(DatabaseBusyError; 0: no limit); survey-wide reads at 10^8 rows stay inside the "
        "default.",
    ),
    "queue_url": FieldDoc(
        ("DSA110_WS_QUEUE_URL", "ABSURD_DATABASE_URL"),
        "url",
        "PostgreSQL URL of the pipeline's task queue (Absurd); the pipeline's own "
        "ABSURD_DATABASE_URL is honoured. Unset: the queue views say it is not configured.",
    ),
    "queue_name": FieldDoc(("ABSURD_QUEUE_NAME",), "str", "The pipeline's task queue name."),
    "dlq_name": FieldDoc(
        ("ABSURD_DLQ_QUEUE_NAME",),
        "str",
        "The dead-letter queue's name (default: <queue_name>-dlq).",
    ),
    "now": FieldDoc(
        ("DSA110_WS_NOW",),
        "str",
        "Freeze the workspace clock at this UTC time (ISO). The demo state sets it to the moment "
        "it represents, so 'last night' and 'last 24 hours' mean the same every day.",
    ),
    "operator": FieldDoc(
        ("DSA110_WS_OPERATOR", "JUPYTERHUB_USER"),
        "str",
        "Name recorded in audit records for operator actions (default: the user JupyterHub "
        "authenticated, JUPYTERHUB_USER, else the login name).",
    ),
    "demo_dir": FieldDoc(
        ("DSA110_WS_DEMO_DIR",),
        "path",
        "Where the demo state is generated on first use when no database is configured.",
    ),
    "settings_file": FieldDoc(
        ("DSA110_WS_SETTINGS",),
        "path",
        "Optional TOML settings file (this list's keys, plus tables).",
    ),
}


def _default_sections() -> Sections:
    from dsa110_ws.core.settings import Sections

    return Sections()


@dataclasses.dataclass(frozen=True)
class Settings:
    """Resolved workspace settings (see ``FIELDS`` for each field's meaning).

    ``sections`` holds the validated TOML tables: ``settings.sections.health``,
    ``.qa_image``, ``.operations`` ... (:mod:`dsa110_ws.core.settings`).
    """

    pipeline_db: Path | None = None
    data_roots: tuple[Path, ...] = ()
    log_roots: tuple[Path, ...] = ()
    state_dir: Path = dataclasses.field(default_factory=default_state_dir)
    allow_writes: bool = False
    dask_scheduler: str | None = None
    busy_timeout_s: float = 5.0
    statement_timeout_s: float = 600.0
    queue_url: str | None = None
    queue_name: str = DEFAULT_QUEUE
    dlq_name: str | None = None
    now: str | None = None
    operator: str = dataclasses.field(default_factory=lambda: _login_name())
    demo_dir: Path = dataclasses.field(default_factory=default_demo_dir)
    settings_file: Path | None = None
    sections: Sections = dataclasses.field(default_factory=_default_sections)
    #: Where each field's value came from: "argument", "env:NAME", "file:PATH" or "default".
    origin: Mapping[str, str] = dataclasses.field(default_factory=dict, compare=False)
    #: True when these settings describe the generated demo state.
    is_demo: bool = False

    @property
    def database_target(self) -> str:
        """The pipeline database the workspace reads (its path)."""
        return str(self.pipeline_db)

    @property
    def dead_letter_queue(self) -> str:
        """The dead-letter queue's name (``<queue_name>-dlq`` unless set)."""
        return self.dlq_name or f"{self.queue_name}-dlq"

    def path_policy(self, registry: Any = None) -> Any:
        """The :class:`~dsa110_ws.core.paths.PathPolicy` of these settings: reads confined
        to the roots, writes refused among the pipeline's files (its database's folder)."""
        from dsa110_ws.core.paths import PathPolicy

        protected = [] if self.pipeline_db is None else [Path(self.pipeline_db).parent]
        return PathPolicy(self.data_roots, self.log_roots, protected=protected, registry=registry)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view (paths as strings, passwords in URLs masked)."""
        out: dict[str, Any] = {}
        for name in FIELDS:
            value = getattr(self, name)
            if isinstance(value, tuple):
                value = [str(v) for v in value]
            elif isinstance(value, Path):
                value = str(value)
            elif name == "queue_url" and value:
                value = mask_url(value)
            out[name] = value
        out["dlq_name"] = self.dead_letter_queue
        out["is_demo"] = self.is_demo
        return out


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for output, files and logs), in the
    netloc and in a ``password=`` query parameter."""
    from dsa110_ws.errors import mask_secrets

    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return mask_secrets(url)
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return mask_secrets(urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)))


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def sqlite_url_path(value: str) -> str:
    """A ``sqlite:///path`` (or ``sqlite+...:///``) URL as its path; other text unchanged."""
    if "://" not in value:
        return value
    parts = urlsplit(value)
    if not parts.scheme.startswith("sqlite"):
        raise ValueError(
            f"the pipeline database is SQLite; {parts.scheme}:// URLs are not "
            "supported (give the path of pipeline.sqlite3)"
        )
    path = parts.path
    if not path or path == "/":
        raise ValueError("the sqlite:/// URL names no file")
    return path


def _convert(name: str, value: Any, where: str, base: Path | None = None) -> Any:
    kind = FIELDS[name].kind
    try:
        if kind == "path":
            text = sqlite_url_path(str(value)) if name == "pipeline_db" else str(value)
            if "\x00" in text:
                raise ValueError("contains a NUL byte")
            p = Path(os.path.expanduser(text))
            return (base / p) if base is not None and not p.is_absolute() else p
        if kind == "paths":
            items = value.split(os.pathsep) if isinstance(value, str) else list(value)
            return tuple(_convert("state_dir", v, where, base) for v in items if str(v).strip())
        if kind == "bool":
            return _bool(value)
        if kind == "float":
            x = float(value)
            if not (x == x and abs(x) != float("inf")) or x < 0:
                raise ValueError(f"{value!r} is not a finite non-negative number")
            return x
        text = str(value).strip()
        if kind == "url" and text and "://" not in text:
            raise ValueError(f"{text!r} is not a URL (postgresql://user@host/dbname)")
        return text or None
    except (TypeError, ValueError) as exc:
        shown = mask_url(str(value)) if kind == "url" else repr(value)
        raise ConfigurationError(
            f"Setting {name} = {shown} from {where} is invalid ({exc}); expected a {kind}."
        ) from None


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


_MAX_SETTINGS_BYTES = 4 << 20  # a settings file is a few kB; a larger one is a mistake


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        # why: open() on a FIFO blocks until a writer appears; a device never ends
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):
            raise ConfigurationError(
                f"Settings file {path} is not a regular file (a pipe, socket or device); "
                "point DSA110_WS_SETTINGS at a TOML file."
            )
        if st.st_size > _MAX_SETTINGS_BYTES:
            raise ConfigurationError(
                f"Settings file {path} is {st.st_size / 2**20:.0f} MiB, not a settings file; "
                "point DSA110_WS_SETTINGS at a TOML file of a few kB."
            )
        with open(path, "rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigurationError(
            f"Settings file {path} does not exist; fix DSA110_WS_SETTINGS or create the file."
        ) from None
    except IsADirectoryError:
        raise ConfigurationError(
            f"Settings file {path} is a directory; point DSA110_WS_SETTINGS at a TOML file."
        ) from None
    except UnicodeDecodeError:
        raise ConfigurationError(
            f"Settings file {path} is not UTF-8 text; save it as UTF-8 TOML."
        ) from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigurationError(f"Settings file {path} cannot be read: {exc}") from None


def _flatten_tables(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"qa": {"image": {...}}}`` -> ``{"qa.image": {...}}`` for the known dotted tables."""
    from dsa110_ws.core.settings import SECTION_MODELS

    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if dotted in SECTION_MODELS or not isinstance(value, Mapping):
            out[dotted] = value
        elif any(name.startswith(dotted + ".") for name in SECTION_MODELS):
            out.update(_flatten_tables(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def _build_sections(tables: Mapping[str, Any], where: Mapping[str, str]) -> Sections:
    """Validate each table into its section model; errors name key, file and type."""
    from pydantic import ValidationError

    from dsa110_ws.core.settings import SECTION_MODELS, Sections

    values: dict[str, Any] = {}
    for dotted, table in tables.items():
        source = where.get(dotted, "the settings")
        if dotted not in SECTION_MODELS:
            raise ConfigurationError(
                f"{source}: unknown table [{dotted}]; known tables: "
                f"{', '.join(f'[{t}]' for t in SECTION_MODELS)}."
            )
        attr, model = SECTION_MODELS[dotted]
        if not isinstance(table, Mapping):
            raise ConfigurationError(f"{source}: [{dotted}] must be a table, not {table!r}.")
        try:
            values[attr] = model.model_validate(dict(table))
        except ValidationError as exc:
            raise ConfigurationError(_section_error(exc, dotted, model, source)) from None
    return Sections(**values)


def _section_error(exc: Any, dotted: str, model: Any, source: str) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(table)"
        top = len(err["loc"]) == 1
        if err["type"] == "extra_forbidden":
            known = f" (known keys: {', '.join(model.model_fields)})" if top else ""
            lines.append(f"unknown key {loc!r}{known}")
            continue
        msg = str(err["msg"]).removeprefix("Value error, ").rstrip(".")
        if not err["loc"]:  # a check across keys: its message names them (not the table)
            lines.append(msg)
            continue
        field = model.model_fields.get(str(err["loc"][0])) if top else None
        expected = f"; expected {_type_name(field.annotation)}" if field is not None else ""
        shown = f" = {repr(err.get('input'))[:60]}" if "input" in err else ""
        lines.append(f"{loc}{shown}: {msg}{expected}")
    return f"Settings {source}, table [{dotted}]: " + "; ".join(lines) + "."


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) or str(annotation)
    return text.replace("typing.", "").replace("pathlib.", "")


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
        Field values that win over everything else (``None`` means "not given");
        ``sections={"health": {...}}`` merges tables over the file's.
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
    tables: dict[str, Any] = {}
    table_origin: dict[str, str] = {}
    if file is not None:
        path = Path(os.path.expanduser(str(file))).resolve()
        for key, value in _flatten_tables(_read_toml(path)).items():
            if key in FIELDS and key != "settings_file":
                values[key] = _convert(key, value, f"file {path}", base=path.parent)
                origin[key] = f"file:{path}"
            elif isinstance(value, Mapping):
                tables[key], table_origin[key] = value, f"file {path}"
            else:
                raise ConfigurationError(
                    f"Settings file {path}: unknown key {key!r}; known keys: {sorted(FIELDS)}."
                )
        values["settings_file"], origin["settings_file"] = path, "argument"
    for name, doc in FIELDS.items():
        if name == "settings_file":
            continue
        for var in doc.env:
            if env.get(var, "").strip():
                values[name] = _convert(name, env[var], f"environment variable {var}")
                origin[name] = f"env:{var}"
                break
    for name, value in overrides.items():
        if value is None or name == "settings_file":
            continue
        if name == "sections":
            for key, table in _flatten_tables(value).items():
                tables[key] = {**dict(tables.get(key, {})), **dict(table)}
                table_origin[key] = "argument sections="
            continue
        values[name] = _convert(name, value, "argument")
        origin[name] = "argument"
    for name in FIELDS:
        origin.setdefault(name, "default")
    values.setdefault("queue_name", DEFAULT_QUEUE)
    return Settings(**values, sections=_build_sections(tables, table_origin), origin=origin)
