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
    toml.write_text('pipeline_db = "from_file.sqlite3"\nbusy_timeout_s = 9\n'
                    'allow_writes = true\n[qa.image]\nmax_rms_jy = 0.01\n')
    env = {"PIPELINE_DB": "/env/pipeline.sqlite3", "DSA110_WS_ALLOW_WRITES": "0"}
    s = load_settings(toml, env=env)
    assert s.pipeline_db == Path("/env/pipeline.sqlite3")
    assert s.origin["pipeline_db"] == "env:PIPELINE_DB"
    assert s.busy_timeout_s == 9.0 and s.origin["busy_timeout_s"].startswith("file:")
    assert s.allow_writes is False  # env wins over the file
    assert s.section("qa.image") == {"max_rms_jy": 0.01}
    s2 = load_settings(toml, env=env, pipeline_db="/arg.sqlite3", allow_writes=True)
    assert s2.pipeline_db == Path("/arg.sqlite3") and s2.allow_writes is True
    s3 = load_settings(toml, env={})
    assert s3.pipeline_db == tmp_path / "from_file.sqlite3"  # relative to the file
    assert load_settings(env={}).allow_writes is False
    assert load_settings(env={}).origin["allow_writes"] == "default"


def test_roots_are_pathsep_lists(tmp_path):
    env = {"DSA110_WS_DATA_ROOTS": os.pathsep.join(["/a", "/b/c"]), "DSA110_WS_LOG_ROOTS": "/l"}
    s = load_settings(env=env)
    assert s.data_roots == (Path("/a"), Path("/b/c")) and s.log_roots == (Path("/l"),)


@pytest.mark.parametrize("env,fragment", [
    ({"DSA110_WS_ALLOW_WRITES": "perhaps"}, "DSA110_WS_ALLOW_WRITES"),
    ({"DSA110_WS_BUSY_TIMEOUT": "soon"}, "DSA110_WS_BUSY_TIMEOUT"),
    ({"DSA110_WS_SETTINGS": "/nonexistent/settings.toml"}, "does not exist"),
])
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
