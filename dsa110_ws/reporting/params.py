"""Typed report parameters, validated before any kernel starts.

Each report kind has a pydantic model with ``extra="forbid"``: an unknown parameter, a
malformed date or an end before a start is a :class:`ReportParameterError` naming the
parameter.  Relative nights (``yesterday``, ``today``) are resolved against the
workspace clock of the settings the report will read (frozen in the demo state), so the
injected parameters are absolute and a rerun of the executed notebook gives the same
report.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dsa110_ws.core.time import datetime_to_mjd, to_unix, unix_to_datetime
from dsa110_ws.errors import InvalidQueryError, WorkspaceError, one_line

if TYPE_CHECKING:
    from dsa110_ws.config import Settings

__all__ = [
    "ReportParameterError",
    "ReportParams",
    "NightlyQAParams",
    "StatsParams",
    "PARAM_MODELS",
    "RUNNER_PARAMETERS",
    "validate_params",
    "parse_utc",
    "report_settings",
    "workspace_now",
]

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RELATIVE_NIGHTS = {"today": 0, "yesterday": -1}

#: Parameters the runner injects itself; not settable by users.
RUNNER_PARAMETERS = ("metrics_path",)


class ReportParameterError(InvalidQueryError):
    """A report parameter is unknown, malformed or inconsistent (nothing was run)."""


def parse_utc(text: str, what: str, now: dt.datetime) -> dt.datetime:
    """An ISO date/time, ``today``/``yesterday``/``now`` (relative to ``now``) as an aware
    UTC datetime (:func:`dsa110_ws.core.time.to_time`, the one parser)."""
    unix = to_unix(text, now=now, what=what)
    return unix_to_datetime(round(unix, 6))


def report_settings(settings: str | None = None) -> Settings:
    """The settings a report reads, as :func:`dsa110_ws.connect` resolves them (the demo
    state when nothing is configured); a bad settings file is a :class:`ReportParameterError`."""
    from dsa110_ws.workspace import resolve_settings

    try:
        return resolve_settings(settings) if settings else resolve_settings()
    except WorkspaceError as exc:
        raise ReportParameterError(
            f"invalid report parameters: settings: {one_line(exc)}"
        ) from None


def workspace_now(settings: str | None = None) -> dt.datetime:
    """The workspace clock of a report's settings (frozen in the demo), as aware UTC."""
    from dsa110_ws.core.time import Clock

    return unix_to_datetime(Clock(report_settings(settings).now).now_unix())


def _stamp(t: dt.datetime) -> str:
    """Short folder-safe label: the date at midnight, else compact ISO (UTC)."""
    if t.time() == dt.time(0):
        return t.strftime("%Y-%m-%d")
    return t.strftime("%Y-%m-%dT%H%M%S")


