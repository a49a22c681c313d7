"""The ``dsa110-ws`` command line: a thin layer over the package.

Subcommands live in small modules and are imported only when used, so ``--help`` and
simple commands stay fast.  Every error the package raises on purpose is printed as one
line and exits with status 1. A command may return an int: it becomes the exit status
(``health`` uses 1 and 2 for warning and critical).  Anything else that goes wrong (a bug)
is still one line, naming what failed and the file in the state directory that holds the
full traceback; ``--debug`` prints the traceback instead.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import click

from dsa110_ws.errors import WorkspaceError, one_line

__all__ = ["main", "cli"]

#: command name -> "module:attribute"
COMMANDS: dict[str, str] = {
    "demo": "dsa110_ws.cli.core:demo",
    "info": "dsa110_ws.cli.core:info",
    "qa": "dsa110_ws.cli.products:qa",
    "ms": "dsa110_ws.cli.products:ms",
    "thumbnail": "dsa110_ws.cli.products:thumbnail",
    "image": "dsa110_ws.cli.products:image",
    "sources": "dsa110_ws.cli.sources:sources",
    "coverage": "dsa110_ws.cli.coverage:coverage",
    "jobs": "dsa110_ws.cli.ops:jobs",
    "health": "dsa110_ws.cli.ops:health",
    "logs": "dsa110_ws.cli.ops:logs",
    "cal": "dsa110_ws.cli.ops:cal",
    "stats": "dsa110_ws.cli.ops:stats",
    "tasks": "dsa110_ws.cli.tasks:tasks",
    "ingest": "dsa110_ws.cli.tasks:ingest",
    "dashboard": "dsa110_ws.cli.dashboard:dashboard",
    "report": "dsa110_ws.cli.report:report",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(
            name
            for name, target in COMMANDS.items()
            if importlib.util.find_spec(target.partition(":")[0]) is not None
        )

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        if importlib.util.find_spec(module) is None:
            return None
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dsa110-ws")
@click.option("--debug", is_flag=True, help="Show the full traceback of an unexpected error.")
def cli(debug: bool) -> None:
    """DSA-110 workspace: inspect the pipeline state, products, sources and operations.

    Settings come from the environment (PIPELINE_DB, DSA110_WS_*) or DSA110_WS_SETTINGS;
    with nothing configured, the generated demo state is used.
    """


def _traceback_file(exc: BaseException, argv: list[str]) -> Path | None:
    """Write the traceback into the state directory; ``None`` when that is impossible."""
    from dsa110_ws.config import default_state_dir

    base = Path(os.environ.get("DSA110_WS_STATE_DIR") or default_state_dir()) / "errors"
    try:
        base.mkdir(parents=True, exist_ok=True)
        path = base / f"cli-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.log"
        from dsa110_ws.errors import mask_secrets

        text = mask_secrets("".join(traceback.format_exception(exc)))
        path.write_text(f"dsa110-ws {mask_secrets(' '.join(argv))}\n\n{text}")
        return path
    except OSError:
        return None


def _unexpected(exc: BaseException, argv: list[str]) -> int:
    """The last line of defence: one line, the traceback kept (or shown with --debug)."""
    from dsa110_ws.errors import mask_secrets

    if "--debug" in argv:
        traceback.print_exception(exc)
        return 1
    where = _traceback_file(exc, argv)
    command = " ".join(a for a in argv[:2] if not a.startswith("-")) or "dsa110-ws"
    kept = f"traceback in {where}" if where else "the traceback could not be written"
    click.echo(
        f"error: unexpected {type(exc).__name__} in `dsa110-ws {command}`: "
        f"{mask_secrets(' '.join(str(exc).split()))[:300]} "
        f"({kept}; run with --debug to see it; please report it)",
        err=True,
    )
    return 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dsa110-ws`` script."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return _main(args)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence, see _unexpected
        return _unexpected(exc, args)


def _note_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    """A Python warning as one line on standard error: ``note: <message>`` (no category,
    no source path, no code line)."""
    click.echo(f"note: {' '.join(str(message).split())}", err=True)


def _main(argv: list[str]) -> int:
    import warnings

    with warnings.catch_warnings():
        warnings.showwarning = _note_warning
        return _run(argv)


def _run(argv: list[str]) -> int:
    try:
        rv = cli.main(args=argv, prog_name="dsa110-ws", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except WorkspaceError as exc:
        click.echo(f"error: {one_line(exc)}", err=True)
        return 1
    except FileExistsError as exc:
        click.echo(f"error: {exc}", err=True)
        return 1
    return rv if isinstance(rv, int) and not isinstance(rv, bool) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
