"""Targets and verdicts shared by the benchmark scripts (not part of the test run).

Each script states its targets through one :class:`Verdicts` and ends with
``sys.exit(v.finish())``::

    v = Verdicts("bench_thumbnail")
    v.at_least("thumbnail vs matplotlib (speed-up)", t_mpl / t_ours, 3.0)
    v.at_most("cached thumbnail", t_cached, 0.005, unit="s")
    v.agree("same pixels as astropy", max_abs_diff, 1e-6)
    sys.exit(v.finish())

``finish`` prints the script's own table and returns 1 if any target was missed (0
otherwise). When ``DSA110_BENCH_RESULTS`` names a file (``make bench`` sets it), every row is
also appended to it as one JSON line, and ``python benchmarks/_verdict.py summary FILE
NAME=RC ...`` prints the one closing table of every ratio, target and verdict, including a
row for each script that exited without reporting rows (its exit code is its verdict), and
exits 1 if anything missed.

Every ``bench_*.py`` script reports through this module; a script that fails before it
reports (a crash, or too little disk for ``bench_dataset.py``) still gets a row from its
exit code.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

RESULTS_ENV = "DSA110_BENCH_RESULTS"


def median_time(fn: Callable[[], object], *, repeat: int = 7, number: int = 1) -> float:
    """Median over ``repeat`` runs of the time per call, in seconds, after one warm-up call.

    The median, not the minimum: this machine is shared and noisy, and a median of
    ``repeat`` runs is what the targets are stated against."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times)


@dataclass(frozen=True)
class Row:
    """One stated target and what was measured against it."""

    script: str
    name: str
    value: float
    target: str
    verdict: str  # "PASS" or "MISS"

    def line(self) -> str:
        name = self.name if len(self.name) <= 64 else self.name[:61] + "..."
        return (
            f"{self.script:<18} {name:<64} {_fmt(self.value):>9} {self.target:<13} {self.verdict}"
        )


def _fmt(x: float) -> str:
    if math.isnan(x):
        return "nan"
    return f"{x:.3g}" if abs(x) < 1e4 else f"{x:.3e}"


class Verdicts:
    """The targets of one benchmark script and their verdicts."""

    def __init__(self, script: str):
        self.script = script
        self.rows: list[Row] = []

    def _add(self, name: str, value: float, target: str, ok: bool) -> bool:
        ok = bool(ok) and not math.isnan(value)
        row = Row(self.script, name, float(value), target, "PASS" if ok else "MISS")
        self.rows.append(row)
        print(f"[{row.verdict}] {name}: {_fmt(row.value)} (target {target})", flush=True)
        return ok

    def at_least(self, name: str, value: float, target: float, *, unit: str = "x") -> bool:
        """A ratio (speed-up, ``baseline / ours``) or a rate that must reach ``target``."""
        return self._add(name, value, f">= {target:g}{unit}", value >= target)

    def at_most(self, name: str, value: float, target: float, *, unit: str = "x") -> bool:
        """A ratio (``ours / baseline``) or a time that must not exceed ``target``."""
        return self._add(name, value, f"<= {target:g}{unit}", value <= target)

    def agree(self, name: str, difference: float, tolerance: float) -> bool:
        """Ours and the baseline's answers differ by at most ``tolerance``."""
        return self._add(
            name, abs(difference), f"|d| <= {tolerance:g}", abs(difference) <= tolerance
        )

    def true(self, name: str, ok: bool) -> bool:
        """A yes/no condition (the same rows, the same verdicts)."""
        return self._add(name, 1.0 if ok else 0.0, "holds", ok)

    @property
    def missed(self) -> list[Row]:
        return [r for r in self.rows if r.verdict != "PASS"]

    def finish(self) -> int:
        """Print this script's table, append it to ``$DSA110_BENCH_RESULTS``; 1 on a miss."""
        print(f"\n{self.script}: {len(self.rows) - len(self.missed)}/{len(self.rows)} targets met")
        for r in self.rows:
            print("  " + r.line())
        out = os.environ.get(RESULTS_ENV)
        if out:
            with open(out, "a") as fh:
                for r in self.rows:
                    fh.write(json.dumps(asdict(r)) + "\n")
        if not self.rows:
            print(f"{self.script}: no target was stated", file=sys.stderr)
            return 1
        return 1 if self.missed else 0


def summary(results: Path, exit_codes: dict[str, int]) -> int:
    """The closing table of ``make bench``: every row, plus one per script without rows."""
    rows = []
    if results.exists():
        rows = [Row(**json.loads(line)) for line in results.read_text().splitlines() if line]
    reported = {r.script for r in rows}
    for script, rc in exit_codes.items():
        if script not in reported:  # a script that reports on its own: its exit code only
            rows.append(
                Row(
                    script,
                    "(exit code; see its output)",
                    float(rc),
                    "== 0",
                    "PASS" if rc == 0 else "MISS",
                )
            )
        elif rc != 0 and not any(r.verdict == "MISS" for r in rows if r.script == script):
            rows.append(Row(script, "(failed after its rows)", float(rc), "== 0", "MISS"))
    print("\n" + "=" * 116)
    print(f"{'script':<18} {'ratio / measure':<64} {'value':>9} {'target':<13} verdict")
    print("-" * 116)
    for r in rows:
        print(r.line())
    missed = [r for r in rows if r.verdict != "PASS"]
    print("-" * 116)
    print(
        f"{len(rows) - len(missed)}/{len(rows)} targets met"
        + (f"; MISSED: {', '.join(f'{r.script}: {r.name}' for r in missed)}" if missed else "")
    )
    return 1 if missed else 0


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "summary":
        sys.exit("usage: _verdict.py summary RESULTS.jsonl SCRIPT=EXIT_CODE ...")
    codes = dict(a.rsplit("=", 1) for a in sys.argv[3:])
    sys.exit(summary(Path(sys.argv[2]), {k: int(v) for k, v in codes.items()}))
