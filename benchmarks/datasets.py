"""Scale of the synthetic generator and the document store.

Prints, for two collection sizes (default 20k and 200k passages; use --sizes 1000000 for the
MS MARCO-scale check): generation + store build rate, peak memory of the building process, and
batched docno → text lookups per second against the named baseline "dict" (all texts held in a
Python dict, what a naive pipeline does). Each size runs in a fresh process, so peak memory is
that size's own; the memory ratio between sizes shows whether memory grows with the collection.

    python benchmarks/datasets.py [--sizes 20000 200000] [--lookups 20000]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one(n: int, lookups: int) -> dict:
    from rankdistill.datasets import DocStore, build_docstore
    from rankdistill.datasets.synthetic import SyntheticCollection, SyntheticSpec

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "docs.sqlite"
        t = time.perf_counter()
        build_docstore(SyntheticCollection(SyntheticSpec(seed=1, passages=n)).iter_passages(), path, "bench")
        build_s = time.perf_counter() - t
        peak_build = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        store = DocStore(path)
        rng = random.Random(0)
        batches = [[str(rng.randrange(n)) for _ in range(100)] for _ in range(lookups // 100)]
        t = time.perf_counter()
        for b in batches:
            store.get_many(b)
        store_s = time.perf_counter() - t
        return dict(n=n, build_s=build_s, docs_per_s=n / build_s, peak_mb=peak_build,
                    lookups_per_s=lookups / store_s, size_mb=path.stat().st_size / 1e6)


def dict_baseline(n: int, lookups: int) -> float:
    from rankdistill.datasets.synthetic import SyntheticCollection, SyntheticSpec

    texts = {p["docno"]: p["text"] for p in SyntheticCollection(SyntheticSpec(seed=1, passages=n)).iter_passages()}
    rng = random.Random(0)
    batches = [[str(rng.randrange(n)) for _ in range(100)] for _ in range(lookups // 100)]
    t = time.perf_counter()
    for b in batches:
        {d: texts[d] for d in b}
    return lookups / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs=2, default=[20_000, 200_000])
    ap.add_argument("--lookups", type=int, default=20_000)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(one(a.child, a.lookups)))
        return
    rows = []
    for n in a.sizes:
        out = subprocess.run([sys.executable, __file__, "--child", str(n), "--lookups", str(a.lookups)],
                             capture_output=True, text=True, check=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    base = dict_baseline(a.sizes[0], a.lookups)
    print(f"{'passages':>10} {'build s':>8} {'docs/s':>9} {'peak MB':>8} {'store MB':>9} {'lookups/s':>10}")
    for r in rows:
        print(f"{r['n']:>10} {r['build_s']:>8.1f} {r['docs_per_s']:>9.0f} {r['peak_mb']:>8.0f} {r['size_mb']:>9.1f} {r['lookups_per_s']:>10.0f}")
    small, big = rows
    print(f"collection x{big['n'] / small['n']:.0f}: build time x{big['build_s'] / small['build_s']:.1f}, "
          f"peak memory x{big['peak_mb'] / small['peak_mb']:.2f} (bounded if ~1)")
    print(f"lookups vs baseline 'dict' (all texts in memory, {a.sizes[0]} passages): "
          f"{small['lookups_per_s'] / base:.3f}x at {small['n']}, {big['lookups_per_s'] / base:.3f}x at {big['n']}")


if __name__ == "__main__":
    main()
