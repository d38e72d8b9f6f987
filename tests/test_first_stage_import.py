"""Imported first stages: checksummed, cached downloads; TREC and Parquet runs; bounded-memory sort."""

from __future__ import annotations

import copy
import hashlib
import http.server
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rankdistill import config as rdconfig
from rankdistill.datasets.queries import write_queries
from rankdistill.errors import ConfigError, InputError
from rankdistill.retrieval import imported
from rankdistill.runs import read_run, write_run

from conftest import tiny_config


def _random_run(seed=0, queries=("3", "1", "20", "q7"), per_query=30, ties=True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for q in queries:
        docs = rng.choice(10_000, size=per_query, replace=False)
        scores = rng.integers(0, 12, size=per_query).astype(float) if ties else rng.normal(size=per_query)
        rows += [(q, f"D{d}", s) for d, s in zip(docs, scores)]
    df = pd.DataFrame(rows, columns=["qid", "docno", "score"])
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)  # shuffled, like a merged file


def _write_trec(df: pd.DataFrame, path: Path, sep: str = " ") -> None:
    with open(path, "w") as f:
        for i, (q, d, s) in enumerate(zip(df.qid, df.docno, df.score)):
            f.write(sep.join([q, "0", d, str(i + 1), repr(s), "published"]) + "\n")


def _queries(path: Path, qids) -> Path:
    write_queries(pd.DataFrame({"qid": list(qids), "query": [f"query {q}" for q in qids]}), path)
    return path


def test_external_sort_writes_exactly_what_write_run_writes(tmp_path):
    df = _random_run()
    src = tmp_path / "in.run"
    _write_trec(df, src, sep="\t")  # the published ColBERT runs are tab-separated
    qs = _queries(tmp_path / "q.tsv", ["1", "3", "20"])  # q7 is not in the query set
    for chunk in (7, 1000):  # many spilled chunks vs. all in memory
        out = tmp_path / f"out{chunk}.run"
        stats = imported.import_run(str(src), out, queries=qs, depth=10, tag="colbert", chunk_rows=chunk)
        assert stats["queries"] == 3 and stats["written"] == 30 and stats["dropped_queries"] == 1
        want = tmp_path / "want.run"
        kept = df[df.qid.isin(["1", "3", "20"])]
        from rankdistill.runs import cut

        write_run(cut(kept, 10), want, tag="colbert")
        assert out.read_text() == want.read_text()
    assert not list(tmp_path.glob(".import-*"))  # spill folder removed


def test_duplicates_and_bad_lines_name_the_file(tmp_path):
    src = tmp_path / "dup.run"
    src.write_text("1 Q0 a 1 2.0 x\n1 Q0 b 2 1.0 x\n1 Q0 a 3 0.5 x\n")
    with pytest.raises(InputError, match="duplicate .*\\(1, a\\)"):
        imported.import_run(str(src), tmp_path / "o.run")
    src.write_text("1 Q0 a 1 2.0 x\n1 Q0 b 2 nan x\n")
    with pytest.raises(InputError, match=r"dup.run:2: score 'nan' is not finite"):
        imported.import_run(str(src), tmp_path / "o.run")
    src.write_text("1 Q0 a 1 2.0\n")
    with pytest.raises(InputError, match=r"dup.run:1: expected 6 columns"):
        imported.import_run(str(src), tmp_path / "o.run")
    assert not (tmp_path / "o.run").exists()


def test_local_path_checksums(tmp_path):
    df = _random_run(1, queries=("1",), per_query=5, ties=False)
    src = tmp_path / "r.run"
    _write_trec(df, src)
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    md5 = hashlib.md5(src.read_bytes()).hexdigest()
    imported.import_run({"path": str(src), "sha256": sha, "md5": md5}, tmp_path / "ok.run")
    assert len(read_run(tmp_path / "ok.run")) == 5
    with pytest.raises(InputError, match="sha256 mismatch"):
        imported.import_run({"path": str(src), "sha256": "0" * 64}, tmp_path / "bad.run")
    assert not (tmp_path / "bad.run").exists()


def test_parquet_source_with_lightning_ir_column_names(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = _random_run(2, queries=("11", "2"), per_query=8, ties=False)
    table = pa.table({"query_id": df.qid.astype(int), "doc_id": df.docno, "score": df.score})
    pq.write_table(table, tmp_path / "r.parquet", row_group_size=5)
    imported.import_run(str(tmp_path / "r.parquet"), tmp_path / "o.run", depth=3)
    run = read_run(tmp_path / "o.run")
    assert list(run.qid.unique()) == ["2", "11"] and run.groupby("qid").size().eq(3).all()
    best = df.sort_values("score", ascending=False).groupby("qid").head(1).set_index("qid").docno
    assert run[run["rank"] == 1].set_index("qid").docno.to_dict() == best.to_dict()


class _Server:
    """A static file server on 127.0.0.1 that counts requests."""

    def __init__(self, folder: Path):
        self.requests = 0
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *a, **kw):
                super().__init__(*a, directory=str(folder), **kw)

            def do_GET(self):
                outer.requests += 1
                super().do_GET()

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path):
    folder = tmp_path / "www"
    folder.mkdir()
    s = _Server(folder)
    s.folder = folder
    yield s
    s.close()


