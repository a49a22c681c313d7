"""Many viewers of the operations dashboard at once: 1, 5 and 10 headless Chromium pages.

    .venv/bin/python benchmarks/bench_viewers.py [--seconds 40] [--viewers 1,5,10]

For each count of viewers, a fresh Voila server (the shipped configuration: one preheated
kernel, the kernel limit, the shared cache) on 127.0.0.1 serves the demo state
($DSA110_BENCH_DEMO, else generated) with its task queue; the viewers arrive together, then
force refreshes ("refresh now") for a bounded time:

* time to first widget: navigation start to the first widget in the page, and to every
  headline number shown (p50/p99 over the viewers);
* database queries per refresh round: three rounds from a cold shared cache, every viewer
  refreshing at once, queries counted in every process (``DSA110_WS_QUERY_LOG``); their
  latencies are printed as "cold rounds";
* refresh latency: then every viewer clicks "refresh now" about once a second for
  ``--seconds``; click to every panel idle again (p50/p99 over those refreshes: most are
  served from the shared cache, the first after it expires reads the databases);
* total kernel memory: RSS of every dashboard kernel (``w.kernels``), viewers' and the
  preheated one;
* errors: pages refused or not rendered, error status lines, Python errors on a page;
* CPU while the viewers arrived, by process group (the headless browsers, the dashboard
  kernels, the Voila server): where the first-widget time goes on a machine that runs
  the browsers too.

Each figure is printed with its ratio to the single-viewer run.  Targets with 10 viewers:
refresh p99 < 2 s, first widget p99 < 10 s, total kernel memory < 3 GB, zero errors; the
script exits non-zero when one is missed.  Only loopback addresses; bounded in count and
time.  The machine's load average is printed (a shared machine inflates every time).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from _common import CHROMIUM, CHROMIUM_ARGS, demo_state
from _verdict import Verdicts

ALL_KPIS = ".dsa-kpi[data-kpi='stuck_tasks'] .dsa-kpi-value:not(:text('…'))"
ERROR_TEXT = re.compile(r"Traceback|There was an error when executing|\b\w+(Error|Exception):")
TICKS = (
    "() => Number((document.querySelector('.dsa-refreshes') || {dataset: {}}).dataset.ticks || 0)"
)
IDLE = "() => document.querySelectorAll('.dsa-status-busy').length === 0"
TIMEOUT_MS = 300_000


def pct(xs: list[float], q: float) -> float:
    """The q-th percentile (nearest rank; the maximum for p99 of few samples)."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, int(round(q / 100 * len(s) + 0.5)) - 1))]


