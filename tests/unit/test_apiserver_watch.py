"""Watches and discovery of the API server, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from typing import Any

from minikube_py.api.resources import must
from minikube_py.client import Client

PODS = must("pods")


def pod(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"containers": [{"name": "web", "image": "nginx"}]}}


def collect(watch: Any, count: int, seconds: float = 10.0) -> list[tuple[str, str]]:
    """The first ``count`` events as (type, name); closes the watch after ``seconds``."""
    timer = threading.Timer(seconds, watch.close)
    timer.start()
    seen = []
    try:
        for kind, obj in watch:
            seen.append((kind, obj["metadata"]["name"]))
            if len(seen) == count:
                break
    finally:
        timer.cancel()
        watch.close()
    return seen


def test_a_watch_without_resource_version_starts_with_synthetic_adds(api: Client) -> None:
    api.create(PODS, pod("a"), "default")
    api.create(PODS, pod("b"), "default")
    assert collect(api.watch(PODS, "default"), 2) == [("ADDED", "a"), ("ADDED", "b")]


def test_a_watch_from_a_resource_version_sends_only_later_changes(api: Client) -> None:
    api.create(PODS, pod("a"), "default")
    version = api.list(PODS, "default")["metadata"]["resourceVersion"]
    watch = api.watch(PODS, "default", resource_version=version)
    api.patch(PODS, "a", {"metadata": {"labels": {"x": "1"}}}, "merge", "default")
    api.create(PODS, pod("b"), "default")
    api.delete(PODS, "a", "default")
    assert collect(watch, 3) == [("MODIFIED", "a"), ("ADDED", "b"), ("DELETED", "a")]


def test_watch_events_carry_increasing_resource_versions(api: Client) -> None:
    watch = api.watch(PODS, "default", resource_version="1")
    api.create(PODS, pod("a"), "default")
    api.patch(PODS, "a", {"metadata": {"labels": {"x": "1"}}}, "merge", "default")
    versions = []
    for _, obj in watch:
        versions.append(int(obj["metadata"]["resourceVersion"]))
        if len(versions) == 2:
            break
    watch.close()
    assert versions[0] < versions[1]


def test_a_label_selector_watch_sees_objects_leave_and_enter(api: Client) -> None:
    api.create(PODS, pod("a", app="web"), "default")
    watch = api.watch(PODS, "default", label_selector="app=web")
    api.patch(PODS, "a", {"metadata": {"labels": {"app": "db"}}}, "merge", "default")
    api.patch(PODS, "a", {"metadata": {"labels": {"app": "web"}}}, "merge", "default")
    assert collect(watch, 3) == [("ADDED", "a"), ("DELETED", "a"), ("ADDED", "a")]


def test_a_field_selector_on_the_name_filters_the_watch(api: Client) -> None:
    watch = api.watch(PODS, "default", field_selector="metadata.name=b")
    api.create(PODS, pod("a"), "default")
    api.create(PODS, pod("b"), "default")
    assert collect(watch, 1) == [("ADDED", "b")]


def test_a_watch_ends_after_timeout_seconds(api: Client) -> None:
    start = time.monotonic()
    watch = api.watch(PODS, "default", resource_version="1", timeout_seconds=1)
    assert list(watch) == []
    assert time.monotonic() - start < 5


def test_a_compacted_resource_version_is_a_410_error_event(api: Client, tmp_path: Any) -> None:
    for i in range(3):
        api.create(PODS, pod(f"p{i}"), "default")
    server_store = None  # compact through a second handle on the same SQLite file
    from minikube_py.store import open_store
    server_store = open_store(str(tmp_path / "store.db"))
    try:
        server_store.compact(server_store.revision())
    finally:
        server_store.close()
    events = list(api.watch(PODS, "default", resource_version="2"))
    assert events[0][0] == "ERROR" and events[0][1]["code"] == 410


def test_a_table_watch_sends_one_row_tables(api: Client) -> None:
    req = urllib.request.Request(
        api.server + "/api/v1/namespaces/default/pods?watch=true",
        headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"})
    api.create(PODS, pod("a"), "default")
    with urllib.request.urlopen(req, timeout=10) as resp:
        event = json.loads(resp.readline())
    assert event["type"] == "ADDED" and event["object"]["kind"] == "Table"
    assert event["object"]["rows"][0]["cells"][0] == "a"


def get_json(api: Client, path: str, accept: str = "application/json"
             ) -> tuple[str, dict[str, Any]]:
    req = urllib.request.Request(api.server + path, headers={"Accept": accept})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.headers["Content-Type"], json.loads(resp.read())


def test_version_reports_minor_32_with_a_semver_git_version(api: Client) -> None:
    _, info = get_json(api, "/version/")
    assert (info["major"], info["minor"], info["gitVersion"]) == ("1", "32", "v1.32.0")


def test_aggregated_discovery_follows_the_accepted_version(api: Client) -> None:
    v2beta1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
    ctype, body = get_json(api, "/apis", v2beta1 + ",application/json")
    assert ctype == v2beta1 and body["apiVersion"] == "apidiscovery.k8s.io/v2beta1"
    ctype, body = get_json(api, "/api", v2beta1.replace("v2beta1", "v2") + "," + v2beta1)
    assert "v=v2;" in ctype
    (core,) = body["items"]
    assert [v["version"] for v in core["versions"]] == ["v1"]
    pods = next(r for r in core["versions"][0]["resources"] if r["resource"] == "pods")
    assert pods["shortNames"] == ["po"] and pods["categories"] == ["all"]
    assert {"status", "binding", "log", "exec"} <= {s["subresource"]
                                                   for s in pods["subresources"]}


def test_legacy_discovery_lists_groups_and_resources(api: Client) -> None:
    _, versions = get_json(api, "/api")
    assert versions["versions"] == ["v1"]
    _, group_list = get_json(api, "/apis")
    assert "apps" in [g["name"] for g in group_list["groups"]]
    _, apps = get_json(api, "/apis/apps/v1")
    names = {r["name"]: r for r in apps["resources"]}
    assert names["deployments"]["shortNames"] == ["deploy"]
    assert names["deployments/scale"]["kind"] == "Scale"


def test_openapi_v3_declares_field_validation_for_patch(api: Client) -> None:
    _, root = get_json(api, "/openapi/v3")
    url = root["paths"]["apis/apps/v1"]["serverRelativeURL"]
    _, doc = get_json(api, url)
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"]["kind"] == "Deployment"
    assert {"name": "fieldValidation", "in": "query"}.items() <= patch["parameters"][0].items()
