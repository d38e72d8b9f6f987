"""The configuration reference, rendered from the schema (``workflow/schemas/config.schema.yaml``).

The docs site's configuration page and ``config/README.md``'s parameter table are generated from the
schema by :func:`markdown` / :func:`parameter_table`, so neither can drift from it (the docs build runs
them; ``tests/test_docs.py`` fails when a key has no ``description`` or ``config/README.md`` is stale).
Light like the rest of :mod:`rankdistill.config`: yaml only.

>>> keys = {k.path: k for k in entries()}
>>> keys["first_stages.<name>.k1"].default, keys["first_stages.<name>.k1"].when
(0.9, 'kind: bm25')
>>> "results" in keys and keys["results"].type
'string'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterator

from .schema import schema as _schema

_NO_DEFAULT = object()  # a key without a schema default
BEGIN = "<!-- BEGIN generated from workflow/schemas/config.schema.yaml by rankdistill.config.reference -->"
END = "<!-- END generated -->"


@dataclass(frozen=True)
class Entry:
    """One configuration key: its dotted path (``<name>`` for a name you choose), its type, default,
    allowed values, the condition under which it exists (``kind: bm25``) and its description."""

    path: str
    type: str
    default: object
    allowed: str
    when: str
    description: str
    required: bool

    @property
    def has_default(self) -> bool:
        return self.default is not _NO_DEFAULT


def _resolve(node: dict, root: dict) -> dict:
    """``node`` with its ``$ref`` (``#/...``) merged in, the node's own keys winning."""
    while isinstance(node, dict) and "$ref" in node:
        target: object = root
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        merged = dict(target)
        merged.update({k: v for k, v in node.items() if k != "$ref"})
        node = merged
    return node


def _type(node: dict, root: dict) -> str:
    if "const" in node:
        return json.dumps(node["const"])
    if "enum" in node:
        return "enum"
    t = node.get("type")
    if t is None and "oneOf" in node:
        return " or ".join(_type(_resolve(n, root), root) for n in node["oneOf"])
    if t is None and ("properties" in node or "additionalProperties" in node):
        t = "object"
    if isinstance(t, list):
        t = " or ".join(t)
    if t == "array" and isinstance(node.get("items"), dict):
        inner = _type(_resolve(node["items"], root), root)
        if inner and inner != "any":
            return f"array of {inner}"
    return t or "any"


def _allowed(node: dict) -> str:
    parts = []
    if "enum" in node:
        parts.append(", ".join("null" if v is None else str(v) for v in node["enum"]))
    for key, sym in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<")):
        if key in node:
            parts.append(f"{sym} {node[key]}")
    if "pattern" in node:
        parts.append(f"matches `{node['pattern']}`")
    items = node.get("items")
    if isinstance(items, dict) and "enum" in items:
        parts.append("each of " + ", ".join(str(v) for v in items["enum"]))
    if "minItems" in node and node.get("minItems") == node.get("maxItems"):
        parts.append(f"{node['minItems']} items")
    elif "minItems" in node:
        parts.append(f">= {node['minItems']} items")
    return "; ".join(parts)


def _description(node: dict) -> str:
    return " ".join(str(node.get("description", "")).split())


def _walk(node: dict, path: str, root: dict, when: str, required: bool) -> Iterator[Entry]:
    node = _resolve(node, root)
    if path:
        yield Entry(path, _type(node, root), node.get("default", _NO_DEFAULT), _allowed(node), when,
                    _description(node), required)
    yield from _children(node, path, root, when)


def _children(node: dict, path: str, root: dict, when: str) -> Iterator[Entry]:
    prefix = f"{path}." if path else ""
    req = set(node.get("required", []))
    for key, sub in node.get("properties", {}).items():
        if sub == {}:  # a branch re-admitting a key described by its parent (kind: {})
            continue
        yield from _walk(sub, prefix + key, root, when, key in req)
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        extra = _resolve(extra, root)
        child = prefix + "<name>"
        if "properties" in extra or "allOf" in extra:  # a map of named entries: one level, its keys below
            yield from _children(extra, child, root, when)
        else:  # a map of values (name -> value): the value's own structure
            for alt in extra.get("oneOf", []):
                yield from _children(_resolve(alt, root), child, root, when)
            yield from _children(extra, child, root, when)
    for part in node.get("allOf", []):
        part = _resolve(part, root)
        if "if" in part and "then" in part:
            cond = part["if"].get("properties", {})
            label = ", ".join(f"{k}: {v.get('const', v.get('enum'))}" for k, v in cond.items()
                              if isinstance(v, dict)) or when
            if when and label != when:
                label = f"{when}; {label}"
            yield from _children(_resolve(part["then"], root), path, root, label)
        else:
            yield from _children(part, path, root, when)


def entries(schema: dict | None = None) -> list[Entry]:
    """Every key of the schema, depth first in the schema's order (a key that exists under several
    ``kind``s appears once per kind, each with its own default)."""
    root = _schema() if schema is None else schema
    return list(_walk(root, "", root, "", False))


def undocumented(schema: dict | None = None) -> list[str]:
    """The keys without a ``description`` (each needs one: it is the only documentation a key has)."""
    return [f"{e.path} ({e.when})" if e.when else e.path for e in entries(schema) if not e.description]


def _fmt_default(e: Entry) -> str:
    if not e.has_default:
        return "required" if e.required else "–"
    return f"`{json.dumps(e.default)}`"


def _cell(text: str) -> str:
    """``text`` for a Markdown table cell: pipes escaped, ``<...>`` outside code spans as text, not HTML."""
    parts = text.replace("|", "\\|").split("`")
    return "`".join(p if i % 2 else p.replace("<", "&lt;").replace(">", "&gt;") for i, p in enumerate(parts))


def _code(text: str) -> str:
    return f"`{text}`"


def markdown(schema: dict | None = None) -> str:
    """The full reference: one table per top-level section, every key with its type, default, allowed
    values, the ``kind`` it belongs to and its description."""
    root = _schema() if schema is None else schema
    out = [_cell(_description(root)), ""]
    rows = entries(root)
    sections: dict[str, list[Entry]] = {}
    for e in rows:
        sections.setdefault(e.path.split(".")[0], []).append(e)
    for name, group in sections.items():
        top = group[0]
        out += [f"### `{name}`", "", _cell(top.description), "",
                f"Type: {top.type}; default: {_fmt_default(top)}" + (f"; allowed: {_cell(top.allowed)}" if top.allowed else ""),
                ""]
        if len(group) > 1:
            out += ["| key | type | default | allowed | when | description |", "| --- | --- | --- | --- | --- | --- |"]
            for e in group[1:]:
                out.append("| " + " | ".join([_code(e.path), _cell(e.type), _cell(_fmt_default(e)), _cell(e.allowed),
                                              _cell(e.when), _cell(e.description)]) + " |")
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def parameter_table(schema: dict | None = None) -> str:
    """The top-level parameters as the Snakemake workflow catalog shows them
    (Parameter | Type | Description | Required | Default)."""
    root = _schema() if schema is None else schema
    out = ["| Parameter | Type | Description | Required | Default |", "| --- | --- | --- | --- | --- |"]
    req = set(root.get("required", []))
    for key, sub in root.get("properties", {}).items():
        sub = _resolve(sub, root)
        default = f"`{json.dumps(sub['default'])}`" if "default" in sub else ""
        out.append(f"| `{key}` | {_cell(_type(sub, root))} | {_cell(_description(sub))} | "
                   f"{'yes' if key in req else 'no'} | {_cell(default)} |")
    return "\n".join(out) + "\n"


def replace_generated(text: str, generated: str) -> str:
    """``text`` with the part between :data:`BEGIN` and :data:`END` replaced by ``generated``."""
    head, sep, rest = text.partition(BEGIN)
    if not sep:
        raise ValueError(f"no {BEGIN!r} marker")
    _, sep, tail = rest.partition(END)
    if not sep:
        raise ValueError(f"no {END!r} marker")
    return f"{head}{BEGIN}\n{generated}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    """``python -m rankdistill.config.reference [--write FILE]``: print the reference, or refresh the
    generated parameter table in FILE (config/README.md)."""
    import argparse
    from pathlib import Path

    ap = argparse.ArgumentParser(prog="python -m rankdistill.config.reference", description=main.__doc__)
    ap.add_argument("--write", metavar="FILE", help="refresh the parameter table between the markers in FILE")
    args = ap.parse_args(argv)
    if args.write:
        path = Path(args.write)
        path.write_text(replace_generated(path.read_text(encoding="utf-8"), parameter_table()), encoding="utf-8")
    else:
        print(markdown(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
