"""``dsa110-ws demo`` and ``dsa110-ws info``."""

from __future__ import annotations

from pathlib import Path

import click

from dsa110_ws.cli._common import echo_json, workspace


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--seed", default=42, show_default=True, help="Random seed (same seed, same state).")
@click.option("--nights", default=10, show_default=True, help="Observing nights (UTC days).")
@click.option("--end-night", default=None, help="Last night, YYYY-MM-DD (default 2026-11-14).")
@click.option("--scale", is_flag=True, help="Rows only, at survey scale (for benchmarks).")
@click.option(
    "--images", "n_images", default=100_000, show_default=True, help="--scale: number of images."
)
@click.option(
    "--photometry",
    "n_photometry",
    default=10_000_000,
    show_default=True,
    help="--scale: number of photometry rows.",
)
@click.option("--overwrite", is_flag=True, help="Replace a non-empty DIRECTORY.")
@click.option("--no-queue", is_flag=True, help="Leave out the task queue's PostgreSQL (queue-pg/).")
def demo(
    directory: Path,
    seed: int,
    nights: int,
    end_night: str | None,
    scale: bool,
    n_images: int,
    n_photometry: int,
    overwrite: bool,
    no_queue: bool,
) -> None:
    """Generate a demo pipeline state into DIRECTORY."""
    from dsa110_ws import demo as demo_mod

    if scale:
        info = demo_mod.make_scale_state(
            directory, seed=seed, n_images=n_images, n_photometry=n_photometry, overwrite=overwrite
        )
        click.echo(
            f"wrote scale state to {directory}: {info['n_images']} images, "
            f"{info['n_photometry']} photometry rows in {info['seconds']:.0f} s"
        )
        return
    kwargs = {"end_night": end_night} if end_night else {}
    truth = demo_mod.make_demo_state(
        directory, seed=seed, nights=nights, overwrite=overwrite, queue=not no_queue, **kwargs
    )
    queue = truth.get("queue")
    click.echo(
        f"wrote demo state to {directory} ({len(truth['images'])} images, "
        f"{truth['sources']['n_photometry_rows']} photometry rows"
        + (f", {queue['n_tasks']} queue tasks in queue-pg/" if queue else "")
        + f", {truth['generation_seconds']} s)"
    )
    click.echo(f"use it with: DSA110_WS_SETTINGS={Path(directory).resolve()}/settings.toml")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info(as_json: bool) -> None:
    """What the settings resolve to, which tables exist (row counts), which roots are reachable."""
    w = workspace()
    s = w.settings
    counts = w.repos.row_counts()
    roots = {str(r): Path(r).is_dir() for r in (*s.data_roots, *s.log_roots)}
    out = {
        "settings": s.to_dict(),
        "origin": dict(s.origin),
        "database": w.db.describe(),
        "tables": {k: v for k, v in counts.items() if v is not None},
        "missing_tables": [k for k, v in counts.items() if v is None],
        "roots_reachable": roots,
        "now": w.now().isot,
    }
    if as_json:
        echo_json(out)
        return
    click.echo(f"workspace: {'demo state' if s.is_demo else 'pipeline state'}")
    click.echo(f"database:  {out['database']}")
    click.echo(f"clock:     {out['now']} UTC{' (frozen)' if s.now else ''}")
    for name, value in out["settings"].items():
        click.echo(f"  {name:<15} {value!s:<60} [{s.origin.get(name, '')}]")
    click.echo("tables (rows):")
    for name, n in out["tables"].items():
        click.echo(f"  {name:<24} {n:>10,}")
    for name in out["missing_tables"]:
        click.echo(f"  {name:<24} {'(missing)':>10}")
    click.echo("roots:")
    for root, ok in roots.items():
        click.echo(f"  {root}  {'ok' if ok else 'NOT REACHABLE'}")
