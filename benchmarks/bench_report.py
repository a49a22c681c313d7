"""Nightly QA report end to end (kernel start, data, rendering), cold then warm caches.

Targets (issue 7): the nightly QA report on a demo night in under 30 s including the
kernel start; a second run with warm caches at least 2x faster than the first.  The
baseline measured in the same run is a bare papermill run of a one-cell notebook through
the same runner (kernel start + nbconvert): the floor no report can go below.

    .venv/bin/python benchmarks/bench_report.py [--night 2026-11-13]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import demo_state
from _verdict import Verdicts

PHASES = ("prepare_s", "kernel_start_s", "data_s", "kernel_other_s", "render_s", "total_s")


def _floor_template(where: Path) -> Path:
    """A template with the QA parameters and one trivial cell that writes no-op metrics."""
    import nbformat

    from dsa110_ws.reporting.templates import parameters_cell

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_code_cell(parameters_cell("qa"), metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "import json\nopen(metrics_path, 'w').write(json.dumps({'metrics': []}))"
        ),
    ]
    path = where / "floor.ipynb"
    nbformat.write(nb, path)
    return path


def _run(label: str, **kwargs) -> dict[str, float]:
    from dsa110_ws.reporting import run_report

    t0 = time.perf_counter()
    r = run_report("qa", **kwargs)
    wall = time.perf_counter() - t0
    if not r.ok:
        raise SystemExit(f"{label}: {r.status}: {r.error}")
    t = dict(r.timings)
    print(
        f"{label:<26}"
        + "".join(f" {t.get(k, 0.0):7.2f}" for k in PHASES)
        + f"   wall {wall:6.2f} s  -> {r.output_dir}"
    )
    return t


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _series(tag: str, params: dict, work: Path, *, repeat: int) -> tuple[list, list]:
    """``repeat`` cold runs (each with a fresh workspace state dir, so every derived-product
    cache is empty) and ``repeat`` warm runs (reusing the last state dir)."""
    cold, warm = [], []
    for i in range(repeat):
        # the kernel inherits this: its workspace caches start empty
        os.environ["DSA110_WS_STATE_DIR"] = str(work / f"state-{tag}-{i}")
        cold.append(
            _run(f"{tag}: cold caches #{i + 1}", params=params, out_dir=work / f"out-{tag}")
        )
    for i in range(repeat):
        warm.append(
            _run(f"{tag}: warm caches #{i + 1}", params=params, out_dir=work / f"out-{tag}")
        )
    return cold, warm


def _summary(v: Verdicts, tag: str, cold: list, warm: list, floor: float) -> None:
    c, w = _median(cold, "total_s"), _median(warm, "total_s")
    cd, wd = _median(cold, "data_s"), _median(warm, "data_s")
    print(
        f"{tag}: end to end cold {c:.2f} s, warm {w:.2f} s -> {c / w:.2f}x; "
        f"cells only: cold {cd:.2f} s, "
        f"warm {wd:.2f} s -> {cd / wd:.2f}x; above the floor: cold {c - floor:.2f} s, warm "
        f"{w - floor:.2f} s -> {(c - floor) / max(w - floor, 1e-3):.2f}x"
    )
    v.at_least(f"QA report {tag}: cold / warm caches, end to end", c / w, 2.0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--night", default="2026-11-13", help="demo night (default: 'yesterday')")
    ap.add_argument("--repeat", type=int, default=3, help="runs per series (medians)")
    args = ap.parse_args()
    demo = demo_state()
    work = Path(tempfile.mkdtemp(prefix="dsa110-bench-report-"))
    settings = str(demo / "settings.toml")
    night = {"night": args.night, "settings": settings}
    print(f"nightly QA on {demo}; seconds per phase:")
    print(f"{'':<32}" + "".join(f" {k.removesuffix('_s')[:7]:>7}" for k in PHASES))
    os.environ["DSA110_WS_STATE_DIR"] = str(work / "state-floor")
    floors = [
        _run(
            f"floor: 1-cell notebook #{i + 1}",
            params=night,
            out_dir=work / "floor",
            template=_floor_template(work),
        )
        for i in range(args.repeat)
    ]
    floor = _median(floors, "total_s")
    cold, warm = _series(f"night-{args.night}", night, work, repeat=args.repeat)
    # the same report over the whole demo (10 nights, 80 images): more cache-dependent work
    span = {"start": "2026-11-05", "end": "2026-11-15", "settings": settings}
    cold10, warm10 = _series("10-nights", span, work, repeat=args.repeat)
    print()
    c = _median(cold, "total_s")
    print(
        f"floor (kernel start + papermill + nbconvert of a 1-cell notebook): {floor:.2f} s "
        f"(kernel start {_median(floors, 'kernel_start_s'):.2f} s)"
    )
    print(
        f"night {args.night}, end to end with cold caches: {c:.2f} s; {c / floor:.2f}x the floor"
    )
    v = Verdicts("bench_report")
    v.at_most(f"nightly QA report {args.night}, cold, with kernel start", c, 30.0, unit=" s")
    _summary(v, f"night-{args.night}", cold, warm, floor)
    _summary(v, "10-nights", cold10, warm10, floor)
    return v.finish()


if __name__ == "__main__":
    sys.exit(main())
