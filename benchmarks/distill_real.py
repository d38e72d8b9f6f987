"""The real-text check of distillation, run through the pipeline: config/examples/dl20-to-dl19.yaml.

A MiniLM cross-encoder distilled on TREC DL 2020 (its 54 queries + 2,000 queries cut from its passages, a
`generated` query set) from the MiniLM bi-encoder's ranking, evaluated on TREC DL 2019's BM25 top 100 against
BM25 and the bi-encoder (paired t-test, results/<...>/table.*). This script only points the example config at a
data folder and a results folder, runs `snakemake` on it and prints the table's figures as one JSON object:
every stage is the pipeline's own rule (docs/guide/real-text-check.md has the figures and the recipe's history).

  python benchmarks/distill_real.py                          # results/dl20-to-dl19-bench; exit 2 without the data
  python benchmarks/distill_real.py --holdout 14 --out /tmp/dr --set students.student.doc_length=64
                                                  # choose a variant on 14 held-out DL20 queries (never on DL19)

Data: ../shared/data/trec-dl/{dl19,dl20}/{passages.jsonl,queries.tsv,qrels.txt,bm25-top100.run}
(RANKDISTILL_SHARED_DATA overrides ../shared/data).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, SHARED  # noqa: E402

CONFIG = ROOT / "config" / "examples" / "dl20-to-dl19.yaml"
DATA_PREFIX = "../shared/data"  # how the example config names the data folder
FILES = ("passages.jsonl", "queries.tsv", "qrels.txt", "bm25-top100.run")


def missing_data(root: Path = SHARED) -> str | None:
    """Why the check cannot run here (``None`` when the TREC DL files are present)."""
    for year in ("dl19", "dl20"):
        for f in FILES:
            if not (root / "trec-dl" / year / f).exists():
                return f"TREC DL data absent: {root / 'trec-dl' / year / f} (see ../shared/reference/offline-assets.md)"
    return None


def _rebase(node, data_root: str):
    if isinstance(node, dict):
        return {k: _rebase(v, data_root) for k, v in node.items()}
    if isinstance(node, list):
        return [_rebase(v, data_root) for v in node]
    if isinstance(node, str) and node.startswith(DATA_PREFIX + "/"):
        return data_root + node[len(DATA_PREFIX):]
    return node


def example_config(data_root: Path = SHARED, results: str | None = None, overrides: dict | None = None) -> dict:
    """The example config with its data paths under ``data_root`` (absolute), its results folder ``results``
    and ``overrides`` (dotted key -> value) applied."""
    with open(CONFIG, encoding="utf-8") as f:
        cfg = _rebase(yaml.safe_load(f), str(Path(data_root).resolve()))
    if results is not None:
        cfg["results"] = results
    for key, value in (overrides or {}).items():
        node = cfg
        *path, last = key.split(".")
        for p in path:
            node = node[p]
        node[last] = value
    return cfg


def holdout_config(data_root: Path, results: str, n: int = 14, overrides: dict | None = None) -> dict:
    """The example config on a DL20 hold-out, the way its settings are chosen: the first ``n`` judged DL20 queries
    (string order) are kept out of training and are the table's only query set, the student is validated on them
    every 50 steps (its metrics.csv / loss.png), the generated queries are cut from (and retrieved over) DL20's
    passages without those queries' BM25 candidates, so the student never sees a held-out passage's text in a
    generated query's list; DL19 is not read. The split's files are written under ``results``/holdout-data."""
    from rankdistill.datasets.queries import read_qrels, read_queries, write_qrels, write_queries
    from rankdistill.runs import read_run, write_run

    d20 = Path(data_root).resolve() / "trec-dl" / "dl20"
    out = Path(results) / "holdout-data"
    out.mkdir(parents=True, exist_ok=True)
    q, qrels, bm = read_queries(d20 / "queries.tsv"), read_qrels(d20 / "qrels.txt"), read_run(d20 / "bm25-top100.run")
    held = set(sorted(set(qrels["qid"]) & set(bm["qid"]))[:n])
    for name, keep in (("held", q["qid"].isin(held)), ("train", ~q["qid"].isin(held))):
        write_queries(q[keep], out / f"{name}.tsv")
        write_qrels(qrels[qrels["qid"].isin(set(q[keep]["qid"]))], out / f"{name}.qrels")
        write_run(bm[bm["qid"].isin(set(q[keep]["qid"]))], out / f"{name}.run", tag="bm25")
    unseen = set(bm[bm["qid"].isin(held)]["docno"])
    with open(d20 / "passages.jsonl", encoding="utf-8") as f, open(out / "pool.jsonl", "w", encoding="utf-8") as w:
        w.writelines(line for line in f if json.loads(line)["docno"] not in unseen)
    cfg = example_config(data_root, results, overrides)
    o = str(out)
    cfg["collections"] = {"pool": {"kind": "local", "path": f"{o}/pool.jsonl"}}  # DL20 without the held-out candidates
    qs = cfg["query_sets"]
    qs.pop("dl19")
    qs["dl20"] = {"kind": "local", "queries": f"{o}/train.tsv", "qrels": f"{o}/train.qrels"}
    qs["held"] = {"kind": "local", "queries": f"{o}/held.tsv", "qrels": f"{o}/held.qrels"}
    qs["pseudo"]["collection"] = "pool"
    qs["pseudo"]["exclude"] = [{"query_set": "held", "first_stage": "bm25", "depth": 100}]  # a check: none in the pool
    cfg["first_stages"]["bm25"]["runs"] = {"dl20": f"{o}/train.run", "held": f"{o}/held.run"}
    cfg["students"]["student"]["validation"] = {"query_set": "held", "first_stage": "bm25", "queries": n, "depth": 100,
                                                "every": 50}
    cfg["evaluation"]["query_sets"] = ["held"]
    cfg["table"]["labels"] = {}
    return cfg


def table_figures(results: Path, query_set: str = "dl19") -> dict:
    """The DL19 figures of the table (``table.csv``: mean nDCG@10 and the paired test's p against BM25 per row)
    and the training set's counts (the pool's .json)."""
    import pandas as pd

    tab = pd.read_csv(results / "table.csv")
    fig = {}
    for _, row in tab[tab["query_set"] == query_set].iterrows():
        fig[f"{row['system']}_{query_set}"] = round(float(row["value"]), 4)
        if "p_value" in row and pd.notna(row.get("p_value")):
            fig[f"{row['system']}_vs_bm25_p_{query_set}"] = float(row["p_value"])
            fig[f"{row['system']}_vs_bm25_p_holm_{query_set}"] = float(row["p_corrected"])
    pool = json.loads((results / "distill" / "train.json").read_text())
    fig.update(train_queries=pool["queries"], train_pairs=pool["pairs"], queries_per_source=pool["queries_per_source"])
    return fig


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "results" / "dl20-to-dl19-bench", help="results folder")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--holdout", type=int, default=0, metavar="N",
                   help="choose settings: N DL20 queries held out of training and evaluated instead of DL19 (14)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (dotted path, YAML value), e.g. students.student.epochs=2")
    a = p.parse_args(argv)
    why = missing_data()
    if why:
        print(f"skipped: {why}", file=sys.stderr)
        return 2
    overrides = {k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in a.set)}
    a.out.mkdir(parents=True, exist_ok=True)
    cfg_file = a.out / "config.yaml"
    res = str(a.out.resolve())
    cfg = holdout_config(SHARED, res, a.holdout, overrides) if a.holdout else example_config(SHARED, res, overrides)
    cfg_file.write_text(yaml.safe_dump(cfg, sort_keys=False))
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "snakemake", "--cores", str(a.cores), "--configfile", str(cfg_file)],
                   cwd=ROOT, check=True, env=os.environ.copy())
    fig = table_figures(a.out, "held" if a.holdout else "dl19") | {"seconds": round(time.perf_counter() - t0, 1)}
    if a.holdout:  # the validation curve: nDCG@10 on the held-out queries every 50 steps
        import pandas as pd

        m = pd.read_csv(a.out / "models" / "students" / "student" / "metrics.csv")
        col = next((c for c in m.columns if c.startswith("val")), None)
        if col:
            fig["validation"] = [round(float(v), 4) for v in m[col].dropna()]
    print(json.dumps(fig, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
