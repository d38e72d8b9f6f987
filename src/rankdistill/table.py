"""Result tables: rows = systems, columns = (first stage × query set); LaTeX (booktabs), CSV, Markdown.

Per column: the best value (after rounding) is bold, the second best underlined, and a dagger
marks a value significantly different from the baseline (paired t-test, corrected across the
column's systems, see :func:`rankdistill.evaluate.compare`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .evaluate import compare, read_per_query
from .io import atomic_open

MARK = r"$^\dagger$"


@dataclass
class TableSpec:
    systems: list[str]
    first_stages: list[str]
    query_sets: list[str]
    measure: str = "nDCG@10"
    baseline: str | None = None
    alpha: float = 0.05
    correction: str = "holm"
    decimals: int = 3
    labels: dict[str, str] = field(default_factory=dict)
    caption: str | None = None
    provenance: str | None = None
    tex_label: str = "tab:results"

    def label(self, name: str) -> str:
        return self.labels.get(name, name)


def collect(spec: TableSpec, files: dict[tuple[str, str, str], str]) -> pd.DataFrame:
    """Long frame: one row per (system, first_stage, query_set) with mean, n and significance."""
    rows = []
    for fs in spec.first_stages:
        for qs in spec.query_sets:
            values = {}
            for s in spec.systems:
                path = files.get((s, fs, qs))
                if path is None:
                    continue
                df = read_per_query(path)
                df = df[df["measure"] == spec.measure]
                if df.empty:
                    raise ValueError(f"{path} has no values for {spec.measure}")
                values[s] = df.set_index("qid")["value"]
            comp = compare(values, spec.baseline, spec.alpha, spec.correction)
            for s, c in comp.items():
                rows.append(dict(system=s, first_stage=fs, query_set=qs, measure=spec.measure, value=c.mean,
                                 n_queries=c.n, p_value=c.p_value, p_corrected=c.p_corrected,
                                 significant=c.significant, baseline=s == spec.baseline))
    return pd.DataFrame(rows, columns=["system", "first_stage", "query_set", "measure", "value", "n_queries",
                                       "p_value", "p_corrected", "significant", "baseline"])


def _ranks(long: pd.DataFrame, decimals: int) -> dict[tuple, int]:
    """1 for best, 2 for second best rounded value in each column (ties share a place)."""
    out = {}
    for (fs, qs), g in long.groupby(["first_stage", "query_set"], sort=False):
        vals = sorted({round(v, decimals) for v in g["value"]}, reverse=True)
        for s, v in zip(g["system"], g["value"]):
            r = vals.index(round(v, decimals)) + 1
            if r <= 2:
                out[(s, fs, qs)] = r
    return out


def _cells(spec: TableSpec, long: pd.DataFrame, bold, underline, mark: str, missing: str):
    ranks = _ranks(long, spec.decimals)
    idx = {(r.system, r.first_stage, r.query_set): r for r in long.itertuples()}
    body = []
    for s in spec.systems:
        cells = []
        for fs in spec.first_stages:
            for qs in spec.query_sets:
                r = idx.get((s, fs, qs))
                if r is None:
                    cells.append(missing)
                    continue
                txt = f"{r.value:.{spec.decimals}f}"
                rank = ranks.get((s, fs, qs))
                txt = bold(txt) if rank == 1 else underline(txt) if rank == 2 else txt
                cells.append(txt + (mark if r.significant else ""))
        body.append((s, cells))
    return body


def _caption(spec: TableSpec) -> str:
    if spec.caption:
        cap = spec.caption
    else:
        cap = f"{spec.measure} of each system (rows) re-ranking the top results of each first stage on each query set (columns)."
    cap += " Best per column in bold, second best underlined."
    if spec.baseline:
        corr = {"holm": "Holm-corrected", "bonferroni": "Bonferroni-corrected", "none": "uncorrected"}[spec.correction]
        cap += (f" $\\dagger$ marks a significant difference from {spec.label(spec.baseline)} "
                f"(two-sided paired t-test, {corr} across the column's systems, $\\alpha={spec.alpha:g}$).")
    if spec.provenance:
        cap += f" {spec.provenance}"
    return cap


def _tex_caption(spec: TableSpec) -> str:
    text = _caption(spec)
    if spec.provenance:  # file names are typeset verbatim-ish and escaped
        text = text.replace(spec.provenance, _tex_escape(spec.provenance))
    return text


def _tex_escape(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"),
                 ("_", r"\_"), ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\^{}")):
        s = s.replace(a, b)
    return s


def to_latex(spec: TableSpec, long: pd.DataFrame) -> str:
    nq = len(spec.query_sets)
    ncol = len(spec.first_stages) * nq
    lines = [r"\begin{table}", r"\centering", r"\begin{tabular}{l" + "c" * ncol + "}", r"\toprule"]
    head = ["System"] + [rf"\multicolumn{{{nq}}}{{c}}{{{_tex_escape(spec.label(fs))}}}" for fs in spec.first_stages]
    lines.append(" & ".join(head) + r" \\")
    rules = [rf"\cmidrule(lr){{{2 + i * nq}-{1 + (i + 1) * nq}}}" for i in range(len(spec.first_stages))]
    lines.append(" ".join(rules))
    lines.append(" & ".join([""] + [_tex_escape(spec.label(q)) for _ in spec.first_stages for q in spec.query_sets]) + r" \\")
    lines.append(r"\midrule")
    for s, cells in _cells(spec, long, lambda t: rf"\textbf{{{t}}}", lambda t: rf"\underline{{{t}}}", MARK, "--"):
        lines.append(" & ".join([_tex_escape(spec.label(s))] + cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{_tex_caption(spec)}}}", rf"\label{{{spec.tex_label}}}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def to_markdown(spec: TableSpec, long: pd.DataFrame) -> str:
    head = ["System"] + [f"{spec.label(fs)} {spec.label(q)}" for fs in spec.first_stages for q in spec.query_sets]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" + "---:|" * (len(head) - 1)]
    for s, cells in _cells(spec, long, lambda t: f"**{t}**", lambda t: f"<u>{t}</u>", "†", "–"):
        lines.append("| " + " | ".join([spec.label(s)] + cells) + " |")
    cap = _caption(spec).replace(r"$\dagger$", "†").replace(r"$\alpha=", "α=").replace("$)", ")")
    return "\n".join(lines) + "\n\n" + cap + "\n"


def write_tables(spec: TableSpec, files: dict[tuple[str, str, str], str], tex: str | os.PathLike,
                 csv: str | os.PathLike, md: str | os.PathLike) -> pd.DataFrame:
    long = collect(spec, files)
    with atomic_open(tex) as f:
        f.write(to_latex(spec, long))
    with atomic_open(md) as f:
        f.write(to_markdown(spec, long))
    with atomic_open(csv) as f:
        long.to_csv(f, index=False)
    return long


def write_tables_for_cells(spec: dict, cells: list, files: list[str], tex, csv, md) -> pd.DataFrame:
    """The table rule's entry point: ``cells[i]`` = (system, first stage, query set) of ``files[i]``."""
    if len(cells) != len(files):
        raise ValueError("one evaluation file per table cell expected")
    spec = dict(spec)
    if spec.get("provenance"):
        # the code's git commit, looked up when the table is made (not a param: a commit alone
        # must not rerun the table); "+dirty" when tracked files had local edits
        from .provenance import git_commit_label

        commit = git_commit_label(Path(__file__).resolve().parent)
        if commit:
            spec["provenance"] = spec["provenance"].rstrip(".") + f"; code: git {commit}."
    return write_tables(TableSpec(**spec), {tuple(c): f for c, f in zip(cells, files)}, tex, csv, md)