class ReportParams(BaseModel):
    """Common base: unknown parameters are errors; strings are stripped; "" means unset."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, validate_default=True
    )

    kind: ClassVar[str]
    #: (warning, critical) field pairs where a larger value is worse.
    _higher_worse: ClassVar[tuple[tuple[str, str], ...]] = ()
    #: (warning, critical) field pairs where a smaller value is worse.
    _lower_worse: ClassVar[tuple[tuple[str, str], ...]] = ()
    #: fields that define the window (not part of the parameter-set hash)
    _window_fields: ClassVar[tuple[str, ...]] = ()

    settings: str | None = Field(
        None,
        description="Settings TOML file naming the data source; empty means the "
        "environment (PIPELINE_DB, DSA110_WS_SETTINGS) or the demo state.",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("settings")
    @classmethod
    def _absolute_settings(cls, value: str | None) -> str | None:
        # the kernel runs in another directory: make the data source absolute
        return None if value is None else str(Path(value).expanduser().resolve())

    @model_validator(mode="after")
    def _check_threshold_order(self) -> ReportParams:
        for warn, crit in self._higher_worse:
            if getattr(self, crit) < getattr(self, warn):
                raise ValueError(
                    f"{crit}={getattr(self, crit)} is below {warn}="
                    f"{getattr(self, warn)}; critical must be the worse level"
                )
        for warn, crit in self._lower_worse:
            if getattr(self, crit) > getattr(self, warn):
                raise ValueError(
                    f"{crit}={getattr(self, crit)} is above {warn}="
                    f"{getattr(self, warn)}; critical must be the worse level"
                )
        return self

    # -- derived -----------------------------------------------------------------
    @property
    def window(self) -> tuple[dt.datetime, dt.datetime]:
        """The report's time window [start, end) as aware UTC datetimes."""
        raise NotImplementedError

    @property
    def label(self) -> str:
        """Folder name for this parameter set (window + a hash of non-default options)."""
        start, end = self.window
        base = self._window_label(start, end)
        extra = {
            k: v
            for k, v in self.model_dump(exclude={"settings", *self._window_fields}).items()
            if v != type(self).model_fields[k].default
        }
        if not extra:
            return base
        digest = hashlib.sha256(json.dumps(extra, sort_keys=True).encode()).hexdigest()[:8]
        return f"{base}_p{digest}"

    def _window_label(self, start: dt.datetime, end: dt.datetime) -> str:
        return f"{_stamp(start)}_{_stamp(end)}"

    def notebook_parameters(self) -> dict[str, Any]:
        """The values papermill injects (absolute, "" for unset strings)."""
        return {k: ("" if v is None else v) for k, v in self.model_dump().items()}

    def window_dict(self) -> dict[str, Any]:
        """The window as ISO UTC strings and MJDs, for provenance."""
        start, end = self.window
        return {
            "start_utc": start.isoformat(),
            "end_utc": end.isoformat(),
            "start_mjd": datetime_to_mjd(start),
            "end_mjd": datetime_to_mjd(end),
        }


def _now_from(info: Any) -> dt.datetime:
    now = (info.context or {}).get("now") if info is not None else None
    return now if now is not None else dt.datetime.now(dt.UTC)


