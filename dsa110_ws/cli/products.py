"""``dsa110-ws qa image|cal|gains|peers``, ``dsa110-ws ms summary|waterfall``,
``dsa110-ws image provenance`` and ``dsa110-ws thumbnail``.

``--json`` prints the result's ``to_dict()``: a stable, documented record (see
``ImageQAResult``, ``CalQAResult`` and ``MSSummary``).  Exit status 0 on success; an error is
one line on stderr and status 1; ``--fail-on`` turns a bad (or warning, or unknown) grade into
status 3 for cron jobs.  A table or image the QA could not measure (damaged, all-NaN solutions,
an unknown solve type, no rows) is graded ``unknown``, its checks say ``cannot grade: ...``, and
``--fail-on unknown`` counts it as failing (the order is good < unknown < warning < bad, the
severity ladder).
"""

from __future__ import annotations

from pathlib import Path

import click

from dsa110_ws.cli._common import echo_json, workspace

_FAIL_ON = click.Choice(["never", "unknown", "warning", "bad"])
_GRADE_EXIT = 3
#: Grades from best to worst (the severity ladder: ok < unknown < warning < critical).
_GRADE_RANK = {"good": 0, "unknown": 1, "warning": 2, "bad": 3}


def _exit_for(grade: str, fail_on: str) -> None:
    if fail_on != "never" and _GRADE_RANK.get(grade, 1) >= _GRADE_RANK[fail_on]:
        raise click.exceptions.Exit(_GRADE_EXIT)


def _echo_checks(result) -> None:
    click.echo(f"grade: {result.grade}")
    for c in result.checks:
        mark = {"pass": " ok ", "warn": "WARN", "fail": "FAIL", "unknown": " ?? "}.get(
            c.verdict, c.verdict
        )
        click.echo(f"  [{mark}] {c.metric:<20} {c.reason}")


def _cal_head(r) -> str:
    """``path: type (VisCal)``, or what is known of a table that could not be classified."""
    kind = r.table_type or "unknown solve type"
    said = f" ({r.vis_cal})" if r.vis_cal else ""
    return f"{r.path}: {kind}{said}"


def _qa_options(func):
    """The argument and options shared by ``qa image`` and ``qa cal``."""
    for option in reversed(
        [
            click.argument("path", type=click.Path(path_type=Path)),
            click.option("--json", "as_json", is_flag=True, help="Print the QA record as JSON."),
            click.option(
                "--no-cache", is_flag=True, help="Recompute even if a cached result exists."
            ),
            click.option(
                "--fail-on",
                type=_FAIL_ON,
                default="never",
                show_default=True,
                help="Exit with status 3 when the grade is this bad.",
            ),
        ]
    ):
        func = option(func)
    return func


@click.group()
def qa() -> None:
    """Quality assessment of images and calibration tables, from the files."""


@qa.command("image")
@_qa_options
def qa_image(path: Path, as_json: bool, no_cache: bool, fail_on: str) -> None:
    """QA of the FITS image PATH: robust rms, peak, dynamic range, beam, islands, grade.

    JSON keys: rms_jy, median_jy, peak_jy (maximum pixel, as CASA imstat), peak_fit_jy (fitted
    sub-pixel peak), dynamic_range, beam_major_arcsec,
    beam_minor_arcsec, beam_pa_deg, cell_arcsec, n_islands, blanked_fraction, grade, reasons,
    checks (metric, value, threshold, comparison, verdict, reason).
    """
    r = workspace().qa.image(path, use_cache=not no_cache)
    if as_json:
        echo_json(r.to_dict())
    else:
        click.echo(f"{r.path}")
        click.echo(
            f"rms {r.rms_jy * 1e3:.3f} mJy/beam, peak {r.peak_jy:.4g} Jy/beam, "
            f"dynamic range {r.dynamic_range:.0f}, {r.n_islands} islands, "
            f"blanked {r.blanked_fraction:.1%}"
        )
        _echo_checks(r)
    _exit_for(r.grade, fail_on)


@qa.command("cal")
@_qa_options
def qa_cal(path: Path, as_json: bool, no_cache: bool, fail_on: str) -> None:
    """QA of the calibration table PATH: flags, amplitudes, phases, SNR, dead antennas.

    JSON keys: table_type, vis_cal, n_solutions (rows x channels x correlations), n_flagged,
    flag_fraction, amp_median, amp_std, amp_mad, phase_median_deg, phase_scatter_deg,
    phase_scatter_all_deg, delay_median_ns, delay_std_ns, delay_max_abs_ns, snr_median,
    dead_antennas, grade, reasons, checks, per_antenna, per_spw.
    """
    r = workspace().qa.cal(path, use_cache=not no_cache)
    if as_json:
        echo_json(r.to_dict())
    else:
        flagged = f"{r.flag_fraction:.1%} flagged" if r.n_solutions else "no solutions read"
        click.echo(f"{_cal_head(r)}, {r.n_solutions} solutions, {flagged}")
        if r.dead_antennas:
            click.echo(f"dead antennas: {', '.join(r.dead_antennas)}")
        _echo_checks(r)
    _exit_for(r.grade, fail_on)


