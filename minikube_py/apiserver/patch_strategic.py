"""Strategic merge patch: Kubernetes' own patch dialect, and server-side apply on top of it.

A JSON merge patch replaces lists whole, which is wrong for most Kubernetes lists: a patch
that sets one container's image must not drop the other containers. A *strategic* merge
patch (``Content-Type: application/strategic-merge-patch+json``, what ``kubectl apply`` and
``kubectl edit`` send) merges lists of objects **by key**: containers by ``name``, ports by
``containerPort``, conditions by ``type``. Directives say the rest:

    {"$patch": "delete", "name": "sidecar"}            remove one list item
    "$setElementOrder/containers": [{"name": "a"}...]  the order of the merged list
    "$retainKeys": ["type"]                            clear the keys not listed
    "$deleteFromPrimitiveList/finalizers": ["x"]       remove strings from a list

Which lists merge and by what key is upstream's ``patchStrategy`` / ``patchMergeKey`` Go
struct tags (``k8s.io/api/core/v1/types.go``); here it is the ``_SCHEMAS`` table, for the
kinds we serve. Unknown kinds get no list keys: their lists are replaced whole. See what
kubectl sends with ``kubectl apply -f x.yml -v=8``. The other patch types are in
:mod:`.patch`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from minikube_py.errors import MinikubeError

__all__ = ["PatchError", "strategic_merge_patch", "apply_patch"]

_ORDER = "$setElementOrder/"
_DELETE_FROM = "$deleteFromPrimitiveList/"


class PatchError(MinikubeError):
    """A patch could not be applied; the message names the operation or field path."""


@dataclass(frozen=True)
class _Field:
    """Patch metadata of one field: ``merge`` lists merge by ``key`` (None for scalars)."""

    merge: bool = False
    key: str | None = None
    fields: Mapping[str, _Field] = field(default_factory=dict)


def _merge_by(key: str | None = None, fields: Mapping[str, _Field] | None = None) -> _Field:
    return _Field(True, key, fields or {})


def _map(fields: Mapping[str, _Field]) -> _Field:
    return _Field(fields=fields)


_META = {"finalizers": _merge_by(), "ownerReferences": _merge_by("uid")}
_CONTAINER = {"ports": _merge_by("containerPort"), "env": _merge_by("name"),
              "volumeMounts": _merge_by("mountPath"), "volumeDevices": _merge_by("devicePath")}
_POD_SPEC = {
    "containers": _merge_by("name", _CONTAINER),
    "initContainers": _merge_by("name", _CONTAINER),
    "ephemeralContainers": _merge_by("name", _CONTAINER),
    "volumes": _merge_by("name"), "imagePullSecrets": _merge_by("name"),
    "hostAliases": _merge_by("ip"), "schedulingGates": _merge_by("name"),
    "topologySpreadConstraints": _merge_by("topologyKey"), "resourceClaims": _merge_by("name"),
}  # tolerations, readinessGates: no strategy upstream -> replaced whole
_CONDITIONS = {"conditions": _merge_by("type")}
_WORKLOAD = {"metadata": _map(_META), "status": _map(_CONDITIONS),
             "spec": _map({"template": _map({"metadata": _map(_META),
                                             "spec": _map(_POD_SPEC)})})}
_SCHEMAS: dict[str, dict[str, _Field]] = {
    "Pod": {"metadata": _map(_META), "spec": _map(_POD_SPEC),
            "status": _map({**_CONDITIONS, "podIPs": _merge_by("ip"),
                            "hostIPs": _merge_by("ip")})},
    "Deployment": _WORKLOAD,
    "ReplicaSet": _WORKLOAD,
    "Service": {"metadata": _map(_META), "spec": _map({"ports": _merge_by("port")}),
                "status": _map(_CONDITIONS)},
    "Node": {"metadata": _map(_META), "spec": _map({"podCIDRs": _merge_by()}),
             "status": _map({**_CONDITIONS, "addresses": _merge_by("type")})},
    "Namespace": {"metadata": _map(_META), "status": _map(_CONDITIONS)},
}
_DEFAULT_SCHEMA = {"metadata": _map(_META)}
_PLAIN = _Field()


def strategic_merge_patch(target: dict[str, Any], patch: dict[str, Any],
                          kind: str) -> dict[str, Any]:
    """Apply a Kubernetes strategic merge patch to ``target`` (a ``kind`` object).

    Raises :class:`PatchError` naming the field path when the patch is malformed."""
    if not isinstance(target, dict) or not isinstance(patch, dict):
        raise PatchError("failed to apply strategic merge patch: the object and the patch "
                         "must both be JSON objects")
    schema = _SCHEMAS.get(kind, _DEFAULT_SCHEMA)
    return _merge_map(copy.deepcopy(target), copy.deepcopy(patch), schema, "")


def apply_patch(live: dict[str, Any] | None, applied: dict[str, Any]) -> dict[str, Any]:
    """Server-side apply, simplified: create when ``live`` is None, else merge over it.

    Real server-side apply records which *field manager* owns each field
    (``metadata.managedFields``), removes fields a manager stops applying, and reports
    conflicts between managers. We keep none of that: the applied manifest is merged over
    the live object with strategic-merge semantics, so a field deleted from the manifest
    stays on the object until it is removed some other way."""
    kind = str(applied.get("kind") or (live or {}).get("kind") or "")
    return strategic_merge_patch(live or {}, applied, kind)


def _fail(path: str, cause: str) -> PatchError:
    return PatchError(f"failed to apply strategic merge patch at {path or '<root>'}: {cause}")


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _merge_map(original: dict[str, Any], patch: dict[str, Any],
               schema: Mapping[str, _Field], path: str) -> dict[str, Any]:
    directive = patch.pop("$patch", None)
    if directive == "replace":
        return _merge_map({}, patch, schema, path)
    if directive == "delete":
        return {}
    if directive not in (None, "merge"):
        raise _fail(path, f"unknown patch type: {directive!r}")
    if "$retainKeys" in patch:
        original = _retain_keys(original, patch, path)
    for key in [k for k in patch if k.startswith(_ORDER)]:
        _set_element_order(original, patch, key, schema, path)
    for key, value in patch.items():
        if key.startswith(_DELETE_FROM):
            name = key[len(_DELETE_FROM):]
            if not isinstance(value, list):
                raise _fail(_child(path, key), "invalid patch format of primitive list")
            if isinstance(original.get(name), list):
                original[name] = [x for x in original[name] if x not in value]
            continue
        info = schema.get(key, _PLAIN)
        if value is None:
            original.pop(key, None)
        elif isinstance(value, dict) and isinstance(original.get(key), dict):
            original[key] = _merge_map(original[key], value, info.fields, _child(path, key))
        elif isinstance(value, list) and isinstance(original.get(key), list):
            original[key] = _merge_list(original[key], value, info, _child(path, key))
        else:  # new key, type change, or scalar: take the patch value, cleaned
            original[key] = _fresh(value, info, _child(path, key))
    return original


def _fresh(value: Any, info: _Field, path: str) -> Any:
    if isinstance(value, dict):
        return _merge_map({}, value, info.fields, path)
    if isinstance(value, list):
        return _merge_list([], value, info, path)
    return value


def _retain_keys(original: dict[str, Any], patch: dict[str, Any], path: str) -> dict[str, Any]:
    keep = patch.pop("$retainKeys")
    if not isinstance(keep, list):
        raise _fail(path, "invalid patch format of retainKeys")
    for key, value in patch.items():
        if value is not None and not key.startswith("$") and key not in keep:
            raise _fail(path, f"invalid patch format of retainKeys: {key!r} is not listed")
    return {k: v for k, v in original.items() if k in keep}


def _merge_list(original: list[Any], patch: list[Any], info: _Field, path: str) -> list[Any]:
    if not info.merge:
        return [_fresh(item, _map(info.fields), path) for item in patch]
    if not any(isinstance(x, dict) for x in original + patch):
        merged: list[Any] = []
        for x in original + patch:
            if x not in merged:
                merged.append(x)
        return _reorder(merged, patch, original, None)
    key = info.key
    if key is None:
        raise _fail(path, "cannot merge lists of objects without a merge key")
    items: list[dict[str, Any]] = []
    replace = False
    for item in patch:
        if not isinstance(item, dict):
            raise _fail(path, f"list item {item!r} is not an object")
        directive = item.get("$patch")
        if directive is None:
            items.append(item)
        elif directive == "delete":
            if key not in item:
                raise _fail(path, f"map: {item} does not contain declared merge key: {key}")
            original = [o for o in original if not _same(o, item, key)]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise _fail(path, "merging lists cannot yet be specified in the patch")
        else:
            raise _fail(path, f"unknown patch type: {directive!r}")
    if replace:  # {"$patch": "replace"} -> the other items are the whole list
        original, items = [_merge_map({}, i, info.fields, path) for i in items], []
    merged = list(original)
    for item in items:
        if key not in item:
            raise _fail(path, f"map: {item} does not contain declared merge key: {key}")
        where = next((i for i, o in enumerate(merged) if _same(o, item, key)), None)
        if where is None:
            merged.append(_merge_map({}, item, info.fields, f"{path}[{key}={item[key]}]"))
        else:
            merged[where] = _merge_map(merged[where], item, info.fields,
                                       f"{path}[{key}={item[key]}]")
    return _reorder(merged, items, original, key)


def _same(a: Any, b: dict[str, Any], key: str) -> bool:
    return isinstance(a, dict) and key in a and a[key] == b[key]


def _ident(item: Any, key: str | None) -> Any:
    if key is None:
        return json.dumps(item, sort_keys=True)
    return json.dumps(item.get(key) if isinstance(item, dict) else None, sort_keys=True)


def _reorder(merged: list[Any], order: list[Any], server_order: list[Any],
             key: str | None) -> list[Any]:
    """Upstream ``normalizeElementOrder``: items named in ``order`` keep that order, items
    only the server has keep theirs, and the two are interleaved by ``server_order``."""
    wanted = {_ident(x, key): i for i, x in reversed(list(enumerate(order)))}
    live = {_ident(x, key): i for i, x in reversed(list(enumerate(server_order)))}
    ours = sorted((x for x in merged if _ident(x, key) in wanted),
                  key=lambda x: wanted[_ident(x, key)])
    theirs = sorted((x for x in merged if _ident(x, key) not in wanted),
                    key=lambda x: live.get(_ident(x, key), len(live)))
    result: list[Any] = []
    while ours or theirs:
        if ours and theirs:
            a, b = live.get(_ident(theirs[0], key)), live.get(_ident(ours[0], key))
            take_theirs = a is not None and b is not None and a < b
        else:
            take_theirs = not ours
        result.append(theirs.pop(0) if take_theirs else ours.pop(0))
    return result


def _set_element_order(original: dict[str, Any], patch: dict[str, Any], directive: str,
                       schema: Mapping[str, _Field], path: str) -> None:
    order = patch.pop(directive)
    name = directive[len(_ORDER):]
    where = _child(path, directive)
    if not isinstance(order, list):
        raise _fail(where, "invalid patch format of setElementOrder list")
    info = schema.get(name, _PLAIN)
    live, change = original.get(name), patch.get(name)
    if (live is not None and not isinstance(live, list)) or (
            change is not None and not isinstance(change, list)):
        raise _fail(where, f"{name} is not a list")
    if change is not None:
        _check_order(change, order, info.key, where)
        merged = _merge_list(list(live or []), change, info, _child(path, name))
        del patch[name]
    elif live is not None and name not in patch:
        merged = live
    else:
        return
    original[name] = _reorder(merged, order, list(live or []), info.key)


def _check_order(change: list[Any], order: list[Any], key: str | None, where: str) -> None:
    """Items of the patch list must appear in ``$setElementOrder`` in the same order."""
    items = [x for x in change if not (isinstance(x, dict) and "$patch" in x)]
    wanted = [_ident(x, key) for x in order]
    pos = 0
    for item in items:
        ident = _ident(item, key)
        while pos < len(wanted) and wanted[pos] != ident:
            pos += 1
        if pos == len(wanted):
            raise _fail(where, f"the order in patch list {change} doesn't match "
                               f"$setElementOrder list {order}")
        pos += 1
