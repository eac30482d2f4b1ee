"""REST handlers: get, list, create, update (PUT), patch and delete of any resource.

The API server is the only component that reads and writes the store (etcd upstream, SQLite
here). Each request is one of these verbs on a path from the resource table::

    GET    /api/v1/namespaces/default/pods            list (also as a Table for kubectl get)
    POST   /api/v1/namespaces/default/pods            create -> 201
    GET    /api/v1/namespaces/default/pods/nginx      get
    PUT    /api/v1/namespaces/default/pods/nginx      update (409 if resourceVersion is stale)
    PATCH  /api/v1/namespaces/default/pods/nginx      merge / json / strategic / apply patch
    DELETE /api/v1/namespaces/default/pods/nginx      delete (maybe graceful, maybe finalized)

``metadata.resourceVersion`` is the store revision that last wrote the object: an update that
names an older one loses (optimistic concurrency, the same idea as etcd's compare-and-swap).
Watch it happen with ``kubectl get pod x -o jsonpath='{.metadata.resourceVersion}'`` before
and after a ``kubectl label pod x a=b``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from minikube_py.api import protobuf
from minikube_py.api.fields import FieldPath, not_supported
from minikube_py.api.resources import Resource, find_resource
from minikube_py.apiserver import patch as patching
from minikube_py.apiserver import registry, selectors, tables
from minikube_py.apiserver import status as st
from minikube_py.apiserver.registry import Target
from minikube_py.apiserver.storage import (
    SERVICES,
    STORE,
    UPDATE_RETRIES,
    as_object,
    call,
    for_storage,
    guaranteed_update,
    read,
    service_guard,
    write,
)
from minikube_py.errors import ValidationError
from minikube_py.store.backend import Conflict, KeyExists, KeyNotFound

PATCH_TYPES = {
    "application/merge-patch+json": "merge",
    "application/json-patch+json": "json",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
}
NAMESPACES = find_resource("", "namespaces")
PROPAGATION_POLICIES = ["Foreground", "Background", "Orphan"]

# What the application object carries (``request.app[STORE]``).
HTTP: web.AppKey[aiohttp.ClientSession] = web.AppKey("http")
NODE_PROXY: web.AppKey[Any] = web.AppKey("node_proxy")
KUBELET_TOKEN: web.AppKey[str | None] = web.AppKey("kubelet_token")
VERSION: web.AppKey[str] = web.AppKey("version")
WATCHES: web.AppKey[set[Any]] = web.AppKey("watches")


# -- request helpers ----------------------------------------------------------------------
def content_kind(request: web.Request) -> str:
    return request.headers.get("Content-Type", "application/json").split(";")[0].strip().lower()


async def read_body(request: web.Request, allow_yaml: bool = True) -> Any:
    """Decode the request body: JSON (also when Content-Type is missing), YAML, or the
    protobuf kubectl's generators send (``minikube_py.api.protobuf``)."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as e:  # over the app's client_max_size
        raise st.StatusError(413, "RequestEntityTooLarge",
                             f"Request entity too large: {e.text}") from None
    kind = content_kind(request)
    if not raw:
        return None
    if kind == protobuf.CONTENT_TYPE:  # kubectl create deployment|namespace|configmap...
        try:
            return protobuf.decode_object(raw)
        except protobuf.ProtobufError as e:
            raise st.StatusError(415, "UnsupportedMediaType", f"the body of the request could "
                                 f"not be decoded as protobuf: {e}") from e
    try:
        if kind.endswith("json") or kind in ("", "*/*"):
            return json.loads(raw)
        if allow_yaml and kind.endswith("yaml"):
            return yaml.safe_load(raw)
    except (ValueError, RecursionError, yaml.YAMLError) as e:  # RecursionError: too deep
        raise st.bad_request(f"the body of the request could not be decoded: {e}") from e
    raise st.unsupported_media_type(kind)


def wants_table(request: web.Request) -> bool:
    return "as=Table" in request.headers.get("Accept", "")


