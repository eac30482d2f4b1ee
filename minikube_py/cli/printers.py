"""How ``get`` prints: the server's Tables, and objects as YAML, JSON or names.

``kubectl get pods`` does not know a Pod's columns: it asks the API server for a *Table*
(``Accept: application/json;as=Table;v=v1;g=meta.k8s.io``) and prints what comes back.
A Table has ``columnDefinitions`` (name, type, ``priority``: 0 = always shown, 1 = only with
``-o wide``) and ``rows`` of already formatted ``cells`` (the server computes ``AGE``).
kubectl upper-cases the column names and pads every column to its widest cell plus three
spaces; with ``-A`` it adds a NAMESPACE column taken from each row's object metadata. See the
raw Table with::

    curl -H 'Accept: application/json;as=Table;v=v1;g=meta.k8s.io' \\
         http://127.0.0.1:6443/api/v1/namespaces/default/pods

``-o yaml|json`` prints plain objects (a list comes back wrapped as ``kind: List``), with keys
in alphabetical order as kubectl does; ``-o name`` prints ``pod/nginx``.
:func:`tabwrite` reproduces Go's ``text/tabwriter``, which ``kubectl describe`` uses.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

import click
import yaml

from minikube_py.client import ApiError, Client

TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
FLUSH = "\f"  # a line of its own: end the current tabwriter block (Go's Flush)


def cell_text(value: Any) -> str:
    if value is None:
        return "<none>"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ",".join(cell_text(v) for v in value)
    return str(value)


def table_headers(table: dict[str, Any], wide: bool) -> tuple[list[str], list[int]]:
    """Upper-cased column names and the indexes of the columns to show."""
    headers: list[str] = []
    shown: list[int] = []
    for i, column in enumerate(table.get("columnDefinitions") or []):
        if column.get("priority", 0) == 0 or wide:
            headers.append(str(column.get("name", "")).upper())
            shown.append(i)
    return headers, shown


def table_rows(table: dict[str, Any], shown: Sequence[int], namespace_column: bool = False,
               labels_column: bool = False, name_prefix: str = "") -> list[list[str]]:
    rows: list[list[str]] = []
    for row in table.get("rows") or []:
        cells = row.get("cells") or []
        out = [cell_text(cells[i]) if i < len(cells) else "" for i in shown]
        meta = (row.get("object") or {}).get("metadata") or {}
        if name_prefix and out:
            out[0] = name_prefix + out[0]
        if namespace_column:
            out.insert(0, str(meta.get("namespace", "")))
        if labels_column:
            labels = meta.get("labels") or {}
            out.append(",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>")
        rows.append(out)
    return rows


def format_columns(rows: Sequence[Sequence[str]], gap: int = 3,
                   widths: Sequence[int] | None = None) -> list[str]:
    """Rows padded to the widest cell plus ``gap`` spaces (the last column unpadded)."""
    if not rows:
        return []
    count = max(len(r) for r in rows)
    computed = [max((len(r[i]) for r in rows if i < len(r)), default=0) for i in range(count)]
    if widths:
        computed = [max(c, widths[i]) if i < len(widths) else c for i, c in enumerate(computed)]
    lines = []
    for row in rows:
        parts = [cell.ljust(computed[i] + gap) if i < len(row) - 1 else cell
                 for i, cell in enumerate(row)]
        lines.append("".join(parts))
    return lines


def print_table(table: dict[str, Any], wide: bool = False, namespace_column: bool = False,
                labels_column: bool = False, no_headers: bool = False,
                name_prefix: str = "") -> list[int]:
    """Print a Table like kubectl; returns the column widths (for ``-w`` rows after it)."""
    headers, shown = table_headers(table, wide)
    if namespace_column:
        headers.insert(0, "NAMESPACE")
    if labels_column:
        headers.append("LABELS")
    rows = table_rows(table, shown, namespace_column, labels_column, name_prefix)
    everything = rows if no_headers else [headers, *rows]
    for line in format_columns(everything):
        click.echo(line)
    return [max((len(r[i]) for r in everything), default=0) for i in range(len(headers))]


def object_name(obj: dict[str, Any], qualified_kind: str) -> str:
    return f"{qualified_kind}/{(obj.get('metadata') or {}).get('name', '')}"


def as_list(items: list[dict[str, Any]]) -> dict[str, Any]:
    """kubectl's wrapper around several objects (whatever list kind the server sent)."""
    return {"apiVersion": "v1", "items": items, "kind": "List",
            "metadata": {"resourceVersion": ""}}


