"""Shared helpers for the benchmark scripts (not part of the test run)."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _chromium() -> tuple[Path, list[str]]:
    """Debian's Chromium and its headless flags: the browser tests' own
    (tests/browser/_chromium.py), loaded by path."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "tests" / "browser" / "_chromium.py"
    spec = importlib.util.spec_from_file_location("_chromium", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.CHROMIUM, list(mod.CHROMIUM_ARGS)


CHROMIUM, CHROMIUM_ARGS = _chromium()


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
    print(
        f"{name:<44} {t * 1e3:9.3f} ms | {baseline_name:<34} {t_base * 1e3:9.3f} ms | "
        f"ratio {ratio:6.2f}x {target}"
    )
    return ratio
