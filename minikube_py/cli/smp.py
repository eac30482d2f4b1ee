"""The three-way strategic merge patch that ``kubectl apply`` computes on the client.

``kubectl apply`` (client-side) remembers what you applied last time in the annotation
``kubectl.kubernetes.io/last-applied-configuration``. On the next apply it compares three
versions of the object:

* *original* — the last applied configuration (from the annotation),
* *modified* — the manifest you are applying now (with the new annotation),
* *current*  — the live object, including everything the server and controllers added.

The patch holds (1) every field of *modified* that differs from *current* (your change wins,
"overwrite"), and (2) a ``null`` for every field that was in *original* but is no longer in
*modified* (you deleted it from the file). Fields that only the server set (``status``,
``uid``, a ``replicas`` changed by ``kubectl scale`` and absent from your file) are left alone.

Lists are special ("strategic"): a list of containers is merged item by item by its *merge
key* (``name``), so the patch names items instead of replacing the list, and says
``{"$patch": "delete", "name": "sidecar"}`` to remove one and ``$setElementOrder/containers``
to keep their order. Fields with the ``retainKeys`` strategy (a Deployment's ``strategy``)
carry ``$retainKeys``: the keys to keep, so switching to ``Recreate`` drops ``rollingUpdate``.
See the patch kubectl sends with ``kubectl apply -f x.yaml -v=8``. Upstream code:
``k8s.io/apimachinery/pkg/util/strategicpatch`` (``CreateThreeWayMergePatch``).
"""

from __future__ import annotations

import copy
from typing import Any

Path = tuple[str, ...]

#: List fields merged item by item, by the field named here (upstream ``patchMergeKey``).
MERGE_KEYS: dict[str, str] = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "volumes": "name", "env": "name", "imagePullSecrets": "name", "volumeMounts": "mountPath",
    "volumeDevices": "devicePath", "hostAliases": "ip", "ownerReferences": "uid",
    "conditions": "type", "topologySpreadConstraints": "topologyKey",
    "resourceClaims": "name",
}
#: Lists of scalars merged as sets (upstream ``patchStrategy: merge`` on a []string).
MERGED_SCALAR_LISTS = {"finalizers"}
#: Fields whose patches say which keys to keep (upstream ``patchStrategy: retainKeys``).
RETAIN_KEYS_FIELDS = {("spec", "strategy"), ("spec", "updateStrategy")}


def merge_key(kind: str, path: Path) -> str | None:
    """The merge key of the list at ``path`` in a ``kind`` object, or None (atomic list)."""
    name = path[-1]
    if name == "ports":
        if len(path) >= 2 and path[-2] in ("containers", "initContainers",
                                             "ephemeralContainers"):
            return "containerPort"
        if kind == "Service" and path == ("spec", "ports"):
            return "port"
        return None
    if name == "conditions" and "status" not in path:
        return None
    return MERGE_KEYS.get(name)


def _retains_keys(path: Path) -> bool:
    """A Deployment's ``strategy`` and each item of ``volumes`` (its one volume source)."""
    return path[-2:] in RETAIN_KEYS_FIELDS or path[-1] == "volumes"


def _keyed(items: list[Any], key: str) -> dict[Any, dict[str, Any]]:
    return {item.get(key): item for item in items if isinstance(item, dict)}


def _diff_keyed_list(original: list[Any], modified: list[Any], kind: str, path: Path,
                     key: str, ignore_deletions: bool, ignore_changes: bool
                     ) -> tuple[list[Any], list[Any]]:
    """(patch items, $setElementOrder items) for a list merged by ``key``."""
    before = _keyed(original, key)
    patch: list[Any] = []
    for item in modified:
        if not isinstance(item, dict):
            continue
        old = before.get(item.get(key))
        if old is None:
            if not ignore_changes:
                patch.append(item)
            continue
        sub = diff_maps(old, item, kind, path, ignore_deletions, ignore_changes)
        if sub:
            patch.append({key: item.get(key), **sub})
    if not ignore_deletions:
        after = _keyed(modified, key)
        patch += [{key: k, "$patch": "delete"} for k in before if k not in after]
    order = [{key: item.get(key)} for item in modified if isinstance(item, dict)]
    return patch, order if patch else []


