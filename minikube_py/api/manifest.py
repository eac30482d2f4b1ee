"""Reading manifests: YAML (or JSON) files holding one or more Kubernetes objects.

``kubectl apply -f`` accepts a file, a directory or ``-`` (standard input), and a file may
hold several objects separated by ``---`` lines (the seed's ``Nginx-deployment.yml`` holds a
Deployment and a Service). Each object must be a mapping that says what it is, with
``apiVersion`` and ``kind``; a ``kind: List`` is unpacked into its ``items``.

YAML is converted to the JSON data model, as the real tools do: dates stay strings
(``2024-01-01`` is not turned into a date object), so every object can be sent as JSON.

Text copied from web pages or notes often indents with non-breaking spaces (U+00A0) — the
study note's own ``Nginx-deployment.yml`` does. YAML does not count them as indentation, so
every key would silently change (``"\xa0 name"``). We read such indentation as plain spaces
and say so through the ``warn`` callback.

Errors say where to look: the file, the document number (1 = first document) and the line
the YAML parser stopped at, e.g.
``examples/x.yml: document 2: while parsing a block mapping (line 3, column 1): expected
<block end>, but found '-' (line 7, column 3)``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any

import yaml

from minikube_py.errors import ManifestError

EXTENSIONS = (".yaml", ".yml", ".json")
Manifest = tuple[str, int, dict[str, Any]]
Warn = Callable[[str], None]
NBSP = "\u00a0"


class _Loader(yaml.SafeLoader):
    """SafeLoader without the timestamp rule: ``2024-01-01`` stays a string, as in JSON."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _describe_yaml_error(e: yaml.YAMLError) -> str:
    if not isinstance(e, yaml.MarkedYAMLError):
        return str(e)
    parts = []
    if e.context:
        mark = e.context_mark
        parts.append(e.context + (f" (line {mark.line + 1}, column {mark.column + 1})"
                                  if mark else ""))
    if e.problem:
        mark = e.problem_mark
        parts.append(e.problem + (f" (line {mark.line + 1}, column {mark.column + 1})"
                                  if mark else ""))
    return ": ".join(parts) or str(e)


def _check_object(obj: object, where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        found = "a list" if isinstance(obj, list) else f"{type(obj).__name__} {obj!r}"
        raise ManifestError(f"{where}: expected a mapping (an object with apiVersion and "
                            f"kind), found {found}")
    missing = [f"{key} not set" for key in ("apiVersion", "kind") if not obj.get(key)]
    if missing:
        raise ManifestError(f"{where}: " + ", ".join(missing))
    return obj


def fix_indentation(text: str) -> tuple[str, list[int]]:
    """Turn non-breaking spaces in the indentation of each line into plain spaces; returns
    the new text and the (1-based) numbers of the lines that changed."""
    lines = text.split("\n")
    changed = []
    for i, line in enumerate(lines):
        stripped = line.lstrip(" \t" + NBSP)
        indent = line[: len(line) - len(stripped)]
        if NBSP in indent:
            lines[i] = indent.replace(NBSP, " ") + stripped
            changed.append(i + 1)
    return "\n".join(lines), changed


def parse_manifests(text: str, source: str, warn: Warn | None = None) -> list[Manifest]:
    """All objects in ``text``: ``(source, document index from 0, object)``; empty documents
    are skipped; ``kind: List`` objects are unpacked."""
    text, fixed = fix_indentation(text)
    if fixed and warn is not None:
        warn(f"{source}: lines {fixed[0]}-{fixed[-1]} are indented with non-breaking spaces "
             "(U+00A0, common in text copied from web pages); read them as plain spaces")
    out: list[Manifest] = []
    parsed = 0  # documents read so far; an error is in document parsed + 1
    try:
        for index, doc in enumerate(yaml.load_all(text, Loader=_Loader)):
            parsed = index + 1
            if doc is None:
                continue
            where = f"{source}: document {index + 1}"
            obj = _check_object(doc, where)
            if obj["kind"] == "List" or (obj["kind"].endswith("List") and "items" in obj):
                for i, item in enumerate(obj.get("items") or []):
                    out.append((source, index, _check_object(item, f"{where}: items[{i}]")))
            else:
                out.append((source, index, obj))
    except yaml.YAMLError as e:
        raise ManifestError(f"{source}: document {parsed + 1}: {_describe_yaml_error(e)}") from e
    return out


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise ManifestError.failed("read", "manifest", path, e) from e


def _parse_json(text: str, source: str) -> list[Manifest]:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ManifestError(f"{source}: document 1: {e.msg} (line {e.lineno}, column "
                            f"{e.colno})") from e
    return parse_manifests(json.dumps(doc), source)


def load_manifests(path: str, warn: Warn | None = None) -> list[Manifest]:
    """Objects from a file, a directory (``*.yaml``, ``*.yml``, ``*.json``, sorted, not
    recursive) or ``-`` (standard input), as ``(source, document index, object)``."""
    if path == "-":
        return parse_manifests(sys.stdin.read(), "<stdin>", warn)
    if os.path.isdir(path):
        names = sorted(n for n in os.listdir(path) if n.endswith(EXTENSIONS))
        if not names:
            raise ManifestError.failed("read", "manifests", path,
                                       "no *.yaml, *.yml or *.json files in the directory")
        out: list[Manifest] = []
        for name in names:
            out += load_manifests(os.path.join(path, name), warn)
        return out
    text = _read(path)
    if path.endswith(".json"):
        return _parse_json(text, path)
    return parse_manifests(text, path, warn)
