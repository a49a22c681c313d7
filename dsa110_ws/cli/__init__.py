"""The ``dsa110-ws`` command line: a thin layer over the package.

Subcommands live in small modules and are imported only when used, so ``--help`` and
simple commands stay fast.  Every error the package raises on purpose is printed as one
line and exits with status 1. A command may return an int: it becomes the exit status
(``health`` uses 1 and 2 for warning and critical).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

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
def cli() -> None:
    """DSA-110 workspace: inspect the pipeline state, products, sources and operations.

    Settings come from the environment (PIPELINE_DB, DSA110_WS_*) or DSA110_WS_SETTINGS;
    with nothing configured, the generated demo state is used.
    """


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``dsa110-ws`` script."""
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
