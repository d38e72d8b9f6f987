"""Line figures of ablations (the notebook's sub-sampling figure): mean measure against an x value per
student (depth, number of training queries), one line per first stage, one panel per ablation.

The value of a point is the mean over the query sets of each query set's mean (the notebook's "mean
nDCG@10 over DL-19 and DL-20"); with ``lines: distill_first_stage`` the lines are the first stages of
the students' distillation data and the mean also runs over the evaluated first stages. No
significance test (as in the paper). :func:`figure_data` returns exactly the frame that is plotted
(also written as CSV next to the PDF and PNG).
"""

from __future__ import annotations

import os

import pandas as pd

from .evaluate import read_per_query
from .io import atomic_path, atomic_open

COLUMNS = ["panel", "xlabel", "x", "x_label", "line", "line_label", "system", "value", "cells"]


def _cell_mean(path: str, measure: str) -> float:
    df = read_per_query(path)
    df = df[df["measure"] == measure]
    if df.empty:
        raise ValueError(f"{path} has no values for {measure}")
    return float(df["value"].mean())


def figure_data(spec: dict, files: dict[tuple[str, str, str], str]) -> pd.DataFrame:
    """One row per (panel, point, line): the plotted mean; ``cells`` = how many (first stage, query set) means it averages."""
    rows = []
    labels = spec.get("labels") or {}
    for i, panel in enumerate(spec["panels"]):
        for pt in panel["points"]:
            means = {(fs, qs): _cell_mean(files[(pt["system"], fs, qs)], spec["measure"])
                     for fs in spec["first_stages"] for qs in spec["query_sets"] if (pt["system"], fs, qs) in files}
            if spec.get("lines", "first_stage") == "first_stage":
                groups = {fs: [v for (f, _), v in means.items() if f == fs] for fs in spec["first_stages"]}
            else:
                groups = {pt["distill_first_stage"]: list(means.values())}
            for line, vals in groups.items():
                if not vals:
                    continue
                rows.append(dict(panel=i, xlabel=panel["xlabel"], x=pt["x"], x_label=pt["x_label"], line=line,
                                 line_label=labels.get(line, line), system=pt["system"],
                                 value=sum(vals) / len(vals), cells=len(vals)))
    return pd.DataFrame(rows, columns=COLUMNS)


def _scale(panel: dict, xs: list) -> str:
    numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in xs)
    scale = panel.get("x_scale", "auto")
    if scale != "auto":
        return "categorical" if not numeric else scale
    if not numeric:
        return "categorical"
    return "log" if min(xs) > 0 and max(xs) >= 10 * min(xs) else "linear"


def plot(spec: dict, data: pd.DataFrame, pdf: str | os.PathLike, png: str | os.PathLike) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(spec["panels"])
    fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.0), sharey=True, squeeze=False)
    ylabel = spec.get("ylabel") or f"mean {spec['measure']}"
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colour = {line: cycle[k % len(cycle)] for k, line in enumerate(dict.fromkeys(data["line"]))}  # same in every panel
    for i, (ax, panel) in enumerate(zip(axes[0], spec["panels"])):
        d = data[data["panel"] == i]
        ticks = list(dict.fromkeys(zip([p["x"] for p in panel["points"]], [p["x_label"] for p in panel["points"]])))
        scale = _scale(panel, [x for x, _ in ticks])
        if scale == "categorical":
            pos = {x: k for k, (x, _) in enumerate(ticks)}
        else:
            ticks = sorted(ticks)
            pos = {x: x for x, _ in ticks}
        for line, g in d.groupby("line", sort=False):
            g = g.assign(pos=g["x"].map(pos)).sort_values("pos")
            ax.plot(g["pos"], g["value"], marker="o", color=colour[line], label=g["line_label"].iloc[0])
        if scale == "log":
            ax.set_xscale("log")
        ax.set_xticks([pos[x] for x, _ in ticks])
        ax.set_xticklabels([lab for _, lab in ticks])
        ax.minorticks_off()
        ax.set_xlabel(panel["xlabel"])
        if panel.get("title"):
            ax.set_title(panel["title"])
        ax.grid(True, alpha=0.3)
        if i == 0:
            ax.set_ylabel(ylabel)
    handles = {}
    for ax in axes[0]:  # a line may be missing from some panel: collect every line once
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    if handles:
        axes[0][-1].legend(list(handles.values()), list(handles), loc="lower right", fontsize="small")
    fig.tight_layout()
    for out, fmt in ((pdf, "pdf"), (png, "png")):
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format=fmt, dpi=200)
    plt.close(fig)


def write_figure(spec: dict, cells: list, files: list[str], pdf, png, csv) -> pd.DataFrame:
    """The figure rule's entry point: ``cells[i]`` = (system, first stage, query set) of ``files[i]``."""
    if len(cells) != len(files):
        raise ValueError("one evaluation file per figure cell expected")
    data = figure_data(spec, {tuple(c): f for c, f in zip(cells, files)})
    plot(spec, data, pdf, png)
    with atomic_open(csv) as f:
        data.to_csv(f, index=False)
    return data