@click.group()
def ms() -> None:
    """Measurement Set inspection."""


@ms.command("summary")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--no-flags", is_flag=True, help="Metadata only: do not read FLAG.")
def ms_summary(path: Path, as_json: bool, no_flags: bool) -> None:
    """Summary of the Measurement Set PATH.

    JSON keys: n_rows, n_antennas (ANTENNA rows), n_antennas_with_data, antenna_names,
    antennas, fields (name, ra_deg, dec_deg in J2000), spws (n_channels, freq_min_hz,
    freq_max_hz = lowest/highest channel centres), correlations, time_start_mjd, time_end_mjd
    (first/last TIME, UTC; time_scale says what the file used), time_start_utc, time_end_utc,
    integration_s, scans, data_columns, size_bytes, flag_fraction (all visibilities),
    flag_fraction_cross, flag_fraction_per_antenna, warnings.
    """
    from dsa110_ws.core.coordtext import position_text

    s = workspace().ms.summary(path, flags=not no_flags)
    if as_json:
        echo_json(s.to_dict())
        return
    click.echo(f"{s.path} ({s.telescope}, {s.size_bytes / 1e6:.1f} MB)")
    parts = [f"rows {s.n_rows}", f"antennas {s.n_antennas}"]
    if s.n_antennas_with_data is not None:
        parts[-1] += f" ({s.n_antennas_with_data} with data)"
    parts.append("scans unknown" if s.scans is None else f"scans {list(s.scans)}")
    if s.integration_s is not None:
        parts.append(f"integration {s.integration_s:g} s")
    click.echo(", ".join(parts))
    if s.time_start_utc is not None:
        click.echo(f"time {s.time_start_utc} .. {s.time_end_utc} ({s.time_scale})")
    for f in s.fields:
        click.echo(f"field {f['name']}: {position_text(f['ra_deg'], f['dec_deg'])} (J2000)")
    for w in s.spws:
        click.echo(
            f"spw {w['spw_id']}: {w['n_channels']} channels, "
            f"{w['freq_min_hz'] / 1e9:.6f}-{w['freq_max_hz'] / 1e9:.6f} GHz"
        )
    click.echo(f"correlations {list(s.correlations) if s.correlations else 'unknown'}")
    if s.flag_fraction is not None:
        click.echo(
            f"flagged {s.flag_fraction:.2%} (cross-correlations {s.flag_fraction_cross:.2%})"
        )
    for w in s.warnings:
        click.echo(f"warning: {w}")


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="PNG file to write.",
)
@click.option("--size", default=256, show_default=True, help="Longest side, pixels.")
@click.option(
    "--scale",
    type=click.Choice(["rms", "zscale", "percentile"]),
    default="rms",
    show_default=True,
    help="Display limits.",
)
@click.option("--cmap", default="gray", show_default=True, help="Colour map.")
@click.option("--force", is_flag=True, help="Replace OUTPUT if this workspace wrote it.")
def thumbnail(path: Path, out: Path, size: int, scale: str, cmap: str, force: bool) -> None:
    """Write a PNG thumbnail of the FITS image PATH (FITS row 0 at the bottom)."""
    w = workspace()
    w.fits.output_path(out, force=force)  # refused before any work when it may not be written
    png = w.fits.thumbnail(path, size=size, scale=scale, cmap=cmap)
    target = w.fits.write_output(out, png, what="thumbnail", force=force)
    click.echo(f"wrote {target} ({len(png)} bytes)")


@qa.command("gains")
@_qa_options
def qa_gains(path: Path, as_json: bool, no_cache: bool, fail_on: str) -> None:
    """Gain QA per antenna of the calibration table PATH: SNR, chi-squared (when the table has
    a CHI2 column) and the jitter between successive solutions; names the noisy antennas.

    JSON keys: table_type, vis_cal, axis (time or channel), n_antennas, n_solutions, has_chi2,
    noisy_antennas, grade, reasons, checks, per_antenna (name, snr_median, chi2_median,
    amp_jitter, phase_jitter_deg, noisy, reasons).
    """
    r = workspace().qa.gains(path, use_cache=not no_cache)
    if as_json:
        echo_json(r.to_dict())
    else:
        along = f"successive solutions along {r.axis or 'nothing (one solution each)'}"
        click.echo(
            f"{_cal_head(r)}, {r.n_antennas} antennas, {along if r.n_solutions else 'no solutions read'}"
        )
        if r.noisy_antennas:
            click.echo(f"noisy antennas: {', '.join(r.noisy_antennas)}")
        _echo_checks(r)
    _exit_for(r.grade, fail_on)


