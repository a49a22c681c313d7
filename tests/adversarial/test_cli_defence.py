"""The command line's last line of defence and secrets: an unexpected error is one line
naming what failed and where its traceback was kept; a password never leaves memory."""

from __future__ import annotations

import json
import textwrap

import pytest

from dsa110_ws import cli
from dsa110_ws.cli import main

SECRET = "hunter2-do-not-print"


@pytest.fixture()
def boom(tmp_path, monkeypatch):
    """A command with a bug in it (a ZeroDivisionError whose text carries a password)."""
    (tmp_path / "boom_cmd.py").write_text(
        textwrap.dedent(f"""
        import click

        @click.command()
        def boom():
            '''Fails the way a bug does.'''
            raise ZeroDivisionError("while reading postgresql://absurd:{SECRET}@db/x")
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(cli.COMMANDS, "boom", "boom_cmd:boom")
    monkeypatch.setenv("DSA110_WS_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def test_an_unexpected_error_is_one_line_and_its_traceback_is_kept(boom, capsys):
    code = main(["boom"])
    out = capsys.readouterr()
    assert code == 1 and not out.out
    line = out.err.strip()
    assert len(line.splitlines()) == 1 and "Traceback" not in line
    assert line.startswith("error: unexpected ZeroDivisionError in `dsa110-ws boom`")
    assert SECRET not in line and "absurd:***@db" in line
    kept = list((boom / "errors").glob("cli-*.log"))
    assert len(kept) == 1 and str(kept[0]) in line
    text = kept[0].read_text()
    assert "Traceback (most recent call last)" in text and "ZeroDivisionError" in text
    assert SECRET not in text


def test_debug_shows_the_traceback(boom, capsys):
    assert main(["--debug", "boom"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ZeroDivisionError" in err


def test_an_unwritable_state_dir_still_gives_one_line(boom, capsys, monkeypatch, tmp_path):
    blocker = tmp_path / "state-is-a-file"
    blocker.write_text("")
    monkeypatch.setenv("DSA110_WS_STATE_DIR", str(blocker))
    assert main(["boom"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "the traceback could not be written" in err


def test_a_queue_password_is_masked_everywhere(writable_demo, tmp_path, capsys, monkeypatch):
    url = f"postgresql://absurd:{SECRET}@127.0.0.1:1/dsa110_absurd?password={SECRET}"
    monkeypatch.setenv("DSA110_WS_SETTINGS", str(writable_demo / "settings.toml"))
    monkeypatch.setenv("DSA110_WS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("ABSURD_DATABASE_URL", url)
    seen = []
    for args in (
        ["info", "--json"],
        ["tasks", "stats"],
        ["health", "--json"],
        ["tasks", "list", "--json"],
    ):
        main(args)
        out = capsys.readouterr()
        seen.append(out.out + out.err)
    assert all(SECRET not in s for s in seen), [s for s in seen if SECRET in s][0][:300]
    info = json.loads(seen[0])
    assert info["settings"]["queue_url"].startswith("postgresql://absurd:***@127.0.0.1:1")
    assert "127.0.0.1:1" in seen[1]  # the host is named, the password never


def test_a_report_never_writes_the_password(writable_demo, tmp_path, monkeypatch):
    from dsa110_ws.reporting import run_report

    monkeypatch.setenv("DSA110_WS_SETTINGS", str(writable_demo / "settings.toml"))
    monkeypatch.setenv("DSA110_WS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("ABSURD_DATABASE_URL", f"postgresql://absurd:{SECRET}@127.0.0.1:1/x")
    res = run_report("stats", {}, out_dir=tmp_path / "reports")
    assert res.status == "ok", res.error
    for f in (tmp_path / "reports").rglob("*"):
        if f.is_file():
            assert SECRET not in f.read_text(errors="replace"), f