def test_url_download_is_checked_cached_and_atomic(server, tmp_path):
    df = _random_run(3, queries=("5", "6"), per_query=12)
    _write_trec(df, server.folder / "__colbert__x.run")
    data = (server.folder / "__colbert__x.run").read_bytes()
    sha, md5 = hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest()
    url = f"{server.url}/__colbert__x.run"
    cache = tmp_path / "cache"

    imported.import_run({"url": url, "sha256": sha}, tmp_path / "a.run", cache_dir=cache)
    assert server.requests == 1
    cached = cache / f"sha256-{sha}" / "__colbert__x.run"
    assert cached.read_bytes() == data
    # second use: served from the cache, no request
    imported.import_run({"url": url, "sha256": sha}, tmp_path / "b.run", cache_dir=cache)
    assert server.requests == 1 and (tmp_path / "a.run").read_text() == (tmp_path / "b.run").read_text()
    # md5 works too (its own cache entry)
    imported.import_run({"url": url, "md5": md5}, tmp_path / "c.run", cache_dir=cache)
    assert server.requests == 2 and (cache / f"md5-{md5}" / "__colbert__x.run").exists()

    # a wrong checksum: a clear error, nothing cached, no partial file left behind
    wrong = "f" * 64
    with pytest.raises(InputError, match=f"sha256 mismatch: expected {wrong}, got {sha}"):
        imported.import_run({"url": url, "sha256": wrong}, tmp_path / "d.run", cache_dir=cache)
    assert not (cache / f"sha256-{wrong}").exists()
    assert not (tmp_path / "d.run").exists()

    # a corrupted cache entry is detected and downloaded again
    cached.write_bytes(b"garbage")
    imported.import_run({"url": url, "sha256": sha}, tmp_path / "e.run", cache_dir=cache)
    assert cached.read_bytes() == data and server.requests == 4

    with pytest.raises(InputError, match="404"):
        imported.import_run({"url": f"{server.url}/missing.run", "sha256": sha}, tmp_path / "f.run", cache_dir=cache)


def test_sources_need_checksums_for_urls_and_exactly_one_location():
    with pytest.raises(ConfigError, match="needs an expected checksum"):
        imported.normalise_source("https://example.org/x.run")
    with pytest.raises(ConfigError, match="exactly one of"):
        imported.normalise_source({"path": "a", "irds": "b"})
    assert imported.normalise_source("irds:msmarco-passage/train/rank-distillm-colbert")["kind"] == "irds"
    assert imported.normalise_source({"url": "https://x/y", "md5": "A" * 32})["md5"] == "a" * 32


def test_config_cross_references_of_import_stages():
    cfg = tiny_config()
    cfg["first_stages"]["pub"] = {"kind": "import", "runs": {"test-a": "a.run", "nope": "b.run"}}
    cfg["evaluation"]["first_stages"] = ["bm25", "pub"]
    with pytest.raises(ConfigError) as e:
        rdconfig.validate(copy.deepcopy(cfg))
    msg = str(e.value)
    assert "first_stages.pub.runs: 'nope' is not a query set" in msg
    assert "first_stages.pub.runs: no run for the evaluated query set 'test-b'" in msg
    cfg["first_stages"]["pub"]["runs"] = {"test-a": "https://example.org/a.run", "test-b": {"url": "https://x/b.run"}}
    with pytest.raises(ConfigError) as e:
        rdconfig.validate(copy.deepcopy(cfg))
    assert "runs.test-a: a URL needs an expected checksum" in str(e.value)
    assert "runs.test-b: a URL needs an expected sha256 or md5" in str(e.value)
    cfg["first_stages"]["pub"]["runs"] = {"test-a": "a.run", "test-b": {"path": "b.run", "sha256": "0" * 64}}
    rdconfig.validate(copy.deepcopy(cfg))


def test_paper_config_imports_published_colbertv2_runs():
    cfg = rdconfig.load(Path(__file__).resolve().parents[1] / "config" / "paper.yaml")
    fs = cfg["first_stages"]
    imports = [n for n, s in fs.items() if s["kind"] == "import"]
    assert imports, "the paper config imports the published ColBERTv2 runs"
    runs = fs[imports[0]]["runs"]
    assert {"dl19", "dl20", "train"} <= set(runs)
    for qs in ("dl19", "dl20"):
        assert f"__colbert__msmarco-passage-trec-dl-20{qs[2:]}-judged.run" in runs[qs]["url"]
        assert len(runs[qs]["sha256"]) == 64
    assert runs["train"]["md5"] == "1e927d52af085516bf5a3de2865809d5"
    assert any(s["kind"] == "colbert" and s["model"] == "colbert-ir/colbertv2.0" and s["index"] == "plaid"
               for s in fs.values())


def test_preflight_accepts_cached_downloads_and_url_ports(server, tmp_path, monkeypatch):
    from rankdistill import preflight
    from rankdistill.errors import UnavailableError

    _write_trec(_random_run(4, queries=("1",), per_query=3), server.folder / "r.run")
    sha = hashlib.sha256((server.folder / "r.run").read_bytes()).hexdigest()
    cfg = {"first_stages": {"pub": {"kind": "import", "runs": {"q": {"url": f"{server.url}/r.run", "sha256": sha}}}}}
    monkeypatch.chdir(tmp_path)
    preflight.check(cfg)  # the server's own port is probed, not 443
    with pytest.raises(UnavailableError, match="r.run is unreachable"):
        preflight.check(cfg, reachable=lambda *a: False)
    imported.import_run(cfg["first_stages"]["pub"]["runs"]["q"], tmp_path / "o.run")  # fills the default cache
    preflight.check(cfg, reachable=lambda *a: False)  # cached: no network needed
