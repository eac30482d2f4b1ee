"""The API server over real HTTP on 127.0.0.1 with a temporary SQLite store: CRUD, errors,
field validation, deletion rules and subresources, driven with the project's Client."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from minikube_py.api.resources import must
from minikube_py.client import ApiError, Client

PODS, DEPLOY, SVC, NS, NODES = (must(n) for n in ("pods", "deploy", "svc", "ns", "nodes"))


def pod(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{"name": "web", "image": "nginx"}]}}


def deployment(name: str, replicas: int = 1) -> dict[str, Any]:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}}


def raw(api: Client, method: str, path: str, body: Any = None,
        headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(api.server + path, data=data, method=method,
                                 headers=headers or {})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, resp.headers, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read() or b"null")


def test_the_four_system_namespaces_exist_at_start(api: Client) -> None:
    names = [n["metadata"]["name"] for n in api.list(NS)["items"]]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]
    assert api.get(NS, "default")["status"]["phase"] == "Active"


def test_create_fills_uid_timestamps_generation_and_resource_version(api: Client) -> None:
    created = api.create(PODS, pod("web"), "default")
    meta = created["metadata"]
    assert len(meta["uid"]) == 36 and meta["creationTimestamp"].endswith("Z")
    assert meta["generation"] == 1 and int(meta["resourceVersion"]) > 0
    assert created["spec"]["restartPolicy"] == "Always"  # defaulted
    assert created["status"] == {"phase": "Pending"}
    assert api.get(PODS, "web", "default") == created


def test_generate_name_gets_a_five_character_suffix(api: Client) -> None:
    obj = pod("")
    obj["metadata"] = {"generateName": "web-"}
    name = api.create(PODS, obj, "default")["metadata"]["name"]
    assert name.startswith("web-") and len(name) == 9


def test_a_second_create_is_already_exists(api: Client) -> None:
    api.create(PODS, pod("web"), "default")
    with pytest.raises(ApiError) as e:
        api.create(PODS, pod("web"), "default")
    assert (e.value.code, e.value.reason) == (409, "AlreadyExists")
    assert str(e.value) == 'pods "web" already exists'


def test_missing_objects_and_namespaces_are_not_found(api: Client) -> None:
    with pytest.raises(ApiError) as e:
        api.get(DEPLOY, "nope", "default")
    assert e.value.code == 404 and str(e.value) == 'deployments.apps "nope" not found'
    with pytest.raises(ApiError) as e:
        api.create(PODS, pod("web"), "nowhere")
    assert e.value.code == 404 and str(e.value) == 'namespaces "nowhere" not found'


def test_invalid_objects_get_422_with_field_causes(api: Client) -> None:
    bad = pod("web")
    del bad["spec"]["containers"][0]["image"]
    with pytest.raises(ApiError) as e:
        api.create(PODS, bad, "default")
    assert (e.value.code, e.value.reason) == (422, "Invalid")
    fields = [c["field"] for c in e.value.status["details"]["causes"]]
    assert "spec.containers[0].image" in fields


def test_strict_field_validation_rejects_the_seed_services_misplaced_type(api: Client) -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "nginx-svc"},
           "spec": {"selector": {"app": "nginx"},
                    "ports": [{"port": 8080, "targetPort": 80, "type": "NodePort"}]}}
    with pytest.raises(ApiError) as e:
        api.create(SVC, svc, "default", query={"fieldValidation": "Strict"})
    assert e.value.code == 400 and e.value.reason == "BadRequest"
    assert str(e.value) == ('Service in version "v1" cannot be handled as a Service: strict '
                            'decoding error: unknown field "spec.ports[0].type"')


def test_warn_field_validation_creates_and_warns_and_drops_the_field(api: Client) -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "nginx-svc"},
           "spec": {"selector": {"app": "nginx"},
                    "ports": [{"port": 8080, "targetPort": 80, "type": "NodePort"}]}}
    code, headers, body = raw(api, "POST", "/api/v1/namespaces/default/services", svc,
                              {"Content-Type": "application/json"})
    assert code == 201
    assert headers.get_all("Warning")[0] == '299 - "unknown field \\"spec.ports[0].type\\""'
    assert "type" not in body["spec"]["ports"][0]
    assert "did you mean spec.type" in headers.get_all("Warning")[1]


def test_update_with_a_stale_resource_version_is_a_conflict(api: Client) -> None:
    first = api.create(DEPLOY, deployment("web"), "default")
    newer = json.loads(json.dumps(first))
    newer["spec"]["replicas"] = 2
    updated = api.update(DEPLOY, newer)
    assert updated["metadata"]["generation"] == 2
    first["spec"]["replicas"] = 5
    with pytest.raises(ApiError) as e:
        api.update(DEPLOY, first)
    assert (e.value.code, e.value.reason) == (409, "Conflict")
    assert str(e.value) == ('Operation cannot be fulfilled on deployments.apps "web": the '
                            'object has been modified; please apply your changes to the latest '
                            'version and try again')


def test_status_is_ignored_on_the_main_resource_and_written_through_status(api: Client
                                                                           ) -> None:
    api.create(PODS, pod("web"), "default")
    api.patch(PODS, "web", {"status": {"phase": "Running"}}, "merge", "default")
    assert api.get(PODS, "web", "default")["status"]["phase"] == "Pending"
    api.patch(PODS, "web", {"status": {"phase": "Running"}}, "merge", "default", "status")
    assert api.get(PODS, "web", "default")["status"]["phase"] == "Running"


def test_labels_change_by_json_patch_without_bumping_generation(api: Client) -> None:
    api.create(DEPLOY, deployment("web"), "default")
    patched = api.patch(DEPLOY, "web", [{"op": "add", "path": "/metadata/labels",
                                         "value": {"tier": "front"}}], "json", "default")
    assert patched["metadata"]["labels"] == {"tier": "front"}
    assert patched["metadata"]["generation"] == 1


def test_server_side_apply_creates_then_updates(api: Client) -> None:
    path = "/apis/apps/v1/namespaces/default/deployments/web"
    headers = {"Content-Type": "application/apply-patch+yaml"}
    code, _, body = raw(api, "PATCH", path + "?fieldManager=kubectl", deployment("web"), headers)
    assert code == 201 and body["spec"]["replicas"] == 1
    code, _, body = raw(api, "PATCH", path + "?fieldManager=kubectl", deployment("web", 4),
                        headers)
    assert code == 200 and body["spec"]["replicas"] == 4


def test_unsupported_patch_content_type_is_415(api: Client) -> None:
    api.create(PODS, pod("web"), "default")
    code, _, body = raw(api, "PATCH", "/api/v1/namespaces/default/pods/web", {},
                        {"Content-Type": "text/plain"})
    assert code == 415 and body["reason"] == "UnsupportedMediaType"


def test_scale_subresource_reads_and_patches_replicas(api: Client) -> None:
    api.create(DEPLOY, deployment("web"), "default")
    scale = api.get(DEPLOY, "web", "default", "scale")
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"]["replicas"] == 1 and scale["status"]["selector"] == "app=web"
    scaled = api.patch(DEPLOY, "web", {"spec": {"replicas": 3}}, "merge", "default", "scale")
    assert scaled["spec"]["replicas"] == 3
    deploy = api.get(DEPLOY, "web", "default")
    assert deploy["spec"]["replicas"] == 3 and deploy["metadata"]["generation"] == 2


def test_binding_sets_the_node_once(api: Client) -> None:
    api.create(PODS, pod("web"), "default")
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "node-1"}}
    api.create_subresource(PODS, "web", "binding", binding, "default")
    bound = api.get(PODS, "web", "default")
    assert bound["spec"]["nodeName"] == "node-1"
    assert bound["status"]["conditions"][0]["type"] == "PodScheduled"
    with pytest.raises(ApiError) as e:
        api.create_subresource(PODS, "web", "binding", binding, "default")
    assert e.value.code == 409 and 'already assigned to node "node-1"' in str(e.value)


def test_a_bound_pod_is_deleted_gracefully_and_goes_with_grace_zero(api: Client) -> None:
    obj = pod("web")
    obj["spec"]["nodeName"] = "node-1"
    api.create(PODS, obj, "default")
    marked = api.delete(PODS, "web", "default")
    assert marked["metadata"]["deletionGracePeriodSeconds"] == 30
    assert marked["metadata"]["deletionTimestamp"]
    assert api.find(PODS, "web", "default") is not None
    api.delete(PODS, "web", "default", grace_period_seconds=0)
    assert api.find(PODS, "web", "default") is None


def test_an_unbound_pod_is_deleted_at_once(api: Client) -> None:
    api.create(PODS, pod("web"), "default")
    api.delete(PODS, "web", "default")
    assert api.find(PODS, "web", "default") is None


def test_finalizers_keep_the_object_until_removed(api: Client) -> None:
    obj = deployment("web")
    obj["metadata"]["finalizers"] = ["example.com/hold"]
    api.create(DEPLOY, obj, "default")
    api.delete(DEPLOY, "web", "default")
    held = api.get(DEPLOY, "web", "default")
    assert held["metadata"]["deletionTimestamp"]
    api.patch(DEPLOY, "web", {"metadata": {"finalizers": None}}, "merge", "default")
    assert api.find(DEPLOY, "web", "default") is None


def test_foreground_deletion_adds_its_finalizer(api: Client) -> None:
    api.create(DEPLOY, deployment("web"), "default")
    api.delete(DEPLOY, "web", "default", propagation_policy="Foreground")
    held = api.get(DEPLOY, "web", "default")
    assert held["metadata"]["finalizers"] == ["foregroundDeletion"]


def test_orphan_deletion_removes_owner_references_from_dependents(api: Client) -> None:
    owner = api.create(DEPLOY, deployment("web"), "default")
    child = pod("web-1")
    child["metadata"]["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": "web", "uid": owner["metadata"]["uid"],
                                             "controller": True}]
    api.create(PODS, child, "default")
    api.delete(DEPLOY, "web", "default", propagation_policy="Orphan")
    assert api.find(DEPLOY, "web", "default") is None
    assert api.get(PODS, "web-1", "default")["metadata"]["ownerReferences"] == []


def test_deleting_a_namespace_marks_it_terminating(api: Client) -> None:
    api.create(NS, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    api.create(PODS, pod("web"), "team")
    api.delete(NS, "team")
    assert api.get(NS, "team")["status"]["phase"] == "Terminating"
    with pytest.raises(ApiError) as e:
        api.create(PODS, pod("other"), "team")
    assert e.value.code == 403
    api.delete(PODS, "web", "team")
    api.delete(NS, "team")  # now empty: the second delete removes it
    assert api.find(NS, "team") is None


def test_nodes_keep_the_status_they_register_with(api: Client) -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"},
            "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}]}}
    created = api.create(NODES, node)
    assert created["status"]["addresses"][0]["address"] == "127.0.0.1"
    assert "namespace" not in created["metadata"]


def test_unknown_paths_and_methods_are_status_errors(api: Client) -> None:
    code, _, body = raw(api, "GET", "/api/v1/widgets")
    assert code == 404 and body["kind"] == "Status"
    code, _, body = raw(api, "PUT", "/api/v1/namespaces/default/pods")
    assert code == 405 and body["reason"] == "MethodNotAllowed"
    code, _, body = raw(api, "GET", "/openapi/v2")
    assert code == 404


def test_delete_collection_removes_what_the_selectors_match(api: Client) -> None:
    for name, tier in (("a", "web"), ("b", "web"), ("c", "db")):
        obj = pod(name)
        obj["metadata"]["labels"] = {"tier": tier}
        if name == "b":
            obj["spec"]["nodeName"] = "node-1"  # bound: deleted gracefully, like one DELETE
        api.create(PODS, obj, "default")
    code, _, body = raw(api, "DELETE", "/api/v1/namespaces/default/pods?labelSelector=tier%3Dweb")
    assert code == 200 and body["kind"] == "PodList"
    assert sorted(p["metadata"]["name"] for p in body["items"]) == ["a", "b"]
    assert api.find(PODS, "a", "default") is None
    marked = api.get(PODS, "b", "default")
    assert marked["metadata"]["deletionTimestamp"]
    assert api.find(PODS, "c", "default") is not None
    code, _, body = raw(api, "DELETE", "/api/v1/namespaces")
    assert code == 405 and body["reason"] == "MethodNotAllowed"
