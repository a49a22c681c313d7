"""Logs read from the end, and the truthful health probe, against baselines in the same run.

    .venv/bin/python benchmarks/bench_logs_health.py [/tmp/dsa-scale/settings.toml]

1. ``w.logs.tail(run, 200)`` of a 64 MiB log against the way it was read before issue 13
   (the whole file read and parsed, then the last 200 lines kept): target ratio >= 20.
2. The health probe (a fresh read-only connection reading the schema) and the new
   ``indexes`` check on the survey-scale database, against one ``SELECT 1`` on a pooled
   connection (the old ping) plus a fresh connection's open: targets < 50 ms each.
Exits non-zero when a target is missed.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import _common  # noqa: F401  (puts the checkout on sys.path)
from _verdict import Verdicts, median_time

LINE = "2026-11-14T03:{m:02d}:{s:02d} INFO dsa110.calibrate: step {i} done, gains ok\n"


def _big_log(root: Path, size: int) -> Path:
    path = root / "big-000001.log"
    block = "".join(LINE.format(m=(i // 60) % 60, s=i % 60, i=i) for i in range(20000)).encode()
    with open(path, "wb") as fh:
        written = 0
        while written < size:
            fh.write(block)
            written += len(block)
    return path


def _old_tail(path: Path, n: int):
    from dsa110_ws.services.operations._logparse import parse_lines

    with open(path, "rb") as fh:
        data = fh.read()
    df, _ = parse_lines(data, base_offset=0, first_line_no=1)
    return df.tail(n)


def main(settings: str | None) -> int:
    import dsa110_ws

    v = Verdicts("bench_logs_health")
    root = Path(tempfile.mkdtemp(prefix="bench-logs-"))
    path = _big_log(root, 64 << 20)
    w = dsa110_ws.connect(settings, state_dir=root / "state", log_roots=[root])
    ours = median_time(lambda: w.logs.tail("big-000001", 200), repeat=5)
    t0 = time.perf_counter()
    _old_tail(path, 200)
    old = time.perf_counter() - t0
    ratio = old / ours
    print(
        f"logs.tail(200) of {path.stat().st_size >> 20} MiB: {ours * 1e3:.1f} ms, whole-file "
        f"baseline {old:.2f} s, ratio {ratio:.0f}x (target >= 20x)"
    )
    v.at_least("logs.tail(200): whole-file read / ours", ratio, 20.0)
    path.unlink()
    db = w.db
    uri = f"file:{db.path}?mode=ro"

    def old_ping() -> None:
        con = sqlite3.connect(uri, uri=True)
        con.execute("SELECT 1").fetchone()
        con.close()

    base = median_time(old_ping)
    for name, fn in (
        ("probe (fresh connection, schema read)", lambda: db.probe()),
        ("indexes check", lambda: w.health.check(names=["indexes"])),
    ):
        t = median_time(fn)
        print(
            f"{name} on {db.describe()}: {t * 1e3:.2f} ms, open+SELECT 1 baseline "
            f"{base * 1e3:.2f} ms, ratio {t / base:.1f}x (target < 50 ms)"
        )
        v.at_most(f"health {name}", t, 0.050, unit=" s")
    w.close()
    return v.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
