"""The operations dashboard: cold start in Voila, and refreshing its panels at survey scale.

    .venv/bin/python benchmarks/bench_dashboard.py

1. Cold start: time from starting Voila to the first rendered widget of the operations
   dashboard in headless Chromium (target < 10 s), and to its first real number (the
   failed-jobs count); two fresh servers in a row.
2. Refresh: one synchronous refresh of every operations panel over the scale state
   (100,000 images, 10,000,000 photometry rows; $DSA110_BENCH_SCALE, default /tmp/dsa-scale)
   against the same refresh over the small demo measured in this run (target < 1 s), with
   each panel's "load" (its service calls, plus drawing its PNG plots, in the worker) and
   "total" (load plus putting the result into the widgets).

The demo state is $DSA110_BENCH_DEMO, else generated into a temporary directory.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from _common import CHROMIUM, CHROMIUM_ARGS, demo_state, scale_state
from _verdict import Verdicts, median_time

KPI = ".dsa-kpi[data-kpi='failed_jobs'] .dsa-kpi-value"


def cold_start(settings: Path, runs: int = 2) -> list[tuple[float, float, float]]:
    """(listening, first widget, first number) seconds after starting Voila, per run."""
    from playwright.sync_api import sync_playwright

    from dsa110_ws.cli import voila

    out = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        for _ in range(runs):
            env = dict(
                os.environ,
                DSA110_WS_SETTINGS=str(settings),
                DSA110_WS_STATE_DIR=tempfile.mkdtemp(prefix="bench-voila-"),
            )
            page = browser.new_page()
            t0 = time.perf_counter()
            proc = voila.start_voila(voila.dashboards_dir(), env=env)
            try:
                port = proc.wait_port(timeout_s=120)  # the port the server bound
                t_port = time.perf_counter() - t0
                page.goto(
                    voila.dashboard_url(port, "operations"), wait_until="commit", timeout=120_000
                )
                page.wait_for_selector(".dsa-panel", timeout=120_000)
                t_widget = time.perf_counter() - t0
                page.wait_for_function(
                    f'() => {{ const e = document.querySelector("{KPI}");'
                    " return e && /\\d/.test(e.textContent); }",
                    timeout=120_000,
                )
                t_data = time.perf_counter() - t0
            finally:
                voila.stop_process(proc)
                page.close()
            out.append((t_port, t_widget, t_data))
        browser.close()
    return out


def refresh_times(settings: Path) -> tuple[float, dict[str, tuple[float, float]]]:
    """Median seconds of one full refresh, and per panel (load, load + show)."""
    import dsa110_ws
    from dsa110_ws.panels import OperationsDashboard

    w = dsa110_ws.connect(settings, state_dir=tempfile.mkdtemp(prefix="bench-dash-"))
    dash = OperationsDashboard(w, background=False)  # the first load is the warm-up
    for name, part in dash.parts.items():
        assert not part.last_error, f"{name}: {part.last_error}"
    parts = {
        name: (median_time(part._load, repeat=3), median_time(part.refresh, repeat=3))
        for name, part in dash.parts.items()
    }
    total = median_time(dash.refresh, repeat=5)
    dash.close()
    w.close()
    return total, parts


def main() -> int:
    v = Verdicts("bench_dashboard")
    demo = demo_state()
    print("== cold start of the operations dashboard (Voila + headless Chromium)")
    for k, (t_port, t_widget, t_data) in enumerate(cold_start(demo / "settings.toml"), 1):
        print(
            f"run {k}: listening {t_port:5.2f} s | first widget {t_widget:5.2f} s "
            f"| failed-jobs number shown {t_data:5.2f} s"
        )
        v.at_most(f"Voila cold start to the first widget, run {k}", t_widget, 10.0, unit=" s")
    print("== refreshing every operations panel (synchronous, median)")
    small, small_parts = refresh_times(demo / "settings.toml")
    big, big_parts = refresh_times(scale_state() / "settings.toml")
    print(
        f"{'panel':<12}{'demo load':>11}{'demo total':>12}{'scale load':>12}"
        f"{'scale total':>13}{'ratio':>8}"
    )
    for name in small_parts:
        if name not in big_parts:  # the demo's task queue; the scale state has none
            print(f"{name:<12}{small_parts[name][0] * 1e3:9.1f}ms  (demo only: bench_queue)")
            continue
        (sl, st), (bl, bt) = small_parts[name], big_parts[name]
        print(
            f"{name:<12}{sl * 1e3:9.1f}ms{st * 1e3:10.1f}ms{bl * 1e3:10.1f}ms"
            f"{bt * 1e3:11.1f}ms{bt / st:7.1f}x"
        )
    print(
        f"{'all panels':<12}{'':>11}{small * 1e3:10.1f}ms{'':>12}{big * 1e3:11.1f}ms"
        f"{big / small:7.1f}x   scale refresh {big:.3f} s"
    )
    v.at_most("operations dashboard refresh at survey scale", big, 1.0, unit=" s")
    slowest = max(big_parts, key=lambda n: big_parts[n][1])
    print(
        f"slowest at scale: {slowest} ({big_parts[slowest][1] * 1e3:.0f} ms, of which "
        f"{big_parts[slowest][0] * 1e3:.0f} ms in its service calls)"
    )
    return v.finish()


if __name__ == "__main__":
    sys.exit(main())