def warning_headers(warnings: list[str]) -> list[tuple[str, str]]:
    """``Warning: 299 - "..."`` headers: kubectl prints each as ``Warning: ...``."""
    out = []
    for text in warnings:
        quoted = text.replace("\\", "\\\\").replace('"', '\\"')
        out.append(("Warning", f'299 - "{quoted}"'))
    return out


def respond(obj: Any, code: int = 200, warnings: list[str] | None = None) -> web.Response:
    return st.json_response(obj, code, warning_headers(warnings or []))


async def check_namespace(request: web.Request, target: Target, name: str) -> None:
    """A namespaced object needs an existing namespace that is not being deleted."""
    if not target.resource.namespaced or NAMESPACES is None:
        return
    ns = str(target.namespace)
    kv = await call(request, request.app[STORE].get, NAMESPACES.storage_key(None, ns))
    if kv is None:
        raise st.namespace_not_found(ns)
    if (kv.value.get("status") or {}).get("phase") == "Terminating":
        raise st.forbidden(target.resource, name, f"unable to create new content in namespace "
                           f"{ns} because it is being terminated")


# -- verbs --------------------------------------------------------------------------------
async def get_object(request: web.Request, target: Target) -> web.Response:
    obj, revision = await read(request, target)
    if wants_table(request):
        return respond(make_table(request, target.resource, [obj], str(revision)))
    return respond(obj)


def make_table(request: web.Request, resource: Resource, objects: list[dict[str, Any]],
               revision: str) -> dict[str, Any]:
    include = request.query.get("includeObject", "Metadata")
    return tables.table(resource, objects, include_object=include, resource_version=revision)


def selector_filter(request: web.Request, resource: Resource
                    ) -> Callable[[dict[str, Any]], bool]:
    """``labelSelector`` and ``fieldSelector`` as one predicate (400 if unparsable)."""
    label_text = request.query.get("labelSelector", "")
    field_text = request.query.get("fieldSelector", "")
    if not label_text and not field_text:
        return lambda obj: True
    try:
        labels = selectors.parse_label_selector(label_text) if label_text else None
        fields = selectors.parse_field_selector(field_text, resource.kind) if field_text \
            else None
    except selectors.SelectorError as e:  # names the bad part
        raise st.bad_request(str(e)) from e

    def matches(obj: dict[str, Any]) -> bool:
        if labels is not None and not labels.matches(registry.meta_of(obj).get("labels") or {}):
            return False
        return fields is None or fields.matches(obj)

    return matches


async def list_objects(request: web.Request, target: Target) -> web.Response:
    matches = selector_filter(request, target.resource)
    kvs, revision = await call(request, request.app[STORE].list, target.prefix)
    # Select first, then copy: selectors never look at resourceVersion.
    items = [as_object(kv.value, kv.mod_revision) for kv in kvs if matches(kv.value)]
    if wants_table(request):
        return respond(make_table(request, target.resource, items, str(revision)))
    resource = target.resource
    return respond({"kind": f"{resource.kind}List", "apiVersion": resource.group_version,
                    "metadata": {"resourceVersion": str(revision)}, "items": items})


async def create_object(request: web.Request, target: Target) -> web.Response:
    body = registry.check_type_meta(target.resource, await read_body(request), target.namespace)
    obj, warnings = await create_from(request, target, body)
    return respond(obj, 201, warnings)


async def create_from(request: web.Request, target: Target, body: dict[str, Any]
                      ) -> tuple[dict[str, Any], list[str]]:
    """Field validation, strategy, namespace check, store create (409 if it exists)."""
    warnings = registry.field_validation(body, request.query.get("fieldValidation"))
    obj = registry.prepare_create(target.resource, body)
    meta = registry.meta_of(obj)
    name = str(meta.get("name"))
    if target.resource.namespaced:
        target = Target(target.resource, str(meta.get("namespace") or target.namespace), name)
    else:
        target = Target(target.resource, None, name)
    await check_namespace(request, target, name)
    async with service_guard(request, target):
        if SERVICES in request.app:
            obj = registry.allocate_service(request.app[SERVICES], target.key, obj)
        if request.query.get("dryRun"):
            return obj, warnings
        try:
            revision = await call(request, request.app[STORE].create, target.key,
                                  for_storage(obj))
        except KeyExists:
            raise st.already_exists(target.resource, name) from None
    return as_object(obj, revision), warnings


