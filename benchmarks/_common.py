"""Shared helpers for the benchmark scripts (not part of the test run)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: Debian's Chromium and its headless flags, for the browser benchmarks (the same flags as
#: tests/browser/conftest.py: no network beyond loopback, no GPU, no first-run work).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def demo_state() -> Path:
    """A demo state for benchmarks: $DSA110_BENCH_DEMO, else generated into a temp dir."""
    env = os.environ.get("DSA110_BENCH_DEMO")
    if env:
        return Path(env)
    from dsa110_ws.demo import make_demo_state

    out = Path(tempfile.mkdtemp(prefix="dsa110-bench-")) / "demo"
    make_demo_state(out)
    return out


def scale_state() -> Path:
    """The survey-scale rows-only state: $DSA110_BENCH_SCALE, else /tmp/dsa-scale (generated
    on first use, about a minute and 2.3 GB)."""
    path = Path(os.environ.get("DSA110_BENCH_SCALE", "/tmp/dsa-scale"))
    if not (path / "settings.toml").exists():
        from dsa110_ws.demo import make_scale_state

        print(f"generating the scale state in {path} (about a minute) ...", flush=True)
        make_scale_state(path, overwrite=True)
    return path


def report(name: str, t: float, baseline_name: str, t_base: float, *, target: str = "") -> float:
    ratio = t / t_base
    print(f"{name:<44} {t * 1e3:9.3f} ms | {baseline_name:<34} {t_base * 1e3:9.3f} ms | "
          f"ratio {ratio:6.2f}x {target}")
    return ratio
