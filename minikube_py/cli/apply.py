"""``apply -f``: create what is missing, patch what changed, leave the rest alone.

Client-side apply, as ``kubectl apply`` does it, for each object of the manifests:

1. Build the *modified* object: the manifest plus the annotation
   ``kubectl.kubernetes.io/last-applied-configuration`` holding the manifest itself as JSON.
2. ``GET`` the live object. Missing -> ``POST`` the modified object: ``created``.
3. Present -> compute the three-way strategic merge patch (:mod:`.smp`) from the last applied
   configuration (in the live object's annotation), the modified object and the live object.
   Empty -> nothing is sent: ``unchanged``. Otherwise ``PATCH`` it as
   ``application/strategic-merge-patch+json``: ``configured``.

The server may answer with ``Warning`` headers (``299 - "unknown field \\"spec.ports[0].type\\""``
when a manifest has a field the kind does not know); they are printed as ``Warning: ...``,
with a hint saying where the field belongs. One failing object does not stop the others.
See the requests with ``kubectl apply -f x.yaml -v=8``; read the annotation with
``kubectl get deploy web -o jsonpath='{.metadata.annotations}'``.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any

from minikube_py.api import where_field_belongs
from minikube_py.api.resources import Resource, resource_for
from minikube_py.cli.smp import three_way_patch
from minikube_py.client import ApiError, Client
from minikube_py.errors import MinikubeError

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
FIELD_MANAGER = "kubectl-client-side-apply"
_WARNING = re.compile(r'^\s*\d{3}\s+\S+\s+"((?:[^"\\]|\\.)*)"')
_UNKNOWN = re.compile(r'unknown field "([^"]+)"')


@dataclass
class Outcome:
    """What happened to one object: ``deployment.apps/web configured`` and any warnings."""

    ref: str
    action: str = ""
    warnings: list[str] = field(default_factory=list)
    error: str = ""


def qualified_kind(resource: Resource) -> str:
    """kubectl's name for a kind: ``pod``, ``service``, ``deployment.apps``."""
    kind = resource.kind.lower()
    return f"{kind}.{resource.group}" if resource.group else kind


def server_error(e: ApiError, what: str = "") -> str:
    """``Error from server (NotFound): pods "x" not found``, like kubectl."""
    reason = e.reason or {400: "BadRequest", 404: "NotFound", 409: "Conflict",
                          422: "Invalid"}.get(e.code, "InternalError")
    return f"Error from server ({reason}): {what}{e}"


def parse_warning(header: str) -> str:
    """``299 - "unknown field \\"x\\""`` -> ``unknown field "x"`` (RFC 7234 warn-text)."""
    m = _WARNING.match(header)
    if not m:
        return header.strip()
    return re.sub(r"\\(.)", r"\1", m.group(1))


def with_hints(messages: list[str], kind: str) -> list[str]:
    """Each unknown-field message, followed by where that field belongs (when we know)."""
    out: list[str] = []
    for message in messages:
        out.append(message)
        for path in _UNKNOWN.findall(message):
            hint = where_field_belongs(path, kind)
            if hint and not any(hint in m for m in messages):  # the server may say it too
                out.append(f"{path}: {hint}")
    return out


def call(client: Client, method: str, path: str, query: dict[str, Any] | None = None,
         body: Any = None, content_type: str = "application/json") -> tuple[Any, list[str]]:
    """One request: the decoded answer and the server's warnings (ApiError on failure)."""
    conn, resp = client.open(method, path, query, body, content_type)
    try:
        raw = resp.read()
    finally:
        conn.close()
    warnings = [parse_warning(h) for k, h in resp.getheaders() if k.lower() == "warning"]
    decoded: Any = None
    if raw:
        try:
            decoded = json.loads(raw)
        except ValueError:
            decoded = {"message": raw.decode(errors="replace").strip()}
    if resp.status >= 400:
        status = decoded if isinstance(decoded, dict) else {}
        status.setdefault("message", resp.reason)
        raise ApiError(resp.status, status)
    return decoded, warnings


def modified_configuration(obj: dict[str, Any]) -> dict[str, Any]:
    """The object to send: ``obj`` with the last-applied annotation set to ``obj`` itself."""
    modified = copy.deepcopy(obj)
    meta = modified.setdefault("metadata", {})
    annotations = dict(meta.get("annotations") or {})
    annotations.pop(LAST_APPLIED, None)
    meta["annotations"] = annotations
    text = json.dumps(modified, sort_keys=True, separators=(",", ":")) + "\n"
    meta["annotations"] = {**annotations, LAST_APPLIED: text}
    return modified


def original_configuration(live: dict[str, Any]) -> dict[str, Any] | None:
    text = ((live.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    if not text:
        return None
    try:
        original: dict[str, Any] = json.loads(text)
        return original
    except ValueError:
        return None


def resource_of(obj: dict[str, Any]) -> Resource:
    resource = resource_for(str(obj.get("apiVersion")), str(obj.get("kind")))
    if resource is None:
        raise MinikubeError(f'resource mapping not found for kind "{obj.get("kind")}" in '
                            f'version "{obj.get("apiVersion")}": ensure the kind is served')
    return resource


def apply_object(client: Client, obj: dict[str, Any], namespace: str, source: str,
                 validation: str = "Warn") -> Outcome:
    """Create or patch one object; never raises for server errors (see ``Outcome.error``)."""
    resource = resource_of(obj)
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        odd = [k for k in obj if k != k.strip() or "\xa0" in k]
        hint = (f" (the key {odd[0]!r} holds a non-breaking space: indent with plain "
                f"spaces)") if odd else ""
        raise MinikubeError(f'error when retrieving current configuration of "{source}": '
                            f"resource name may not be empty{hint}")
    name = str(meta["name"])
    if resource.namespaced:
        meta.setdefault("namespace", namespace)
    ns = meta.get("namespace") if resource.namespaced else None
    outcome = Outcome(ref=f"{qualified_kind(resource)}/{name}")
    query = {"fieldManager": FIELD_MANAGER, "fieldValidation": validation}
    modified = modified_configuration(obj)
    verb = "creating"
    try:
        live = client.find(resource, name, ns)
        if live is None:
            _, warnings = call(client, "POST", resource.path(ns), query, modified)
            outcome.action = "created"
        else:
            verb = "patching"
            patch = three_way_patch(original_configuration(live), modified, live,
                                    resource.kind)
            if not patch:
                outcome.action = "unchanged"
                return outcome
            _, warnings = call(client, "PATCH", resource.path(ns, name), query, patch,
                               "application/strategic-merge-patch+json")
            outcome.action = "configured"
        outcome.warnings = with_hints(warnings, resource.kind)
    except ApiError as e:
        outcome.error = "\n".join(with_hints(
            [server_error(e, f'error when {verb} "{source}": ')], resource.kind))
    return outcome