async def update_object(request: web.Request, target: Target) -> web.Response:
    body = registry.check_type_meta(target.resource, await read_body(request), target.namespace)
    warnings = registry.field_validation(body, request.query.get("fieldValidation"))
    required = registry.meta_of(body).get("resourceVersion") or None

    def mutate(current: dict[str, Any]) -> dict[str, Any]:
        return registry.prepare_update(target.resource, copy.deepcopy(body), current)

    return respond(await guaranteed_update(request, target, mutate, required), 200, warnings)


def apply_patch_body(patch_type: str, current: dict[str, Any] | None, body: Any,
                     kind: str) -> dict[str, Any]:
    """The patched object; PatchError is a 422 like upstream's."""
    try:
        if patch_type == "merge":
            result = patching.json_merge_patch(current, body)
        elif patch_type == "json":
            result = patching.json_patch(current, body)
        elif patch_type == "strategic":
            result = patching.strategic_merge_patch(current or {}, body, kind)
        else:
            result = patching.apply_patch(current, body)
    except patching.PatchError as e:
        raise st.StatusError(422, "Invalid", str(e)) from e
    if not isinstance(result, dict):
        raise st.bad_request("the patch did not produce an object")
    return result


def patch_kind(request: web.Request) -> str:
    kind = PATCH_TYPES.get(content_kind(request))
    if kind is None:
        raise st.unsupported_media_type(content_kind(request))
    return kind


async def patch_object(request: web.Request, target: Target) -> web.Response:
    patch_type = patch_kind(request)
    body = await read_body(request)
    if patch_type == "json" and not isinstance(body, list):
        raise st.bad_request("a JSON patch must be a list of operations")
    if patch_type != "json" and not isinstance(body, dict):
        raise st.bad_request("the patch must be a JSON object")
    warnings: list[str] = []
    if patch_type == "apply":
        current = await call(request, request.app[STORE].get, target.key)
        if current is None:  # server-side apply creates
            obj = apply_patch_body("apply", None, body, target.resource.kind)
            obj = registry.check_type_meta(target.resource, obj, target.namespace)
            registry.meta_of(obj).setdefault("name", target.name)
            created, warnings = await create_from(request, target, obj)
            return respond(created, 201, warnings)
    required = body.get("metadata", {}).get("resourceVersion") if isinstance(body, dict) \
        else None

    def mutate(current: dict[str, Any]) -> dict[str, Any]:
        patched = apply_patch_body(patch_type, current, copy.deepcopy(body),
                                   target.resource.kind)
        patched = registry.check_type_meta(target.resource, patched, target.namespace)
        warnings[:] = registry.field_validation(patched, request.query.get("fieldValidation"))
        return registry.prepare_update(target.resource, patched, current)

    return respond(await guaranteed_update(request, target, mutate, required), 200, warnings)


async def delete_options(request: web.Request) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if request.can_read_body:  # an undecodable body is a 400, not "no options"
        body = await read_body(request)
        if isinstance(body, dict):
            options.update(body)
    for key in ("gracePeriodSeconds", "propagationPolicy", "orphanDependents"):
        if key in request.query:
            options[key] = request.query[key]
    if isinstance(options.get("orphanDependents"), str):
        options["orphanDependents"] = options["orphanDependents"] == "true"
    if options.get("gracePeriodSeconds") is not None:
        try:
            options["gracePeriodSeconds"] = int(options["gracePeriodSeconds"])
        except (TypeError, ValueError):
            raise st.bad_request("gracePeriodSeconds must be an integer") from None
    policy = options.get("propagationPolicy")
    if policy is not None and policy not in PROPAGATION_POLICIES:
        error = not_supported(FieldPath("propagationPolicy"), policy, PROPAGATION_POLICIES)
        raise st.invalid(ValidationError("DeleteOptions", "", [error], "meta.k8s.io"))
    return options