def cpu_by_group() -> dict[str, float]:
    """CPU seconds (user + system) used so far by this machine's browsers, dashboard
    kernels and Voila servers (processes alive now; per process, by command line)."""
    import psutil

    out = {"browser": 0.0, "kernels": 0.0, "voila": 0.0}
    for proc in psutil.process_iter(["cmdline", "cpu_times"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        t = proc.info["cpu_times"]
        if t is None:
            continue
        group = (
            "browser"
            if "chrom" in cmd
            else "kernels"
            if "ipykernel_launcher" in cmd
            else "voila"
            if "voila_app" in cmd
            else None
        )
        if group:
            out[group] += t.user + t.system
    return out


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before[k] for k in before}


class Viewer:
    """One browser context on the dashboard."""

    def __init__(self, browser, url: str):
        self.browser, self.url = browser, url
        self.first_widget = self.all_numbers = float("nan")
        self.refreshes: list[float] = []
        self.errors: list[str] = []
        self.page = None

    async def open(self) -> None:
        ctx = await self.browser.new_context(viewport={"width": 1500, "height": 1100})
        self.page = page = await ctx.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        t0 = time.perf_counter()
        try:
            resp = await page.goto(self.url, wait_until="commit")
            if resp is None or resp.status != 200:
                self.errors.append(f"HTTP {resp.status if resp else '?'}")
                return
            await page.wait_for_selector(".jupyter-widgets, .widget-html", state="attached")
            self.first_widget = time.perf_counter() - t0
            await page.wait_for_selector(ALL_KPIS)
            await page.wait_for_function(IDLE)
            self.all_numbers = time.perf_counter() - t0
            every = page.locator(".widget-inline-hbox:has-text('every (s)') input").first
            await every.fill("3600")  # only our clicks refresh
            await every.press("Enter")
        except Exception as exc:  # noqa: BLE001 - counted and printed
            self.errors.append(f"open: {type(exc).__name__}: {str(exc)[:120]}")

    async def refresh(self) -> float | None:
        page = self.page
        try:
            n = await page.evaluate(TICKS)
            t0 = time.perf_counter()
            await page.locator(".dsa-refresh-now").click()
            await page.wait_for_function(f"n => ({TICKS})() > n", arg=n)
            await page.wait_for_function(IDLE)
            dt = time.perf_counter() - t0
            self.refreshes.append(dt)
            return dt
        except Exception as exc:  # noqa: BLE001
            self.errors.append(f"refresh: {type(exc).__name__}: {str(exc)[:120]}")
            return None

    async def check(self) -> None:
        if self.page is None:
            return
        try:
            if await self.page.locator(".dsa-status-error").count():
                self.errors.append("error status line")
            text = await self.page.evaluate(  # without the pipeline's own error texts
                "() => { const b = document.body.cloneNode(true);"
                " b.querySelectorAll('.dsa-pipeline-text').forEach(e => e.remove());"
                " return b.innerText; }"
            )
            if ERROR_TEXT.search(text):
                self.errors.append(f"error text: {ERROR_TEXT.search(text).group(0)}")
        except Exception as exc:  # noqa: BLE001
            self.errors.append(f"check: {type(exc).__name__}")


async def run_viewers(
    url: str, n: int, seconds: float, state: Path, qlog: Path, stagger: float = 0.0
) -> dict:
    from playwright.async_api import async_playwright

    from dsa110_ws.repositories import read_query_log
    from dsa110_ws.services.operations import DashboardKernels
    from dsa110_ws.services.shared import SharedCache

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        viewers = [Viewer(browser, url) for _ in range(n)]

        async def arrive(i: int, v: Viewer) -> None:
            await asyncio.sleep(i * stagger)  # 0: all at once (the worst case)
            await v.open()

        cpu0, t0 = cpu_by_group(), time.perf_counter()
        await asyncio.gather(*(arrive(i, v) for i, v in enumerate(viewers)))
        arrival = {**cpu_delta(cpu0, cpu_by_group()), "wall": time.perf_counter() - t0}
        ok = [v for v in viewers if v.page is not None and not v.errors]
        await asyncio.sleep(2)
        await asyncio.gather(*(v.page.wait_for_function(IDLE) for v in ok))
        memory = DashboardKernels(state / "kernels").summary()
        rounds, cold = [], []
        for _ in range(3):  # from a cold shared cache, every viewer at once
            SharedCache(state / "shared", ttl_s=1).clear()
            qlog.unlink(missing_ok=True)
            cold += [t for t in await asyncio.gather(*(v.refresh() for v in ok)) if t]
            await asyncio.sleep(0.3)
            counts = read_query_log(qlog)
            rounds.append(sum(c for (_, kind, _), c in counts.items() if kind == "query"))
        for v in viewers:
            v.refreshes.clear()  # the forced refreshes below are the refresh latency
        deadline = time.monotonic() + seconds

        async def keep_refreshing(v: Viewer) -> None:
            while time.monotonic() < deadline and len(v.errors) < 3:
                await v.refresh()
                await asyncio.sleep(1.0)

        await asyncio.gather(*(keep_refreshing(v) for v in ok))
        await asyncio.gather(*(v.check() for v in viewers))
        await browser.close()
    return {
        "first_widget": [v.first_widget for v in viewers if v.first_widget == v.first_widget],
        "all_numbers": [v.all_numbers for v in viewers if v.all_numbers == v.all_numbers],
        "refresh": [t for v in viewers for t in v.refreshes],
        "cold": cold,
        "queries_per_round": statistics.median(rounds) if rounds else float("nan"),
        "rounds": rounds,
        "memory_mib": memory["total_rss_mib"],
        "pss_mib": memory["total_pss_mib"],
        "n_kernels": memory["n_kernels"],
        "errors": [e for v in viewers for e in v.errors],
        "arrival_cpu": arrival,
    }


def one_run(demo: Path, n: int, seconds: float, queue_url: str, stagger: float = 0.0) -> dict:
    """A fresh server for ``n`` viewers; its results."""
    from dsa110_ws.cli import voila
    from dsa110_ws.config import load_settings
    from dsa110_ws.repositories import QUERY_LOG_ENV
    from dsa110_ws.services.operations import DashboardKernels

    base = Path(tempfile.mkdtemp(prefix=f"bench-viewers-{n}-"))
    state, qlog, log_path = base / "state", base / "queries.log", base / "voila.log"
    env = dict(
        os.environ,
        DSA110_WS_SETTINGS=str(demo / "settings.toml"),
        DSA110_WS_STATE_DIR=str(state),
        DSA110_WS_QUEUE_URL=queue_url,
        PYTHONWARNINGS="ignore",
    )
    env[QUERY_LOG_ENV] = str(qlog)
    dashboard = load_settings(demo / "settings.toml").sections.dashboard
    proc = voila.start_voila(
        voila.dashboards_dir(), env=env, log_path=log_path, dashboard=dashboard
    )
    try:
        port = proc.wait_port(timeout_s=180)  # the port the server bound
        deadline = time.monotonic() + 240  # the preheated kernel, as a server in use has it
        while dashboard.preheat and time.monotonic() < deadline:
            if DashboardKernels(state / "kernels").list():  # its dashboard is built
                break
            time.sleep(1)
        time.sleep(5)
        url = voila.dashboard_url(port, "operations")
        return asyncio.run(run_viewers(url, n, seconds, state, qlog, stagger))
    finally:
        voila.stop_process(proc)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=40.0, help="refreshing time per run (s)")
    ap.add_argument("--viewers", default="1,5,10", help="viewer counts (the first: baseline)")
    ap.add_argument(
        "--stagger", type=float, default=0.0, help="seconds between arrivals (0: all at once)"
    )
    args = ap.parse_args()
    counts = [int(x) for x in args.viewers.split(",")]
    if max(counts) > 20 or args.seconds > 600 or not 0 <= args.stagger <= 60:
        sys.exit("bounded: at most 20 viewers and 600 s per run")
    from dsa110_ws.demo.queue.day import start_queue_server

    demo = demo_state()
    tomllib.loads((demo / "settings.toml").read_text())  # a readable demo state
    server = start_queue_server(demo)
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()} (shared machine); "
        f"viewers arrive {f'{args.stagger:g} s apart' if args.stagger else 'all at once'}"
    )
    results = {}
    try:
        for n in counts:
            print(
                f"-- {n} viewer(s); load average {tuple(round(x, 1) for x in os.getloadavg())}",
                flush=True,
            )
            results[n] = r = one_run(demo, n, args.seconds, str(server.conninfo), args.stagger)
            print(
                f"   first widget p50 {pct(r['first_widget'], 50):6.2f} s p99 "
                f"{pct(r['first_widget'], 99):6.2f} s | all numbers p50 "
                f"{pct(r['all_numbers'], 50):6.2f} s p99 {pct(r['all_numbers'], 99):6.2f} s | "
                f"refresh p50 {pct(r['refresh'], 50):5.2f} s p99 {pct(r['refresh'], 99):5.2f} s "
                f"({len(r['refresh'])} refreshes; cold rounds p50 {pct(r['cold'], 50):5.2f} s "
                f"p99 {pct(r['cold'], 99):5.2f} s) | queries/round {r['queries_per_round']:.0f} "
                f"(rounds {r['rounds']}) | kernels {r['n_kernels']}, RSS {r['memory_mib']:.0f} "
                f"MiB (PSS {r['pss_mib'] or float('nan'):.0f}) | errors {len(r['errors'])}",
                flush=True,
            )
            a = r["arrival_cpu"]
            print(
                f"   CPU while the viewers arrived ({a['wall']:.1f} s x {os.cpu_count()} cores "
                f"= {a['wall'] * (os.cpu_count() or 1):.0f} CPU s): browsers {a['browser']:.1f} s, "
                f"kernels {a['kernels']:.1f} s, Voila {a['voila']:.1f} s",
                flush=True,
            )
            for e in r["errors"][:5]:
                print(f"     error: {e.splitlines()[0]}")
    finally:
        server.stop()
    base, last = results[counts[0]], results[counts[-1]]
    print(f"== ratios to the {counts[0]}-viewer run")
    for n in counts[1:]:
        r = results[n]

        def ratio(key: str, q: float, r: dict = r) -> str:
            return f"{pct(r[key], q) / pct(base[key], q):5.2f}x"

        print(
            f"   {n:2d} viewers: first widget p99 {ratio('first_widget', 99)}, refresh p50 "
            f"{ratio('refresh', 50)} p99 {ratio('refresh', 99)}, queries/round "
            f"{r['queries_per_round'] / base['queries_per_round']:5.2f}x, kernel memory "
            f"{r['memory_mib'] / base['memory_mib']:5.2f}x"
        )
    fw, rf = pct(last["first_widget"], 99), pct(last["refresh"], 99)
    print(f"== targets with {counts[-1]} viewers (load average now {os.getloadavg()})")
    v = Verdicts("bench_viewers")
    v.at_most(f"{counts[-1]} viewers: refresh p99", rf, 2.0, unit=" s")
    v.at_most(f"{counts[-1]} viewers: time to first widget p99", fw, 10.0, unit=" s")
    v.at_most(
        f"{counts[-1]} viewers: total kernel memory", last["memory_mib"] / 1024, 3.0, unit=" GB"
    )
    v.at_most(f"{counts[-1]} viewers: errors", len(last["errors"]), 0, unit="")
    v.at_most(
        f"{counts[-1]} viewers: queries per round / one viewer's",
        last["queries_per_round"] / base["queries_per_round"],
        1.0,
    )
    return v.finish()


if __name__ == "__main__":
    sys.exit(main())
