"""``dsa110-ws coverage``: the sky covered on a night, as a MOC and declination strips."""

from __future__ import annotations

import click

from dsa110_ws.cli._common import echo_json, workspace

__all__ = ["coverage"]


@click.command()
@click.option(
    "--night", required=True, help="Observing night: a UTC date (2026-11-13) or 'yesterday'."
)
@click.option(
    "--footprint",
    type=click.Choice(["wcs", "table", "pointings"]),
    default="wcs",
    show_default=True,
    help="Footprints from the FITS headers, the images table, or the MS pointings.",
)
@click.option(
    "--moc",
    "moc_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the MOC (IVOA MOC FITS) to this file.",
)
@click.option(
    "--force",
    "--overwrite",
    "overwrite",
    is_flag=True,
    help="Replace the MOC file if this workspace wrote it.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON record.")
def coverage(
    night: str, footprint: str, moc_path: str | None, overwrite: bool, as_json: bool
) -> None:
    """The sky observed on NIGHT: area, declinations, and the MOC (--moc FILE)."""
    w = workspace()
    cov = w.coverage.night(night, footprint=footprint)
    summary = cov.summary()
    if moc_path:
        summary["moc_file"] = str(w.coverage.write_moc(cov, moc_path, overwrite=overwrite))
    if as_json:
        echo_json({"night": night, **summary})
        return
    s = summary
    click.echo(f"Coverage of night {night} ({s['start_utc']} to {s['end_utc']} UTC)")
    if not s["n_footprints"]:
        click.echo("  nothing observed (no footprints in this window)")
    else:
        click.echo(
            f"  {s['n_footprints']} footprints: {s['n_from_wcs']} from FITS WCS, "
            f"{s['n_from_table']} from the images table, {s['n_from_pointings']} from pointings"
        )
        click.echo(
            f"  area {s['area_deg2']:.2f} deg2 ({100 * s['sky_fraction']:.3f} % of the sky), "
            f"MOC depth {s['moc_max_depth']}"
        )
        click.echo("  declinations observed:")
        for d in s["declinations"]:
            click.echo(
                f"    Dec {d['dec_deg']:+.2f}: {d['n_images']} footprints, "
                f"{d['ra_covered_deg']:.1f} deg of RA, {d['first_utc']} to {d['last_utc']} UTC"
            )
    if moc_path:
        click.echo(f"  MOC written to {s['moc_file']}")
