"""The students package's module graph (rankdistill.codegraph, the same static graph the code versions use):
the split modules depend one way (no cycle, lazy imports inside functions included), and importing the
package stays light."""

import subprocess
import sys
from pathlib import Path

from rankdistill import codegraph

SRC = Path(__file__).resolve().parents[1] / "src"


def test_students_and_api_import_no_cycle():
    graph = codegraph.import_graph()
    assert "rankdistill.students.scoring" in graph["rankdistill.students.rerank"]  # the graph sees real edges
    assert "rankdistill.students.packed" in graph["rankdistill.students.scoring"]  # a lazy import inside a function
    assert "rankdistill.students.model" not in graph["rankdistill.students.packed"]
    assert "rankdistill.students.rerank" not in graph["rankdistill.students.model"]  # the old model <-> rerank cycle
    ours = [c for c in codegraph.cycles(graph) if any(m.startswith(("rankdistill.students", "rankdistill.api")) for m in c)]
    assert ours == []


def test_importing_the_students_package_is_light():
    code = "import sys, rankdistill.students; print('torch' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(SRC), "PATH": ""})
    assert out.stdout.split() == ["False", "False"]
