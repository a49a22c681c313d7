"""Thumbnail of a 4096 x 4096 float32 FITS image against matplotlib imshow + savefig.

Target: ``w.fits.thumbnail(path, size=256)`` (reading the file, downsampling, robust limits,
asinh stretch, PNG via Pillow; cache off) at least 3x faster than reading the same file and
rendering it with matplotlib ``imshow`` + ``savefig`` to a 256 x 256 PNG.

    .venv/bin/python benchmarks/bench_thumbnail.py
"""

from __future__ import annotations

import io
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import report  # noqa: E402
from _verdict import Verdicts, median_time  # noqa: E402
from bench_image_qa import make_image  # noqa: E402

SIZE = 256


def matplotlib_png(path: Path) -> bytes:
    """The baseline: read the plane, imshow with symmetric limits, savefig 256 x 256."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from astropy.io import fits

    data = fits.getdata(path)[0, 0]
    lim = 50 * 1e-3
    fig = plt.figure(figsize=(SIZE / 100, SIZE / 100), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.imshow(np.asarray(data, dtype=np.float32), origin="lower", cmap="gray", vmin=-lim, vmax=lim)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def main() -> int:
    from PIL import Image

    from dsa110_ws.config import load_settings
    from dsa110_ws.workspace import Workspace

    tmp = Path(tempfile.mkdtemp(prefix="bench-thumb-"))
    path = tmp / "data" / "big.fits"
    make_image(path)
    w = Workspace(load_settings(data_roots=[str(tmp / "data")], state_dir=str(tmp / "state")))

    ours = w.fits.thumbnail(path, size=SIZE, use_cache=False)
    base = matplotlib_png(path)
    v = Verdicts("bench_thumbnail")
    sizes = Image.open(io.BytesIO(ours)).size, Image.open(io.BytesIO(base)).size
    print(f"PNG sizes: ours {sizes[0]}, matplotlib {sizes[1]}")
    v.true("both PNGs are 256 x 256 (like for like)", sizes == ((SIZE, SIZE), (SIZE, SIZE)))
    t0 = time.perf_counter()
    t_ours = median_time(lambda: w.fits.thumbnail(path, size=SIZE, use_cache=False), repeat=7)
    t_mpl = median_time(lambda: matplotlib_png(path), repeat=5)
    t_cached = median_time(lambda: w.fits.thumbnail(path, size=SIZE), repeat=7)
    t_zscale = median_time(
        lambda: w.fits.thumbnail(path, size=SIZE, scale="zscale", use_cache=False), repeat=5
    )
    print(f"(timed in {time.perf_counter() - t0:.0f} s)\n")
    r = report(
        "matplotlib imshow + savefig",
        t_mpl,
        "w.fits.thumbnail (rms, asinh)",
        t_ours,
        target="(target >= 3x)",
    )
    report("matplotlib imshow + savefig", t_mpl, "w.fits.thumbnail (zscale)", t_zscale)
    report("w.fits.thumbnail (rms, asinh)", t_ours, "w.fits.thumbnail, cached", t_cached)
    v.at_least("thumbnail speed-up vs matplotlib imshow+savefig", r, 3.0)
    return v.finish()


if __name__ == "__main__":
    sys.exit(main())
