"""The reports' figures (matplotlib ``Figure`` objects, no pyplot state): noise and
dynamic range against time (nightly QA), counts per night and QA per night (stats)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["noise_figure", "bar_figure", "qa_figure"]


def noise_figure(im: pd.DataFrame, params: Any) -> Any:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.2), layout="constrained")
    a1, a2 = fig.subplots(1, 2, sharex=True)
    colours = {"good": "tab:green", "warning": "tab:orange", "bad": "tab:red"}
    t = im["obs_utc"].dt.tz_localize(None)
    for grade, g in im.groupby("grade"):
        sel = im["grade"] == grade
        a1.scatter(t[sel], g["qa_rms_jy"] * 1e3, label=grade, c=colours.get(grade, "grey"), s=18)
        a2.scatter(t[sel], g["qa_dynamic_range"], c=colours.get(grade, "grey"), s=18)
    a1.axhline(params.noise_warning_mjy, ls="--", c="tab:orange", lw=0.8)
    a1.set_ylabel("robust rms (mJy/beam)")
    a2.set_ylabel("dynamic range")
    a1.legend(frameon=False, fontsize=8)
    for ax in (a1, a2):
        ax.set_xlabel("observation time (UTC)")
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    return fig


def bar_figure(df: pd.DataFrame, cols: list[str], title: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 2.8))
    ax = fig.subplots()
    x = np.arange(len(df))
    width = 0.8 / max(len(cols), 1)
    for i, c in enumerate(cols):
        ax.bar(x + i * width, df[c], width=width, label=c.removeprefix("n_"))
    ax.set_xticks(x + 0.4 - width / 2, df["bin_start"].dt.strftime("%m-%d"))
    from matplotlib.ticker import MaxNLocator

    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: no fractional ticks
    ax.set_ylabel("count")
    ax.set_title(title)
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return fig


def qa_figure(qa: pd.DataFrame):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 2.8), layout="constrained")
    a1, a2 = fig.subplots(1, 2)
    x = qa["bin_start"].dt.strftime("%m-%d")
    a1.errorbar(
        x,
        qa["noise_median_jy"] * 1e3,
        yerr=[
            (qa["noise_median_jy"] - qa["noise_p16_jy"]) * 1e3,
            (qa["noise_p84_jy"] - qa["noise_median_jy"]) * 1e3,
        ],
        fmt="o",
    )
    a1.set_ylabel("noise (mJy/beam)")
    a1.set_title("median, 16-84%")
    a2.errorbar(
        x,
        qa["dr_median"],
        yerr=[qa["dr_median"] - qa["dr_p16"], qa["dr_p84"] - qa["dr_median"]],
        fmt="o",
    )
    a2.set_ylabel("dynamic range")
    for ax in (a1, a2):
        ax.tick_params(axis="x", labelrotation=45)
    return fig
