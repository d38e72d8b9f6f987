"""Code versions from the import graph: a rule's ``code=`` param is a hash of the package modules its
script imports, transitively, found by reading the sources (``ast``), never by importing them (the DAG
is built without torch or pandas).

* Every ``import rankdistill.x`` / ``from .x import y`` anywhere in a module counts, also inside
  functions (a lazy import still runs the code), and importing ``a.b.c`` runs ``a/__init__.py`` and
  ``a/b/__init__.py`` as well. A name imported from a package (``from . import losses``) counts when
  it is a submodule.
* The hash is over module names and file contents (not paths or mtimes): the same sources give the
  same version after a reinstall or in another checkout, so nothing reruns.
* :data:`HARNESS` (``rankdistill.workflow``: logging, threads, signals, provenance side files of every
  job) is not followed from a rule script: it changes no result, and following it would make every
  rule depend on every module the harness touches. A rule whose declared output the harness writes
  (a table's provenance page) names that module explicitly (``script_code(script, "rankdistill.provenance")``).

Per-file results (content hash, imports) are cached by (path, size, mtime), so the ~25 rules of a
dry run parse each file once, and in a JSON file across runs (:func:`use_cache_file`): a dry run
parses only what changed since the last. A stale entry cannot be used: a changed file has a new
(size, mtime) key, and the hash is of the content read when the entry was made.
"""

from __future__ import annotations

import ast
import hashlib
import os
from pathlib import Path

PACKAGE = "rankdistill"
PACKAGE_DIR = Path(__file__).resolve().parent
HARNESS = ("rankdistill.workflow",)

_CACHE: dict[tuple[str, int, int], tuple[str, frozenset[str]]] = {}
_DISK: dict = {"file": None, "loaded": False, "dirty": False}


def use_cache_file(path: str | os.PathLike | None) -> None:
    """Keep the per-file results across processes in ``path`` (JSON; the workflow uses
    ``results/cache/codegraph.json``), so a dry run parses only the files changed since the last one."""
    _DISK.update(file=None if path is None else Path(path), loaded=False)
    if path is None:
        return
    import json

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        for key, (digest, deps) in data.items():
            f, size, mtime = key.rsplit("|", 2)
            _CACHE.setdefault((f, int(size), int(mtime)), (digest, frozenset(deps)))
    except (OSError, ValueError, TypeError):
        pass  # no cache yet, or an unreadable one: parse again
    _DISK["loaded"] = True


def save_cache() -> None:
    """Write the per-file cache if it changed (atomically; a failure only costs the next run a parse)."""
    if _DISK["file"] is None or not _DISK["dirty"]:
        return
    import contextlib
    import json
    import tempfile

    path = _DISK["file"]
    data = {f"{f}|{size}|{mtime}": [d, sorted(deps)] for (f, size, mtime), (d, deps) in _CACHE.items()
            if Path(f).exists()}
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        _DISK["dirty"] = False


def module_file(name: str, root: Path = PACKAGE_DIR) -> Path | None:
    """The source file of package module ``name`` (``rankdistill.a.b``), or None if there is none."""
    parts = name.split(".")
    if parts[0] != PACKAGE:
        return None
    base = root.joinpath(*parts[1:])
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    f = base.with_suffix(".py")
    return f if f.is_file() and parts[1:] else None


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def _imports(source: str, name: str, is_package: bool, root: Path) -> set[str]:
    """Package modules a module's source imports (any nesting depth)."""
    tree = ast.parse(source)
    here = name.split(".") if is_package else name.split(".")[:-1]  # the package a relative import starts from
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != PACKAGE:
                continue
            out.add(mod)
            for a in node.names:  # `from . import losses`: a submodule
                if module_file(f"{mod}.{a.name}", root) is not None:
                    out.add(f"{mod}.{a.name}")
    resolved = set()
    for m in out:
        parts = m.split(".")
        for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ too
            prefix = ".".join(parts[:i])
            if module_file(prefix, root) is not None:
                resolved.add(prefix)
    resolved.discard(name)
    return resolved


def _file_info(path: Path, name: str, root: Path) -> tuple[str, frozenset[str]]:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    hit = _CACHE.get(key)
    if hit is not None:
        return hit
    data = path.read_bytes()
    info = (hashlib.sha256(data).hexdigest(),
            frozenset(_imports(data.decode("utf-8"), name, _is_package(path), root)))
    _CACHE[key] = info
    _DISK["dirty"] = True
    return info


def closure(roots, root: Path = PACKAGE_DIR, skip=()) -> dict[str, str]:
    """module name -> content hash of every package module ``roots`` import, transitively (roots included)."""
    seen: dict[str, str] = {}
    todo = [r for r in roots if r not in skip]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = module_file(name, root)
        if path is None:
            raise ValueError(f"no module {name!r} in {root}")
        digest, deps = _file_info(path, name, root)
        seen[name] = digest
        todo.extend(d for d in deps if d not in seen and d not in skip)
    return seen


def version(modules: dict[str, str]) -> str:
    h = hashlib.sha256()
    for name in sorted(modules):
        h.update(f"{name}\0{modules[name]}\n".encode())
    return h.hexdigest()[:12]


def code_version(*modules: str, root: Path = PACKAGE_DIR) -> str:
    """A short hash of the named package modules and everything they import from the package."""
    return version(closure(modules, root))


def script_imports(script: str | os.PathLike, root: Path = PACKAGE_DIR) -> set[str]:
    """The package modules a rule script imports directly (its harness aside)."""
    path = Path(script)
    mods = _imports(path.read_text(encoding="utf-8"), "__script__", False, root)
    return {m for m in mods if m not in HARNESS}


def script_code(script: str | os.PathLike, *extra: str, root: Path = PACKAGE_DIR) -> str:
    """The code version of a rule: the script's content and the closure of what it imports, plus ``extra``
    modules the harness runs for it (see the module docstring)."""
    mods = closure(sorted(script_imports(script, root)) + list(extra), root, skip=HARNESS)
    mods["<script>"] = hashlib.sha256(Path(script).read_bytes()).hexdigest()  # its content, not its path
    return version(mods)


# --- the package's import graph (the no-cycles test) -------------------------------------------

def package_modules(root: Path = PACKAGE_DIR) -> list[str]:
    out = []
    for f in sorted(root.rglob("*.py")):
        rel = f.relative_to(root).with_suffix("")
        parts = [PACKAGE, *rel.parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append(".".join(parts))
    return out


def import_graph(root: Path = PACKAGE_DIR, parents: bool = False) -> dict[str, set[str]]:
    """module -> the package modules it imports. ``parents=False`` leaves out the implicit edges to
    enclosing packages' ``__init__`` (a submodule importing its parent package is not a cycle)."""
    graph = {}
    for name in package_modules(root):
        path = module_file(name, root)
        deps = set(_file_info(path, name, root)[1])
        if not parents:
            deps = {d for d in deps if not name.startswith(d + ".") or _names_directly(path, d, name)}
        graph[name] = deps
    return graph


def _names_directly(path: Path, dep: str, name: str) -> bool:
    """Whether ``name``'s source imports the enclosing package ``dep`` itself (``from . import x`` where
    x is not a submodule, ``import rankdistill``), not just one of its submodules."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = _is_package(path)
    here = name.split(".") if is_pkg else name.split(".")[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name == dep for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod == dep and any(module_file(f"{mod}.{a.name}") is None for a in node.names):
                return True
    return False


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of ``graph`` (strongly connected components with more than one module, or a
    module importing itself), each as a sorted list."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan (recursion depth = the package's module count, ~60)
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out
