"""Settings: precedence, documentation, validation."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from dsa110_ws.config import FIELDS, Settings, load_settings
from dsa110_ws.errors import ConfigurationError


def test_every_field_is_documented():
    fields = {f.name for f in dataclasses.fields(Settings)} - {"sections", "origin", "is_demo"}
    assert fields == set(FIELDS)
    for name, doc in FIELDS.items():
        assert len(doc.doc) > 20, name


def test_precedence_argument_over_env_over_file_over_default(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text(
        'pipeline_db = "from_file.sqlite3"\nbusy_timeout_s = 9\n'
        "allow_writes = true\n[qa.image]\nrms_max_jy = 0.01\n"
    )
    env = {"PIPELINE_DB": "/env/pipeline.sqlite3", "DSA110_WS_ALLOW_WRITES": "0"}
    s = load_settings(toml, env=env)
    assert s.pipeline_db == Path("/env/pipeline.sqlite3")
    assert s.origin["pipeline_db"] == "env:PIPELINE_DB"
    assert s.busy_timeout_s == 9.0 and s.origin["busy_timeout_s"].startswith("file:")
    assert s.allow_writes is False  # env wins over the file
    assert s.sections.qa_image.rms_max_jy == 0.01
    assert s.sections.qa_image.rms_warn_jy == 0.002  # the default of a key the file leaves out
    s2 = load_settings(toml, env=env, pipeline_db="/arg.sqlite3", allow_writes=True)
    assert s2.pipeline_db == Path("/arg.sqlite3") and s2.allow_writes is True
    s3 = load_settings(toml, env={})
    assert s3.pipeline_db == tmp_path / "from_file.sqlite3"  # relative to the file
    assert load_settings(env={}).allow_writes is False
    assert load_settings(env={}).origin["allow_writes"] == "default"


def test_operator_is_the_authenticated_user_else_the_login(monkeypatch):
    import getpass

    login = getpass.getuser()
    assert load_settings(env={}).operator == login
    hub = load_settings(env={"JUPYTERHUB_USER": "night-shift-" + login})
    assert (
        hub.operator == "night-shift-" + login and hub.origin["operator"] == "env:JUPYTERHUB_USER"
    )
    both = {"JUPYTERHUB_USER": "hub-user", "DSA110_WS_OPERATOR": "on-call"}
    assert load_settings(env=both).operator == "on-call"


def test_roots_are_pathsep_lists(tmp_path):
    env = {"DSA110_WS_DATA_ROOTS": os.pathsep.join(["/a", "/b/c"]), "DSA110_WS_LOG_ROOTS": "/l"}
    s = load_settings(env=env)
    assert s.data_roots == (Path("/a"), Path("/b/c")) and s.log_roots == (Path("/l"),)


@pytest.mark.parametrize(
    "env,fragment",
    [
        ({"DSA110_WS_ALLOW_WRITES": "perhaps"}, "DSA110_WS_ALLOW_WRITES"),
        ({"DSA110_WS_BUSY_TIMEOUT": "soon"}, "DSA110_WS_BUSY_TIMEOUT"),
        ({"DSA110_WS_SETTINGS": "/nonexistent/settings.toml"}, "does not exist"),
    ],
)
def test_bad_settings_are_clear_errors(env, fragment):
    with pytest.raises(ConfigurationError, match=fragment):
        load_settings(env=env)


def test_unknown_keys_are_rejected(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text('pipeline_dbb = "x"\n')
    with pytest.raises(ConfigurationError, match="pipeline_dbb"):
        load_settings(toml, env={})
    with pytest.raises(ConfigurationError, match="nonsense"):
        load_settings(env={}, nonsense=1)


@pytest.mark.parametrize(
    "table,body,key,expected",
    [
        ("qa.image", "rms_maxx_jy = 0.01", "rms_maxx_jy", "known keys: rms_warn_jy"),
        ("qa.image", 'rms_max_jy = "tiny"', "rms_max_jy = 'tiny'", "expected float"),
        (
            "health",
            "timeout_s = 3\ndisk_warning_pct = 80",
            "disk_warning_pct",
            "known keys: include_defaults",
        ),
        ("health", 'data_checks = "sometimes"', "data_checks = 'sometimes'", "expected bool"),
        ("calibration", "staleness_hours = [12, 6, 24]", "staleness_hours", "increasing"),
        ("operations", "batch_chunk = 2.5", "batch_chunk = 2.5", "expected int"),
    ],
)
def test_a_bad_section_fails_at_load_naming_key_file_and_type(tmp_path, table, body, key, expected):
    toml = tmp_path / "site.toml"
    toml.write_text(f"[{table}]\n{body}\n")
    with pytest.raises(ConfigurationError) as err:
        load_settings(toml, env={})
    msg = str(err.value)
    assert str(toml) in msg and f"[{table}]" in msg and key in msg and expected in msg, msg
    assert "\n" not in msg


def test_unknown_tables_and_non_finite_numbers_are_refused(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text("[qa.imag]\nrms_max_jy = 1\n")
    with pytest.raises(ConfigurationError, match=r"unknown table \[qa.imag\]"):
        load_settings(toml, env={})
    toml.write_text("[qa.image]\nrms_max_jy = nan\n")
    with pytest.raises(ConfigurationError, match="rms_max_jy"):
        load_settings(toml, env={})
    with pytest.raises(ConfigurationError, match="DSA110_WS_BUSY_TIMEOUT"):
        load_settings(env={"DSA110_WS_BUSY_TIMEOUT": "inf"})


def test_the_pipelines_own_variable_names_are_honoured():
    s = load_settings(env={"DSA110_DB_SQLITE_PATH": "/a.sqlite3", "PIPELINE_PRODUCTS_DB": "/b"})
    assert s.pipeline_db == Path("/a.sqlite3") and s.origin["pipeline_db"] == (
        "env:DSA110_DB_SQLITE_PATH"
    )
    s = load_settings(env={"PIPELINE_DB": "/p", "DSA110_DB_SQLITE_PATH": "/a.sqlite3"})
    assert s.pipeline_db == Path("/p")  # PIPELINE_DB first
    s = load_settings(
        env={"ABSURD_DATABASE_URL": "postgresql://u:secret@db:5433/q", "ABSURD_QUEUE_NAME": "q1"}
    )
    assert s.queue_url == "postgresql://u:secret@db:5433/q" and s.queue_name == "q1"
    assert s.dead_letter_queue == "q1-dlq"
    assert "secret" not in str(s.to_dict()) and "***" in s.to_dict()["queue_url"]
    s = load_settings(
        env={"ABSURD_DATABASE_URL": "postgresql://a/x", "DSA110_WS_QUEUE_URL": "postgresql://b/y"}
    )
    assert s.queue_url == "postgresql://b/y"  # the workspace's own variable wins