class _Dumper(yaml.SafeDumper):
    """Go-yaml's look: multi-line strings as ``|`` blocks, strings that would read as
    something else (``"6"``, ``"true"``, timestamps) in double quotes."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = None
    if "\n" in value:
        style = "|"
    elif dumper.resolve(yaml.ScalarNode, value, (True, False)) != "tag:yaml.org,2002:str":
        style = '"'
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump(obj: Any, output: str) -> str:
    """``-o yaml`` / ``-o json`` text of one object (keys sorted, 4-space JSON indent)."""
    if output == "json":
        return json.dumps(obj, indent=4, sort_keys=True, ensure_ascii=False)
    text: str = yaml.dump(obj, Dumper=_Dumper, sort_keys=True, default_flow_style=False,
                          allow_unicode=True, width=1 << 20)
    return text.rstrip("\n")


def _tab_block(lines: list[list[str]], padding: int, widths: list[int], start: int,
               end: int, out: list[str]) -> None:
    """Go's ``tabwriter.format``: a column block is the run of consecutive lines that have
    a tab-terminated cell in that column; its width is the widest cell plus padding."""
    column = len(widths)
    this = start
    while this < end:
        if column >= len(lines[this]) - 1:
            this += 1
            continue
        _write_lines(lines, widths, start, this, out)
        start = this
        width = 0
        while this < end and column < len(lines[this]) - 1:
            width = max(width, len(lines[this][column]) + padding)
            this += 1
        _tab_block(lines, padding, [*widths, width], start, this, out)
        start = this
    _write_lines(lines, widths, start, end, out)


def _write_lines(lines: list[list[str]], widths: list[int], start: int, end: int,
                 out: list[str]) -> None:
    for cells in lines[start:end]:
        padded = [c.ljust(widths[j]) if j < len(widths) and j < len(cells) - 1 else c
                  for j, c in enumerate(cells)]
        out.append("".join(padded).rstrip(" "))


def tabwrite(text_lines: Iterable[str], padding: int = 2) -> list[str]:
    """Align tab-separated lines like Go's ``text/tabwriter`` (minwidth 0, padding 2);
    a line that is exactly :data:`FLUSH` ends the current block."""
    out: list[str] = []
    block: list[list[str]] = []
    for line in [*text_lines, FLUSH]:
        if line == FLUSH:
            _tab_block(block, padding, [], 0, len(block), out)
            block = []
        else:
            block.append(line.split("\t"))
    return out


def watch_table(client: Client, path: str, query: dict[str, Any], widths: Sequence[int],
                wide: bool = False, namespace_column: bool = False,
                labels_column: bool = False) -> None:
    """``get -w``: stream Table watch events, one row per change, until the server ends it.

    Each event's object is a one-row Table (``columnDefinitions`` may be left out after the
    first); a plain object (a server without Table watch) prints as its name.
    """
    conn, resp = client.open("GET", path, {**query, "watch": "true"}, accept=TABLE_ACCEPT,
                             timeout=None)
    shown: list[int] | None = None
    try:
        if resp.status >= 400:
            raise ApiError(resp.status, _status_of(resp.read(), resp.status))
        while True:
            line = resp.readline()
            if not line:
                return
            if not line.strip():
                continue
            event = json.loads(line)
            obj = event.get("object") or {}
            if event.get("type") == "ERROR":
                raise ApiError(int(obj.get("code") or 500), obj)
            if event.get("type") == "BOOKMARK":
                continue
            if obj.get("kind") != "Table":
                click.echo(str((obj.get("metadata") or {}).get("name", "")))
                continue
            if obj.get("columnDefinitions") or shown is None:
                _, shown = table_headers(obj, wide)
            rows = table_rows(obj, shown, namespace_column, labels_column)
            for text in format_columns(rows, widths=widths):
                click.echo(text)
    except KeyboardInterrupt:
        return
    finally:
        conn.close()


def _status_of(raw: bytes, code: int) -> dict[str, Any]:
    try:
        status = json.loads(raw)
        if isinstance(status, dict):
            return status
    except ValueError:
        pass
    return {"code": code, "message": raw.decode(errors="replace").strip()}
