"""PATCH: the four ways a client can change part of an object.

``kubectl`` rarely sends a whole object back. It sends a *patch*, and the ``Content-Type``
says which language the patch is written in:

- ``application/merge-patch+json`` — JSON Merge Patch (RFC 7386): maps merge, ``null``
  deletes, anything else (lists too) replaces. ``kubectl scale`` sends
  ``{"spec":{"replicas":3}}`` this way.
- ``application/json-patch+json`` — JSON Patch (RFC 6902): a list of operations
  (``add``, ``remove``, ``replace``, ``move``, ``copy``, ``test``) on JSON pointers.
  ``kubectl rollout undo`` sends ``replace /spec/template`` and
  ``replace /metadata/annotations``.
- ``application/strategic-merge-patch+json`` — Kubernetes' own dialect: like a merge
  patch, but lists of objects merge *by key* (containers by ``name``, container ports by
  ``containerPort``), and ``$``-directives say what plain JSON cannot: ``$patch: delete``
  removes a list item, ``$setElementOrder/containers`` fixes the order, ``$retainKeys``
  clears the keys it does not list, ``$deleteFromPrimitiveList/finalizers`` removes
  strings. ``kubectl apply`` computes one of these (see it with ``kubectl apply -v=8``).
- ``application/apply-patch+yaml`` — server-side apply (``kubectl apply --server-side``).

Where the merge keys come from: upstream reads Go struct tags
(``patchStrategy:"merge" patchMergeKey:"name"`` in ``k8s.io/api/core/v1/types.go``); we keep
the same facts in the small ``_SCHEMAS`` table of :mod:`.patch_strategic` (where the
strategic merge patch and server-side apply live), for the kinds we serve. Unknown kinds
get no list keys: their lists are replaced whole.

Two deliberate differences from upstream, both to keep stored JSON clean: a value that is
new to the object is merged into an empty value, so directives and ``null`` s inside it are
applied rather than stored; ``$patch: merge`` on a map is accepted as the default.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

# The strategic dialect lives in its own module; PatchError is shared by all four.
from minikube_py.apiserver.patch_strategic import PatchError, apply_patch, strategic_merge_patch

__all__ = ["PatchError", "json_merge_patch", "json_patch", "strategic_merge_patch",
           "apply_patch"]


# --------------------------------------------------------------------------- RFC 7386


def json_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, ``null`` deletes, any other value replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge_patch(result.get(key), value)
    return result


# --------------------------------------------------------------------------- RFC 6902


def json_patch(target: Any, ops: list[dict[str, Any]]) -> Any:
    """RFC 6902: apply ``ops`` in order to a copy of ``target``; all or nothing."""
    if not isinstance(ops, list):
        raise PatchError("failed to apply JSON patch: the patch must be a list of operations")
    doc = copy.deepcopy(target)
    for index, op in enumerate(ops):
        name = op.get("op") if isinstance(op, dict) else None
        path = op.get("path") if isinstance(op, dict) else None
        try:
            doc = _apply_op(doc, op)
        except (KeyError, IndexError, ValueError, TypeError) as e:
            cause = e.args[0] if e.args else str(e)
            raise PatchError(f"failed to apply JSON patch operation {index} ({name} {path}):"
                             f" {cause}") from e
    return doc


def _apply_op(doc: Any, op: Any) -> Any:
    if not isinstance(op, dict):
        raise ValueError("an operation must be an object")
    name, path = op.get("op"), op.get("path")
    if name not in ("add", "remove", "replace", "move", "copy", "test"):
        raise ValueError(f"unknown operation {name!r}")
    if not isinstance(path, str):
        raise ValueError('missing "path"')
    tokens = _pointer(path)
    if name in ("add", "replace", "test") and "value" not in op:
        raise ValueError('missing "value"')
    if name == "add":
        return _add(doc, tokens, copy.deepcopy(op["value"]))
    if name == "remove":
        _remove(doc, tokens)
        return doc
    if name == "replace":
        _get(doc, tokens)  # the target must exist (RFC 6902 4.3)
        return _add(_remove(doc, tokens) if tokens else doc, tokens,
                    copy.deepcopy(op["value"]))
    if name == "test":
        if not _json_equal(_get(doc, tokens), op["value"]):
            raise ValueError(f"test failed: value at {path} is not {json.dumps(op['value'])}")
        return doc
    source = op.get("from")
    if not isinstance(source, str):
        raise ValueError('missing "from"')
    from_tokens = _pointer(source)
    value = copy.deepcopy(_get(doc, from_tokens))
    if name == "move":
        if path != source and path.startswith(source + "/"):
            raise ValueError(f"cannot move {source} into its own child {path}")
        if not from_tokens:
            return value
        _remove(doc, from_tokens)
    return _add(doc, tokens, value)


def _pointer(path: str) -> list[str]:
    """``/metadata/annotations/a~1b`` -> ``["metadata", "annotations", "a/b"]`` (RFC 6901)."""
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError(f"JSON pointer {path!r} must be empty or start with '/'")
    if re.search(r"~(?![01])", path):
        raise ValueError(f"JSON pointer {path!r} has a bad escape: only ~0 and ~1 exist")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _index(token: str, size: int, *, end_ok: bool) -> int:
    if end_ok and token == "-":
        return size
    if not re.fullmatch(r"0|[1-9][0-9]*", token):
        raise ValueError(f"bad array index {token!r}")
    i = int(token)
    if i > size or (i == size and not end_ok):
        raise IndexError(f"array index {i} is out of range (length {size})")
    return i


def _get(doc: Any, tokens: list[str]) -> Any:
    for depth, token in enumerate(tokens):
        where = "/" + "/".join(tokens[:depth + 1])
        if isinstance(doc, dict):
            if token not in doc:
                raise KeyError(f"doc is missing key: {where}")
            doc = doc[token]
        elif isinstance(doc, list):
            doc = doc[_index(token, len(doc), end_ok=False)]
        else:
            raise KeyError(f"doc is missing path: {where}")
    return doc


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent = _get(doc, tokens[:-1])
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(last, len(parent), end_ok=True), value)
    else:
        raise KeyError(f"doc is missing path: /{'/'.join(tokens)}")
    return doc


def _remove(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        raise ValueError("cannot remove the whole document")
    parent = _get(doc, tokens[:-1])
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise KeyError(f"doc is missing key: /{'/'.join(tokens)}")
        del parent[last]
    elif isinstance(parent, list):
        del parent[_index(last, len(parent), end_ok=False)]
    else:
        raise KeyError(f"doc is missing path: /{'/'.join(tokens)}")
    return doc


def _json_equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true != 1; objects unordered, arrays ordered."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b