class NightlyQAParams(ReportParams):
    """Parameters of the nightly QA report (``kind = "qa"``)."""

    kind: ClassVar[str] = "qa"
    _higher_worse = (
        ("bad_image_fraction_warning", "bad_image_fraction_critical"),
        ("noise_warning_mjy", "noise_critical_mjy"),
        ("cal_flag_fraction_warning", "cal_flag_fraction_critical"),
        ("flagged_antennas_warning", "flagged_antennas_critical"),
        ("failed_jobs_warning", "failed_jobs_critical"),
    )
    _lower_worse = (("cal_coverage_warning", "cal_coverage_critical"),)
    _window_fields = ("night", "start", "end")

    night: str | None = Field(
        "yesterday",
        description="Observing night (a UTC day): YYYY-MM-DD, 'yesterday' or "
        "'today' on the workspace clock. Ignored when start and end are given.",
    )
    start: str | None = Field(
        None, description="Explicit window start (ISO, UTC); needs end. At most 31 days."
    )
    end: str | None = Field(None, description="Explicit window end (ISO, UTC, exclusive).")
    worst_n: int = Field(6, ge=1, le=50, description="How many worst images to show (1-50).")
    candidate_preset: Literal["conservative", "moderate", "sensitive"] = Field(
        "moderate",
        description="ESE / variability candidate preset: conservative, moderate or sensitive.",
    )
    bad_image_fraction_warning: float = Field(
        0.10, ge=0, le=1, description="Fraction of images graded bad that is a warning."
    )
    bad_image_fraction_critical: float = Field(
        0.25, ge=0, le=1, description="Fraction of images graded bad that is critical."
    )
    noise_warning_mjy: float = Field(
        2.0, gt=0, description="Median image rms (mJy/beam) that is a warning."
    )
    noise_critical_mjy: float = Field(
        5.0, gt=0, description="Median image rms (mJy/beam) that is critical."
    )
    cal_flag_fraction_warning: float = Field(
        0.3, ge=0, le=1, description="Largest caltable flagged fraction that is a warning."
    )
    cal_flag_fraction_critical: float = Field(
        0.5, ge=0, le=1, description="Largest caltable flagged fraction that is critical."
    )
    flagged_antennas_warning: int = Field(
        1, ge=0, description="Antennas fully flagged in some MS of the night that are a warning."
    )
    flagged_antennas_critical: int = Field(
        10, ge=0, description="Antennas fully flagged in some MS of the night that are critical."
    )
    cal_coverage_warning: float = Field(
        0.95,
        ge=0,
        le=1,
        description="Fraction of the window covered by valid calibration below which to warn.",
    )
    cal_coverage_critical: float = Field(
        0.8,
        ge=0,
        le=1,
        description="Fraction of the window covered by valid calibration below which it is "
        "critical.",
    )
    failed_jobs_warning: int = Field(1, ge=0, description="Failed jobs that are a warning.")
    failed_jobs_critical: int = Field(5, ge=0, description="Failed jobs that are critical.")

    @field_validator("night")
    @classmethod
    def _check_night(cls, value: str | None, info: Any) -> str | None:
        if value is None:
            return None
        low = value.lower()
        if low in _RELATIVE_NIGHTS:
            now = _now_from(info)
            return (now.date() + dt.timedelta(days=_RELATIVE_NIGHTS[low])).isoformat()
        if not _DATE.match(value):
            raise ValueError(f"night={value!r} is not YYYY-MM-DD, 'yesterday' or 'today'")
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"night={value!r} is not a calendar date") from None
        return value

    @field_validator("start", "end")
    @classmethod
    def _check_time(cls, value: str | None, info: Any) -> str | None:
        if value is None:
            return None
        return parse_utc(value, info.field_name, _now_from(info)).isoformat()

    @model_validator(mode="after")
    def _check_window(self) -> NightlyQAParams:
        if (self.start is None) != (self.end is None):
            raise ValueError("give both start and end, or neither (then night is used)")
        if self.start is not None:
            object.__setattr__(self, "night", None)  # start/end win over night
            if self.end is None or self.end <= self.start:
                raise ValueError(f"end={self.end} is not after start={self.start}")
            if (self.window[1] - self.window[0]) > dt.timedelta(days=31):
                raise ValueError("the window is longer than 31 days; use the stats report")
        elif self.night is None:
            raise ValueError("give a night (YYYY-MM-DD, 'yesterday', 'today') or start and end")
        return self

    @property
    def window(self) -> tuple[dt.datetime, dt.datetime]:
        if self.night is not None:
            day = dt.date.fromisoformat(self.night)
            start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            return start, start + dt.timedelta(days=1)
        assert self.start is not None and self.end is not None  # the validator ensures it
        return dt.datetime.fromisoformat(self.start), dt.datetime.fromisoformat(self.end)

    def _window_label(self, start: dt.datetime, end: dt.datetime) -> str:
        return self.night if self.night is not None else super()._window_label(start, end)


