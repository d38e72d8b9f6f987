"""Result tables: rows = systems, columns = (measure ×) first stage × query set; LaTeX (booktabs), CSV, Markdown.

Per column (one measure on one first stage's run of one query set): the best value (after
rounding) is bold, the second best underlined, and significance marks come from one of two
tests, both the two-sided paired t-test of :mod:`rankdistill.evaluate` on the queries two
systems share, corrected (Holm by default) within the column:

- ``significance="baseline"`` (pt.Experiment's): a dagger marks a value significantly different
  from the baseline's, correction across the column's other systems. A column without the
  baseline (e.g. a first stage baseline in another first stage's column) carries no marks, and
  the caption names those columns.
- ``significance="pairwise"``: every pair of systems sharing the column is tested, correction
  across the column's k(k-1)/2 pairs; rows get letters (a), (b), ... and a value carries the
  letters of the systems it is significantly better than.

Several measures are column groups of one table (``layout="columns"``) or one table each
(``layout="tables"``, all in the same files). The CSV has one row per (system, column).
"""

from __future__ import annotations

import os
import re
import string
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .errors import InputError
from .config.measures import table_measures  # noqa: F401  (this module's API)
from .evaluate import compare, compare_pairwise, read_per_query
from .io import atomic_open

MARK = r"$^\dagger$"
LAYOUTS = ("columns", "tables")
SIGNIFICANCE = ("baseline", "pairwise")
COLUMNS = ["system", "first_stage", "query_set", "measure", "depth", "value", "n_queries", "p_value", "p_corrected",
           "significant", "baseline", "better_than", "pairwise_p_corrected"]


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
    measures: list[str] | None = None  # several measures (default: [measure])
    layout: str = "columns"
    significance: str = "baseline"
    depths: dict[str, int | None] = field(default_factory=dict)  # measure -> evaluation depth (for the caption)

    def __post_init__(self):
        self.measures = list(self.measures or [self.measure])
        self.measure = self.measures[0]
        if self.layout not in LAYOUTS:
            raise ValueError(f"table layout {self.layout!r}: one of {LAYOUTS}")
        if self.significance not in SIGNIFICANCE:
            raise ValueError(f"table significance {self.significance!r}: one of {SIGNIFICANCE}")
        if self.correction not in ("holm", "bonferroni", "none"):
            raise ValueError(f"correction {self.correction!r}: one of holm, bonferroni, none")

    def label(self, name: str) -> str:
        return self.labels.get(name, name)

    def letters(self) -> dict[str, str]:
        """Pairwise mode's row letters: a, b, ..., z, A, ..., then aa, ab, ..."""
        alphabet = string.ascii_lowercase + string.ascii_uppercase
        out = {}
        for i, s in enumerate(self.systems):
            out[s] = alphabet[i] if i < len(alphabet) else alphabet[i // len(alphabet) - 1] + alphabet[i % len(alphabet)]
        return out


def _values(path, measure: str) -> pd.Series:
    df = read_per_query(path)
    df = df[df["measure"] == measure]
    if df.empty:
        raise InputError(path, f"has no values for {measure} (measures here: {sorted(set(read_per_query(path).measure))}); "
                               "rerun its evaluation with this measure in evaluation.measures")
    if df["qid"].duplicated().any():
        q = df.loc[df["qid"].duplicated(), "qid"].iloc[0]
        raise InputError(path, f"query {q} has two values for {measure}")
    return df.set_index("qid")["value"]


def collect(spec: TableSpec, files: dict[tuple[str, str, str], str]) -> pd.DataFrame:
    """Long frame: one row per (system, first stage, query set, measure) with mean, n and significance."""
    rows = []
    for m in spec.measures:
        for fs in spec.first_stages:
            for qs in spec.query_sets:
                values = {s: _values(files[(s, fs, qs)], m) for s in spec.systems if (s, fs, qs) in files}
                comp = compare(values, spec.baseline if spec.significance == "baseline" else None, spec.alpha,
                               spec.correction)
                better: dict[str, list[str]] = {s: [] for s in values}
                pair_p: dict[str, list[str]] = {s: [] for s in values}
                if spec.significance == "pairwise":
                    for t in compare_pairwise(values, spec.alpha, spec.correction):
                        pair_p[t.a].append(f"{t.b}={t.p_corrected:.4g}")
                        pair_p[t.b].append(f"{t.a}={t.p_corrected:.4g}")
                        if t.better:
                            better[t.better].append(t.b if t.better == t.a else t.a)
                for s, c in comp.items():
                    sig = c.significant if spec.significance == "baseline" else bool(better[s])
                    rows.append(dict(system=s, first_stage=fs, query_set=qs, measure=m, depth=spec.depths.get(m),
                                     value=c.mean, n_queries=c.n, p_value=c.p_value, p_corrected=c.p_corrected,
                                     significant=sig, baseline=spec.significance == "baseline" and s == spec.baseline,
                                     better_than=";".join(b for b in spec.systems if b in better[s]),
                                     pairwise_p_corrected=";".join(pair_p[s])))
    return pd.DataFrame(rows, columns=COLUMNS)


def _ranks(long: pd.DataFrame, decimals: int) -> dict[tuple, int]:
    """1 for best, 2 for second best rounded value in each column (ties share a place)."""
    out = {}
    for (m, fs, qs), g in long.groupby(["measure", "first_stage", "query_set"], sort=False):
        vals = sorted({round(v, decimals) for v in g["value"]}, reverse=True)
        for s, v in zip(g["system"], g["value"]):
            r = vals.index(round(v, decimals)) + 1
            if r <= 2:
                out[(s, m, fs, qs)] = r
    return out


@dataclass
class _Style:
    bold: object
    underline: object
    dagger: str
    letters: object  # "ab" -> the superscript
    missing: str
    escape: object
    alpha: str
    dagger_text: str  # the mark as the caption names it


TEX = _Style(lambda t: rf"\textbf{{{t}}}", lambda t: rf"\underline{{{t}}}", MARK, lambda l: rf"$^{{{l}}}$", "--",
             lambda s: _tex_escape(s), r"$\alpha={:g}$", r"$\dagger$")
MD = _Style(lambda t: f"**{t}**", lambda t: f"<u>{t}</u>", "†", lambda l: f"<sup>{l}</sup>", "–", lambda s: s, "α={:g}",
            "†")


def _row_name(spec: TableSpec, s: str, st: _Style) -> str:
    name = st.escape(spec.label(s))
    return f"({spec.letters()[s]}) {name}" if spec.significance == "pairwise" else name


def _cells(spec: TableSpec, long: pd.DataFrame, measures: list[str], st: _Style):
    ranks = _ranks(long, spec.decimals)
    idx = {(r.system, r.measure, r.first_stage, r.query_set): r for r in long.itertuples()}
    letters = spec.letters()
    body = []
    for s in spec.systems:
        cells = []
        for m in measures:
            for fs in spec.first_stages:
                for qs in spec.query_sets:
                    r = idx.get((s, m, fs, qs))
                    if r is None:
                        cells.append(st.missing)
                        continue
                    txt = f"{r.value:.{spec.decimals}f}"
                    rank = ranks.get((s, m, fs, qs))
                    txt = st.bold(txt) if rank == 1 else st.underline(txt) if rank == 2 else txt
                    if spec.significance == "baseline":
                        txt += st.dagger if r.significant else ""
                    elif isinstance(r.better_than, str) and r.better_than:
                        txt += st.letters("".join(letters[b] for b in r.better_than.split(";")))
                    cells.append(txt)
        body.append((s, cells))
    return body


def _depth_sentence(spec: TableSpec, measures: list[str]) -> str:
    """Where each measure was computed (spec.depths: measure -> depth, None: the full run)."""
    if not spec.depths:
        return ""
    groups: dict = {}
    for m in measures:
        groups.setdefault(spec.depths.get(m), []).append(m)
    where = lambda d: "full ranking" if d is None else f"top {d} per query"  # noqa: E731
    if len(groups) == 1:
        (d, _), = groups.items()
        who = "Each measure is" if len(measures) > 1 else f"{measures[0]} is"
        return f" {who} computed on each run's {where(d)}."
    return " Computed on each run's " + " and ".join(f"{where(d)} ({', '.join(ms)})" for d, ms in groups.items()) + "."


def _caption(spec: TableSpec, long: pd.DataFrame, measures: list[str], st: _Style) -> str:
    if spec.caption:
        cap = spec.caption
    else:
        cap = (f"{' and '.join(measures)} of each system (rows) re-ranking the top results of each first stage on "
               "each query set (columns).")
    cap += _depth_sentence(spec, measures)
    cap += " Best per column in bold, second best underlined."
    corr = {"holm": "Holm-corrected", "bonferroni": "Bonferroni-corrected", "none": "uncorrected"}[spec.correction]
    alpha = st.alpha.format(spec.alpha)
    shown = long[long.measure.isin(measures)]
    if spec.significance == "baseline" and spec.baseline:
        base = st.escape(spec.label(spec.baseline))
        cap += (f" {st.dagger_text} marks a significant difference from {base} (two-sided paired t-test on the queries "
                f"both have, {corr} across the other systems of the column, {alpha}).")
        present = set(zip(shown.loc[shown.system == spec.baseline, "first_stage"],
                          shown.loc[shown.system == spec.baseline, "query_set"]))
        lacking = [(fs, qs) for fs in spec.first_stages for qs in spec.query_sets if (fs, qs) not in present]
        if lacking:
            if not present:
                cap += f" {base} is in no column of this table, so no value is marked."
            else:
                cols = ", ".join(f"{st.escape(spec.label(fs))} {st.escape(spec.label(qs))}" for fs, qs in lacking)
                cap += f" Columns without {base} ({cols}) have no test."
    elif spec.significance == "pairwise":
        cap += (f" Superscript letters name the systems, by their letter before the row name, that a value is "
                f"significantly better than in its column (two-sided paired t-test on the queries both have, {corr} "
                f"across all pairs of systems in the column, {alpha}).")
    if spec.provenance:
        cap += f" {st.escape(spec.provenance)}"
    return cap


def _tex_escape(s: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("$", r"\$"), ("#", r"\#"),
                 ("_", r"\_"), ("{", r"\{"), ("}", r"\}"), ("~", r"\textasciitilde{}"), ("^", r"\^{}")):
        s = s.replace(a, b)
    return s


def _groups(spec: TableSpec) -> list[list[str]]:
    """The measures of each table environment."""
    return [[m] for m in spec.measures] if spec.layout == "tables" else [list(spec.measures)]


def _slug(m: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", m).strip("-").lower()


def to_latex(spec: TableSpec, long: pd.DataFrame) -> str:
    out = []
    for measures in _groups(spec):
        nq, nfs = len(spec.query_sets), len(spec.first_stages)
        ncol = len(measures) * nfs * nq
        lines = [r"\begin{table}", r"\centering", r"\begin{tabular}{l" + "c" * ncol + "}", r"\toprule"]
        if len(measures) > 1:
            span = nfs * nq
            lines.append(" & ".join([""] + [rf"\multicolumn{{{span}}}{{c}}{{{_tex_escape(m)}}}" for m in measures]) + r" \\")
            lines.append(" ".join(rf"\cmidrule(lr){{{2 + i * span}-{1 + (i + 1) * span}}}" for i in range(len(measures))))
        head = ["System"] + [rf"\multicolumn{{{nq}}}{{c}}{{{_tex_escape(spec.label(fs))}}}"
                             for _ in measures for fs in spec.first_stages]
        lines.append(" & ".join(head) + r" \\")
        lines.append(" ".join(rf"\cmidrule(lr){{{2 + i * nq}-{1 + (i + 1) * nq}}}" for i in range(len(measures) * nfs)))
        lines.append(" & ".join([""] + [_tex_escape(spec.label(q)) for _ in range(len(measures) * nfs)
                                        for q in spec.query_sets]) + r" \\")
        lines.append(r"\midrule")
        for s, cells in _cells(spec, long, measures, TEX):
            lines.append(" & ".join([_row_name(spec, s, TEX)] + cells) + r" \\")
        label = spec.tex_label if len(_groups(spec)) == 1 else f"{spec.tex_label}-{_slug(measures[0])}"
        lines += [r"\bottomrule", r"\end{tabular}", rf"\caption{{{_caption(spec, long, measures, TEX)}}}",
                  rf"\label{{{label}}}", r"\end{table}"]
        out.append("\n".join(lines) + "\n")
    return "\n".join(out)


def to_markdown(spec: TableSpec, long: pd.DataFrame) -> str:
    out = []
    for measures in _groups(spec):
        prefix = (lambda m: f"{m} ") if len(measures) > 1 else (lambda m: "")
        head = ["System"] + [f"{prefix(m)}{spec.label(fs)} {spec.label(q)}" for m in measures
                             for fs in spec.first_stages for q in spec.query_sets]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" + "---:|" * (len(head) - 1)]
        for s, cells in _cells(spec, long, measures, MD):
            lines.append("| " + " | ".join([_row_name(spec, s, MD)] + cells) + " |")
        out.append("\n".join(lines) + "\n\n" + _caption(spec, long, measures, MD) + "\n")
    return "\n".join(out)


def write_long(spec: TableSpec, long: pd.DataFrame, tex: str | os.PathLike, csv: str | os.PathLike,
               md: str | os.PathLike) -> pd.DataFrame:
    """Write a long table (one row per cell) as LaTeX, Markdown and CSV, each atomically."""
    with atomic_open(tex) as f:
        f.write(to_latex(spec, long))
    with atomic_open(md) as f:
        f.write(to_markdown(spec, long))
    with atomic_open(csv) as f:
        long.to_csv(f, index=False)
    return long


def write_tables(spec: TableSpec, files: dict[tuple[str, str, str], str], tex: str | os.PathLike,
                 csv: str | os.PathLike, md: str | os.PathLike) -> pd.DataFrame:
    return write_long(spec, collect(spec, files), tex, csv, md)


def with_code_commit(spec: dict, cells: list, files: list[str]) -> dict:
    """A table rule's spec with its provenance line naming the code's git commit, looked up when the table
    is made (not a param: a commit alone must not rerun the table; "+dirty" when tracked files had local
    edits); ``cells[i]`` = (system, first stage, query set) of ``files[i]``."""
    if len(cells) != len(files):
        raise ValueError("one evaluation file per table cell expected")
    spec = dict(spec)
    if spec.get("provenance"):
        from .provenance import git_commit_label

        commit = git_commit_label(Path(__file__).resolve().parent)
        if commit:
            spec["provenance"] = spec["provenance"].rstrip(".") + f"; code: git {commit}."
    return spec


def write_tables_for_cells(spec: dict, cells: list, files: list[str], tex, csv, md) -> pd.DataFrame:
    """The table rule's entry point: ``cells[i]`` = (system, first stage, query set) of ``files[i]``."""
    spec = with_code_commit(spec, cells, files)
    return write_tables(TableSpec(**spec), {tuple(c): f for c, f in zip(cells, files)}, tex, csv, md)
