"""``dsa110-ws sources variability | lightcurve | cone | dataset``: a thin layer over ``w.sources``."""

from __future__ import annotations

import sys
from typing import Any

import click

from dsa110_ws.cli._common import echo_json, iso_text, note, text_table, workspace

__all__ = ["sources"]

VARIABILITY_FIELDS = [
    "source_id",
    "n_epochs",
    "mean_flux_jy",
    "std_flux_jy",
    "v",
    "eta",
    "chi2_nu",
    "sigma_deviation",
    "vs_max",
    "vs_mjd_a",
    "vs_mjd_b",
    "m_max",
    "m_mjd_a",
    "m_mjd_b",
    "dip_start_mjd",
    "dip_end_mjd",
    "dip_depth",
    "flux_column",
    "score",
    "ese_like",
    "is_candidate",
]
LIGHTCURVE_FIELDS = [
    "mjd",
    "time_utc",
    "flux_jy",
    "flux_err_jy",
    "flux_column",
    "image_path",
    "raw_flux_jy",
    "raw_flux_err_jy",
    "snr",
    "quality_flag",
]
CONE_FIELDS = [
    "id",
    "ra_deg",
    "dec_deg",
    "sep_arcsec",
    "detection_count",
    "first_detected_mjd",
    "last_detected_mjd",
    "mean_flux_jy",
    "nvss_flux_mjy",
]


def _number(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def _iso_times(df: Any) -> Any:
    """Time columns (``*_utc`` datetimes) as ISO 8601 UTC to the millisecond."""
    cols = [c for c in df.columns if c.endswith("_utc") and str(df[c].dtype).startswith("datetime")]
    return df.assign(**{c: [iso_text(t) for t in df[c]] for c in cols}) if cols else df


def _emit(df: Any, fields: list[str], as_json: bool, as_csv: bool, shown: int | None) -> None:
    cols = [c for c in fields if c in df.columns]
    if as_json:
        echo_json(df[cols])
    elif as_csv:
        _iso_times(df[cols]).to_csv(sys.stdout, index=False, float_format="%.15g")
    elif df.empty:
        click.echo("(none)")
    else:
        view = df[cols] if shown is None else df[cols].head(shown)
        click.echo(text_table(view, cols, paths=("image_path",)))
        if shown is not None and len(df) > shown:
            note(f"{len(df) - shown} more rows not shown (use --json, --csv or --all)")


def _output_options(fn: Any) -> Any:
    fn = click.option("--csv", "as_csv", is_flag=True, help="CSV on standard output.")(fn)
    return click.option("--json", "as_json", is_flag=True, help="JSON records.")(fn)


@click.group()
def sources() -> None:
    """Sources: variability of every source, light curves, cone searches."""


@sources.command()
@click.option(
    "--preset",
    default="moderate",
    show_default=True,
    type=click.Choice(["conservative", "moderate", "sensitive"]),
)
@click.option("--start", default=None, help="From this observation time (ISO date or MJD).")
@click.option("--end", default=None, help="Before this observation time.")
@click.option(
    "--flux",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "normalized", "raw", "reference"]),
)
@click.option("--candidates", "only_candidates", is_flag=True, help="Only candidates.")
@click.option("--all", "show_all", is_flag=True, help="Text output: every row, not the top 30.")
@_output_options
def variability(
    preset: str,
    start: str | None,
    end: str | None,
    flux: str,
    only_candidates: bool,
    show_all: bool,
    as_json: bool,
    as_csv: bool,
) -> None:
    """One record per source (best score first) with is_candidate at PRESET."""
    w = workspace()
    df = w.sources.variability(start=_number(start), end=_number(end), flux=flux, preset=preset)
    if only_candidates:
        df = df[df["is_candidate"]]
    df = df.sort_values(["is_candidate", "score"], ascending=False, kind="stable")
    if not (as_json or as_csv):
        a = df.attrs
        click.echo(
            f"{a['n_sources']} sources, {a['n_with_metrics']} with metrics, "
            f"{a['n_candidates']} candidates at {preset} ({a['n_ese_like']} ESE-like); "
            f"skipped rows: {a['n_rows_rejected']} (NaN flux {a['n_rows_nan_flux']}, "
            f"bad error {a['n_rows_bad_error']}); two-epoch route: {a['two_epoch']}"
        )
    scales = [f"_{name}" for name in df.attrs.get("timescales", {})]
    per_scale = [c for c in df.columns if c.endswith(tuple(scales))] if scales else []
    if not (as_json or as_csv):  # the text table: the preset's timescale only
        p = df.attrs["preset"]["timescale"]
        per_scale = [f"vs_max_{p}", f"m_max_{p}"] if p != "epoch" else []
    at = VARIABILITY_FIELDS.index("dip_start_mjd")
    fields = [*VARIABILITY_FIELDS[:at], *per_scale, *VARIABILITY_FIELDS[at:]]
    _emit(df, fields, as_json, as_csv, None if show_all else 30)