async def delete_object(request: web.Request, target: Target) -> web.Response:
    """Delete, or mark for deletion (graceful pods, finalizers, namespaces)."""
    options = await delete_options(request)
    name = str(target.name)
    if target.resource.kind == "Namespace" and name in registry.SYSTEM_NAMESPACES[:3]:
        raise st.forbidden(target.resource, name, "this namespace may not be deleted")
    async with service_guard(request, target):
        return respond(await _delete(request, target, options))


async def delete_collection(request: web.Request, target: Target) -> web.Response:
    """``deletecollection``: every object of the collection that ``labelSelector`` and
    ``fieldSelector`` match, each deleted as its own DELETE would (graceful pods and
    finalizers included); the list of what was deleted or marked. Namespaces refuse it, as
    upstream's do."""
    if target.resource.kind == "Namespace":
        raise st.method_not_allowed("DELETE")
    options = await delete_options(request)
    matches = selector_filter(request, target.resource)
    kvs, revision = await call(request, request.app[STORE].list, target.prefix)
    items = []
    for kv in kvs:
        if not matches(kv.value):
            continue
        meta = registry.meta_of(kv.value)
        one = Target(target.resource, meta.get("namespace"), meta["name"])
        try:
            async with service_guard(request, one):
                items.append(await _delete(request, one, options))
        except st.StatusError as e:
            if e.code != 404:  # gone meanwhile: nothing to do
                raise
    resource = target.resource
    return respond({"kind": f"{resource.kind}List", "apiVersion": resource.group_version,
                    "metadata": {"resourceVersion": str(revision)}, "items": items})


async def _delete(request: web.Request, target: Target, options: dict[str, Any]
                  ) -> dict[str, Any]:
    """Delete one object, or mark it; what the API answers (the object as it was, or now)."""
    name = str(target.name)
    store = request.app[STORE]
    for _ in range(UPDATE_RETRIES):
        current, revision = await read(request, target)
        registry.check_preconditions(target.resource, current, options, revision)
        if options.get("propagationPolicy") == "Orphan" or options.get("orphanDependents"):
            from minikube_py.apiserver import subresources

            await subresources.orphan_dependents(request, current)
        if target.resource.kind == "Namespace":
            marked = await namespace_delete(request, current)
        else:
            marked = registry.plan_delete(target.resource, current, options)
        try:
            if marked is None:
                _, gone_at = await call(request, store.delete, target.key, revision)
                return as_object(current, gone_at)
            if marked == current:
                return current
            written: dict[str, Any] = await write(request, target, marked, revision)
            return written
        except Conflict:
            continue
        except KeyNotFound:
            raise st.not_found(target.resource, name) from None
    raise st.conflict(target.resource, name)


async def namespace_delete(request: web.Request, ns: dict[str, Any]) -> dict[str, Any] | None:
    """First DELETE: phase Terminating (the namespace controller empties it). A DELETE of a
    Terminating namespace that is empty and has no finalizers left removes it."""
    meta = registry.meta_of(ns)
    if (ns.get("status") or {}).get("phase") != "Terminating":
        marked = copy.deepcopy(ns)
        registry.meta_of(marked)["deletionTimestamp"] = registry.now_rfc3339()
        marked.setdefault("status", {})["phase"] = "Terminating"
        return marked
    if meta.get("finalizers") or not await namespace_empty(request, str(meta.get("name"))):
        return ns
    return None


async def namespace_empty(request: web.Request, namespace: str) -> bool:
    from minikube_py.api.resources import RESOURCES

    for resource in RESOURCES:
        if resource.namespaced:
            kvs, _ = await call(request, request.app[STORE].list,
                                resource.storage_key(namespace))
            if kvs:
                return False
    return True
