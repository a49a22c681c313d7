"""``dsa110-ws dashboard``: serve the Voila dashboards over the configured state."""

from __future__ import annotations

import os
import signal
import socket
import sys
from pathlib import Path

import click

from dsa110_ws.cli._common import interruptible, workspace


@click.command()
@click.option(
    "--port",
    default=8866,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="TCP port to serve on (0: any free port; the URL printed says which).",
)
@click.option(
    "--ip",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (0.0.0.0 to serve a wall display on the network).",
)
@click.option("--no-browser", is_flag=True, help="Do not open a web browser.")
@click.option(
    "--notebook",
    type=click.Choice(["operations", "science", "wall"]),
    default="operations",
    show_default=True,
    help="Dashboard to open and print (all are served; 'wall': the operations wall).",
)
@click.option(
    "--notebooks-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory holding operations.ipynb, science.ipynb and wall.ipynb "
    "(default: notebooks/dashboards of the checkout).",
)
@click.option(
    "--token",
    default=None,
    envvar="DSA110_WS_DASHBOARD_TOKEN",
    help="Require this token (Jupyter's token auth; 'auto' makes one). Needed to serve "
    "operator actions beyond this machine.",
)
def dashboard(
    port: int,
    ip: str,
    no_browser: bool,
    notebook: str,
    notebooks_dir: Path | None,
    token: str | None,
) -> None:
    """Serve the operations and science dashboards with Voila until Ctrl-C.

    Notebook sources are not shown, tracebacks are off and kernels of pages left idle
    are shut down.  The dashboards read the same state as every other command
    (PIPELINE_DB / DSA110_WS_SETTINGS, else the demo state).
    """
    from dsa110_ws.cli import voila
    from dsa110_ws.errors import ConfigurationError

    nb_dir = voila.dashboards_dir(notebooks_dir)
    w = workspace()  # settings checked (and the demo generated) before anything is served
    if token == "auto":
        import secrets

        token = secrets.token_urlsafe(24)
    if w.settings.allow_writes and not token and not voila.is_loopback(ip):
        raise ConfigurationError(
            f"Refusing to serve the dashboards on {ip} with operator actions allowed "
            "(DSA110_WS_ALLOW_WRITES) and no token: anyone who can reach it could rerun, "
            "cancel and retry. Pass --token auto (or a token of yours), serve on 127.0.0.1, "
            "or turn writes off."
        )
    env = dict(os.environ)
    if w.settings.settings_file is not None and not env.get("DSA110_WS_SETTINGS"):
        env["DSA110_WS_SETTINGS"] = str(w.settings.settings_file)  # same state, quietly
    queue = w.queue_db  # over the demo: its PostgreSQL starts here, and stops when we do
    if queue is not None and w.settings.queue_url is None:
        env["DSA110_WS_QUEUE_URL"] = queue.url  # kernels use this server, never start one
    if port:  # a clear line now, not a Voila log line later (port 0 is always free)
        try:
            family = socket.AF_INET6 if ":" in ip else socket.AF_INET  # "::" is IPv6
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.bind((ip, port))
        except OSError as exc:
            raise ConfigurationError(
                f"Cannot serve the dashboards on {ip}:{port}: {exc.strerror or exc}; pick "
                "another --port (or stop what uses it)."
            ) from None
    log_path = Path(w.settings.state_dir) / "voila.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    state = "the demo state" if w.settings.is_demo else w.db.describe()
    click.echo(f"Serving the {notebook} dashboard over {state}")
    click.echo(f"  task queue: {w.tasks.describe()}")
    d = w.settings.sections.dashboard
    proc = voila.start_voila(
        nb_dir, port=port, ip=ip, env=env, log_path=log_path, token=token, dashboard=d
    )
    for sig in (signal.SIGTERM, signal.SIGHUP):  # stop Voila too when we are told to stop
        signal.signal(sig, _exit_on_signal)
    interruptible()  # Ctrl-C too, even when started in the background (`make run &`)
    try:
        port = proc.wait_port(timeout_s=120)  # the port the server bound
        host = socket.getfqdn() if ip in {"0.0.0.0", "::", ""} else ip
        url = voila.dashboard_url(port, notebook, host=host, token=token)
        click.echo(f"  {url}")
        click.echo(
            f"  (science: {voila.dashboard_url(port, 'science', host=host, token=token)}; "
            f"server log: {log_path}; Ctrl-C to stop)"
        )
        click.echo(
            f"  at most {d.max_kernels or 'any number of'} viewer kernels; "
            f"{'one kernel kept ready; ' if d.preheat else ''}idle ones stop after "
            f"{d.cull_idle_s:g} s"
        )
        if not no_browser:
            import webbrowser

            webbrowser.open(url)
        proc.wait()
    except KeyboardInterrupt:
        click.echo("stopping the dashboard server ...", err=True)
    finally:
        voila.stop_process(proc)
        w.close()  # the demo's queue server stops with the last process using it
    if proc.returncode not in (0, -15, None):
        raise click.ClickException(f"Voila exited with status {proc.returncode}; see {log_path}.")


def _exit_on_signal(signum: int, frame: object) -> None:
    sys.exit(128 + signum)  # unwinds through the ``finally`` that stops Voila
