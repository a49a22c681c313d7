"""Seeded generator of a complete DSA-110 pipeline state (the demo), shipped with the
package and used by tests, notebooks, benchmarks and first-time users alike."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = [
    "make_demo_state",
    "ensure_demo",
    "load_truth",
    "make_scale_state",
    "make_scale_dataset",
]


def make_demo_state(*args, **kwargs):  # noqa: D103 - documented in generate.py
    from dsa110_ws.demo.generate import make_demo_state as impl

    return impl(*args, **kwargs)


make_demo_state.__doc__ = "Write a complete demo pipeline state; see dsa110_ws.demo.generate."


def make_scale_state(*args, **kwargs):
    """Rows-only state at survey scale for benchmarks; see dsa110_ws.demo.scale."""
    from dsa110_ws.demo.scale import make_scale_state as impl

    return impl(*args, **kwargs)


def make_scale_dataset(*args, **kwargs):
    """A photometry dataset (Parquet) at survey scale for benchmarks; see dsa110_ws.demo.scale."""
    from dsa110_ws.demo.scale import make_scale_dataset as impl

    return impl(*args, **kwargs)


def load_truth(demo_dir: str | Path) -> dict:
    """The truth file a demo state was generated with."""
    return json.loads((Path(demo_dir) / "truth.json").read_text())


def ensure_demo(demo_dir: str | Path) -> tuple[Path, bool]:
    """Generate the default demo state into ``demo_dir`` unless a current one is there.

    Returns ``(demo_dir, generated)``.  A state from an older generator version is rebuilt.
    """
    from dsa110_ws.demo.generate import DEMO_VERSION

    demo_dir = Path(demo_dir).expanduser()
    truth = demo_dir / "truth.json"
    if truth.exists():
        try:
            if json.loads(truth.read_text()).get("demo_version") == DEMO_VERSION:
                return demo_dir, False
        except (OSError, ValueError):
            pass
    import sys

    print(
        f"dsa110_ws: generating the demo state in {demo_dir} (first use; about 20 s) ...",
        file=sys.stderr,
    )
    make_demo_state(demo_dir, overwrite=True)
    return demo_dir, True
