"""Debian's Chromium and its headless flags, for the browser tests and the browser
benchmarks alike (``benchmarks/_common.py`` loads this file): no network beyond
loopback, no GPU, no first-run work."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
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