@qa.command("peers")
@click.option("--night", default="yesterday", show_default=True, help="UTC day (or 'yesterday').")
@click.option("--json", "as_json", is_flag=True, help="Print one record per image as JSON.")
@click.option("--all", "show_all", is_flag=True, help="List every image, not only the flagged.")
def qa_peers(night: str, as_json: bool, show_all: bool) -> None:
    """Image QA of a night's images relative to their peers (same declination strip, a window
    around each image's time): rms, beam and island-count outliers.

    JSON keys per image: path, obs_mjd, dec_deg, grade (absolute), peer_grade,
    grade_with_peers, n_peers, rms_jy, rms_jy_z, beam_major_arcsec_z, beam_minor_arcsec_z,
    n_islands_z, peer_reasons, peer_checks.
    """
    from dsa110_ws.core.time import night_bounds

    w = workspace()
    lo, hi = night_bounds(night, now=w.now())
    df = w.qa.peers(w.images.find(start=lo, end=hi, limit=None))
    shown = df if show_all else df[df["peer_grade"] != "good"]
    if as_json:
        cols = [c for c in shown.columns if c not in ("peer_checks",)]
        records = shown[cols].to_dict(orient="records")
        for rec, checks in zip(records, shown["peer_checks"], strict=True):
            rec["peer_checks"] = [c.to_dict() for c in checks]
        echo_json(records)
        return
    click.echo(f"{len(df)} images of {night}; {int((df['peer_grade'] != 'good').sum())} flagged")
    for _, r in shown.iterrows():
        click.echo(f"{Path(r['path']).name}: {r['grade']} / peers {r['peer_grade']}")
        for reason in filter(None, str(r["peer_reasons"]).split("; ")):
            click.echo(f"  {reason}")


@ms.command("waterfall")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="PNG file to write.",
)
@click.option(
    "--quantity", type=click.Choice(["amp", "phase", "flag"]), default="amp", show_default=True
)
@click.option("--baseline", default=None, help="'A&B' (one baseline) or 'A' (one antenna).")
@click.option("--spw", type=int, default=None, help="Only this spectral window.")
@click.option("--correlation", default=None, help="One correlation (default: parallel hands).")
@click.option("--column", default="DATA", show_default=True)
@click.option("--force", is_flag=True, help="Replace OUTPUT if this workspace wrote it.")
def ms_waterfall(
    path: Path,
    out: Path,
    quantity: str,
    baseline: str | None,
    spw: int | None,
    correlation: str | None,
    column: str,
    force: bool,
) -> None:
    """Write a time x frequency waterfall of the Measurement Set PATH as a PNG."""
    import io

    from matplotlib.figure import Figure

    w = workspace()
    w.fits.output_path(out, force=force)  # refused before any work when it may not be written
    wf = w.ms.waterfall(
        path, quantity, baseline=baseline, spw=spw, correlation=correlation, column=column
    )
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    wf.plot(fig.add_subplot())
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    target = w.fits.write_output(out, buf.getvalue(), what="waterfall", force=force)
    click.echo(
        f"wrote {target}: {quantity} of {wf.selection}, {wf.shape[0]} integrations x "
        f"{wf.shape[1]} channels, {wf.n_rows_read} rows read"
    )


@click.group()
def image() -> None:
    """One image: its provenance."""


@image.command("provenance")
@click.argument("path_or_id")
@click.option("--json", "as_json", is_flag=True, help="Print the chain as JSON.")
@click.option(
    "--no-file-qa", is_flag=True, help="Only the pipeline's stored QA (read no product file)."
)
def image_provenance(path_or_id: str, as_json: bool, no_file_qa: bool) -> None:
    """The chain behind image PATH_OR_ID (a catalogue id or a FITS path): the job that made it,
    its MS and stage history, the caltables applied (set, solve time, validity), the pointing,
    the QA of the MS, caltables and image, and the run's log; missing links name the table
    that lacks them.

    JSON keys: image_path, image_id, ms_path, complete, status, gaps, links (step, label,
    status, detail, view, key, cli, missing, data).
    """
    p = workspace().provenance.image(path_or_id, file_qa=not no_file_qa)
    if as_json:
        echo_json(p.to_dict())
        return
    done = "complete" if p.complete else f"{len(p.gaps)} gap(s)"
    click.echo(f"{p.image_path} (image {p.image_id}): {done}, worst link {p.status}")
    mark = {"ok": " ok ", "unknown": " ?  ", "warning": "WARN", "critical": "FAIL"}
    for x in p.links:
        gap_note = f" [missing from {x.missing}]" if x.missing else ""
        click.echo(
            f"  [{mark.get(x.status, x.status)}] {x.step:<11} {x.label}: {x.detail}{gap_note}"
        )
        if x.cli:
            click.echo(f"         -> {x.cli}")
    log = next((x for x in p.links if x.step == "log" and x.data.get("lines")), None)
    if log is not None:
        click.echo("  log excerpt:")
        for line in log.data["lines"]:
            click.echo(f"    {line}")