def _diff_list(patch: dict[str, Any], name: str, old: list[Any], new: list[Any], kind: str,
               path: Path, ignore_deletions: bool, ignore_changes: bool) -> None:
    key = merge_key(kind, path)
    if key is not None:
        items, order = _diff_keyed_list(old, new, kind, path, key, ignore_deletions,
                                        ignore_changes)
        if items:
            patch[name] = items
        if order:
            patch[f"$setElementOrder/{name}"] = order
    elif name in MERGED_SCALAR_LISTS:
        added = [v for v in new if v not in old]
        removed = [v for v in old if v not in new]
        if added and not ignore_changes:
            patch[name] = added
        if removed and not ignore_deletions:
            patch[f"$deleteFromPrimitiveList/{name}"] = removed
        if (added and not ignore_changes) or (removed and not ignore_deletions):
            patch[f"$setElementOrder/{name}"] = list(new)
    elif old != new and not ignore_changes:
        patch[name] = new


def diff_maps(original: dict[str, Any], modified: dict[str, Any], kind: str, path: Path = (),
              ignore_deletions: bool = False, ignore_changes: bool = False) -> dict[str, Any]:
    """The strategic patch turning ``original`` into ``modified`` (one direction only when
    ``ignore_deletions`` / ``ignore_changes`` says so)."""
    patch: dict[str, Any] = {}
    for name, new in modified.items():
        sub_path = (*path, name)
        if name not in original:
            if not ignore_changes:
                patch[name] = new
            continue
        old = original[name]
        if isinstance(old, dict) and isinstance(new, dict):
            sub = diff_maps(old, new, kind, sub_path, ignore_deletions, ignore_changes)
            if sub:
                patch[name] = sub
        elif isinstance(old, list) and isinstance(new, list):
            _diff_list(patch, name, old, new, kind, sub_path, ignore_deletions, ignore_changes)
        elif old != new and not ignore_changes:
            patch[name] = new
    if not ignore_deletions:
        for name in original:
            if name not in modified:
                patch[name] = None
    if path and _retains_keys(path):
        dropped = any(k not in modified for k in original)
        if patch or dropped:
            patch["$retainKeys"] = sorted(k for k, v in modified.items() if v is not None)
    return patch


def merge_patches(first: Any, second: Any, kind: str, path: Path = ()) -> Any:
    """Combine two patches (the deletions and the changes); ``second`` wins on conflicts."""
    if isinstance(first, dict) and isinstance(second, dict):
        out = dict(first)
        for name, value in second.items():
            if name in out:
                out[name] = merge_patches(out[name], value, kind, (*path, name))
            else:
                out[name] = value
        return out
    key = merge_key(kind, path) if path else None
    if key and isinstance(first, list) and isinstance(second, list):
        out_list = [copy.deepcopy(i) for i in first]
        index = {i.get(key): n for n, i in enumerate(out_list) if isinstance(i, dict)}
        for item in second:
            n = index.get(item.get(key)) if isinstance(item, dict) else None
            if n is None:
                out_list.append(item)
            else:
                out_list[n] = merge_patches(out_list[n], item, kind, path)
        return out_list
    return second


def three_way_patch(original: dict[str, Any] | None, modified: dict[str, Any],
                    current: dict[str, Any], kind: str) -> dict[str, Any]:
    """kubectl's ``CreateThreeWayMergePatch`` with overwrite: ``{}`` means unchanged."""
    delta = diff_maps(current, modified, kind, ignore_deletions=True)
    deletions = diff_maps(original or {}, modified, kind, ignore_changes=True)
    merged: dict[str, Any] = merge_patches(deletions, delta, kind)
    return merged