class StatsParams(ReportParams):
    """Parameters of the stats report over a period (``kind = "stats"``)."""

    kind: ClassVar[str] = "stats"
    _lower_worse = (
        ("success_rate_warning", "success_rate_critical"),
        ("throughput_ratio_warning", "throughput_ratio_critical"),
    )
    _higher_worse = (
        ("disk_usage_warning", "disk_usage_critical"),
        ("bad_image_fraction_warning", "bad_image_fraction_critical"),
    )
    _window_fields = ("start", "end", "days")

    end: str | None = Field(
        "today",
        description="Period end (exclusive): YYYY-MM-DD, ISO time, "
        "'today' (midnight at the start of today) or 'yesterday'.",
    )
    start: str | None = Field(None, description="Period start; default end minus days.")
    days: int = Field(
        7, ge=1, le=366, description="Period length in days (ignored when start is given)."
    )
    success_rate_warning: float = Field(
        0.95, ge=0, le=1, description="Job success rate below which to warn."
    )
    success_rate_critical: float = Field(
        0.8, ge=0, le=1, description="Job success rate below which it is critical."
    )
    throughput_ratio_warning: float = Field(
        0.8, ge=0, description="Images per day relative to the previous period below which to warn."
    )
    throughput_ratio_critical: float = Field(
        0.5,
        ge=0,
        description="Images per day relative to the previous period below which it is critical.",
    )
    bad_image_fraction_warning: float = Field(
        0.10, ge=0, le=1, description="Fraction of images graded bad that is a warning."
    )
    bad_image_fraction_critical: float = Field(
        0.25, ge=0, le=1, description="Fraction of images graded bad that is critical."
    )
    disk_usage_warning: float = Field(
        0.85, ge=0, le=1, description="Used fraction of a data root's disk that is a warning."
    )
    disk_usage_critical: float = Field(
        0.95, ge=0, le=1, description="Used fraction of a data root's disk that is critical."
    )

    @field_validator("start", "end")
    @classmethod
    def _check_time(cls, value: str | None, info: Any) -> str | None:
        if value is None:
            if info.field_name == "end":
                raise ValueError("end must be set")
            return None
        return parse_utc(value, info.field_name, _now_from(info)).isoformat()

    @model_validator(mode="after")
    def _check_window(self) -> StatsParams:
        if self.start is not None and (self.end is None or self.end <= self.start):
            raise ValueError(f"end={self.end} is not after start={self.start}")
        return self

    @property
    def window(self) -> tuple[dt.datetime, dt.datetime]:
        assert self.end is not None  # the validator ensures it
        end = dt.datetime.fromisoformat(self.end)
        if self.start is not None:
            return dt.datetime.fromisoformat(self.start), end
        return end - dt.timedelta(days=self.days), end

    @property
    def previous_window(self) -> tuple[dt.datetime, dt.datetime]:
        """The period of the same length just before this one (for trends)."""
        start, end = self.window
        return start - (end - start), start

    def notebook_parameters(self) -> dict[str, Any]:
        out = super().notebook_parameters()
        start, end = self.window  # inject the absolute window, so days no longer matters
        out.update(start=start.isoformat(), end=end.isoformat())
        return out


#: report kind -> parameter model
PARAM_MODELS: dict[str, type[ReportParams]] = {"qa": NightlyQAParams, "stats": StatsParams}


_MS_FLAGS_MOVED = (
    "the night's MS flagging is judged with the [qa.ms] settings flag_fraction_warn and "
    "flag_fraction_max, as the dashboards grade each MS; set those in the settings file"
)
#: Parameters that no longer exist -> what to do instead.
_REMOVED = {
    "ms_flag_fraction_warning": _MS_FLAGS_MOVED,
    "ms_flag_fraction_critical": _MS_FLAGS_MOVED,
}


def _format(exc: ValidationError, kind: str) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(x) for x in err["loc"]) or "parameters"
        if err["type"] == "extra_forbidden" and where in _REMOVED:
            parts.append(f"parameter {where!r} was removed: {_REMOVED[where]}")
        elif err["type"] == "extra_forbidden":
            known = ", ".join(PARAM_MODELS[kind].model_fields)
            parts.append(f"unknown parameter {where!r} (known: {known})")
        else:
            msg = str(err["msg"]).removeprefix("Value error, ")
            parts.append(msg if where == "parameters" or where in msg else f"{where}: {msg}")
    return f"invalid {kind} report parameters: " + "; ".join(parts)


def validate_params(
    kind: str, raw: dict[str, Any] | None = None, *, now: dt.datetime | None = None
) -> ReportParams:
    """Validate raw parameters of a report kind and resolve relative dates.

    Parameters
    ----------
    kind
        ``"qa"`` (nightly QA) or ``"stats"``.
    raw
        Parameter values (strings from the command line are converted).
    now
        Clock for ``yesterday``/``today``; default: the workspace clock of the settings
        named by ``raw["settings"]`` (or the environment).

    Raises
    ------
    ReportParameterError
        With one line naming every bad parameter.
    """
    model = PARAM_MODELS.get(kind)
    if model is None:
        raise ReportParameterError(
            f"Unknown report kind {kind!r}; choose one of {sorted(PARAM_MODELS)}."
        )
    raw = dict(raw or {})
    if now is None:
        settings = raw.get("settings")
        now = workspace_now(str(settings) if settings not in (None, "") else None)
    try:
        return model.model_validate(raw, context={"now": now})
    except ValidationError as exc:
        raise ReportParameterError(_format(exc, kind)) from None