@sources.command()
@click.argument("source_id")
@click.option("--start", default=None, help="From this observation time (ISO date or MJD).")
@click.option("--end", default=None, help="Before this observation time.")
@click.option("--raw", is_flag=True, help="Raw flux instead of the normalised flux.")
@_output_options
def lightcurve(
    source_id: str, start: str | None, end: str | None, raw: bool, as_json: bool, as_csv: bool
) -> None:
    """The light curve of SOURCE_ID in observation order."""
    w = workspace()
    lc = w.sources.lightcurve(source_id, start=_number(start), end=_number(end), normalised=not raw)
    if not (as_json or as_csv):
        click.echo(f"{source_id}: {len(lc)} points, flux from {lc.attrs['flux_column']}")
    _emit(lc, LIGHTCURVE_FIELDS, as_json, as_csv, None)


@sources.command()
@click.argument("ra", type=float, metavar="RA_DEG")
@click.argument("dec", type=float, metavar="DEC_DEG")
@click.argument("radius_deg", type=float, required=False, metavar="[RADIUS_DEG]")
@click.option(
    "--radius-arcmin",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Search radius in arcminutes (as the dashboards use).",
)
@click.option(
    "--limit",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 100_000_000),
    help="Nearest sources returned.",
)
@_output_options
def cone(
    ra: float,
    dec: float,
    radius_deg: float | None,
    radius_arcmin: float | None,
    limit: int,
    as_json: bool,
    as_csv: bool,
) -> None:
    """Sources within --radius-arcmin of (RA_DEG, DEC_DEG) (ICRS, degrees), nearest first;
    sep_arcsec is each one's separation in arcseconds.

    The radius as a third argument in degrees still works but is deprecated.
    """
    import warnings

    from dsa110_ws.repositories import TruncatedResultWarning

    if (radius_deg is None) == (radius_arcmin is None):
        raise click.UsageError("give the search radius once, as --radius-arcmin ARCMIN")
    if radius_deg is not None:
        note(
            f"RADIUS_DEG as a third argument is deprecated: use --radius-arcmin {radius_deg * 60:g}"
        )
    radius = radius_deg if radius_deg is not None else radius_arcmin / 60.0  # type: ignore[operator]
    w = workspace()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TruncatedResultWarning)
        df = w.sources.cone((ra, dec), radius, limit=limit)
    _emit(df, CONE_FIELDS, as_json, as_csv, None)
    if caught and not (as_json or as_csv):
        note(f"truncated at --limit {limit}")


@sources.command()
@click.option("--refresh", "do_refresh", is_flag=True, help="Bring the dataset up to the database.")
@click.option("--full", is_flag=True, help="With --refresh: also check every row for updates.")
@click.option("--status", "status_only", is_flag=True, help="Only report (the default).")
@click.option("--json", "as_json", is_flag=True, help="One JSON record.")
def dataset(do_refresh: bool, full: bool, status_only: bool, as_json: bool) -> None:
    """The photometry as a Parquet dataset: where it is and what it holds; with --refresh
    built or refreshed first (run it from cron after the night's photometry is in).
    Point pandas, DuckDB or polars at PATH/*/*.parquet."""
    w = workspace()
    ds = w.dataset
    out = (
        ds.refresh(full=full, progress=not as_json)
        if do_refresh and not status_only
        else ds.status()
    )
    if as_json:
        echo_json(out)
        return
    click.echo(f"database: {out['database']}")
    click.echo(f"path: {out['path']}")
    if not out["built"]:
        click.echo("dataset: not built yet (dsa110-ws sources dataset --refresh builds it)")
        return
    click.echo(
        f"dataset: {out['rows']:,} rows in {out['partitions']} partitions, {out['files']} "
        f"files, {out['bytes'] / 1e6:.1f} MB; {out['state']} "
        f"(rows up to id {out['max_id']:,})"
    )
    last = out.get("last_refresh") or {}
    if last:
        click.echo(
            f"last refresh: {last.get('mode')}, {last.get('images_added', 0):,} images added, "
            f"{last.get('images_changed', 0):,} changed, {last.get('images_removed', 0):,} "
            f"removed; {last.get('rows_read', 0):,} rows read"
            + (f", {last['rows_checked']:,} checked" if last.get("rows_checked") else "")
            + f" ({last.get('driver')}) in {last.get('seconds', 0):.2f} s"
        )
