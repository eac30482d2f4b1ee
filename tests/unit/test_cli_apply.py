"""The three-way strategic merge patch of client-side apply, checked against what kubectl
sends (kubectl-api.md §3: $setElementOrder, null deletes, $retainKeys, $patch: delete)."""

from __future__ import annotations

import copy
import json
from typing import Any

from minikube_py.cli.apply import (
    LAST_APPLIED,
    modified_configuration,
    original_configuration,
    parse_warning,
    with_hints,
)
from minikube_py.cli.smp import three_way_patch


def deployment(image: str = "nginx:1.25", replicas: int | None = 2, **spec: object) -> dict:
    obj: dict[str, Any] = {"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "namespace": "default"},
           "spec": {"selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"containers": [{"name": "nginx", "image": image,
                                                          "ports": [{"containerPort": 80}]}]}},
                    **spec}}
    if replicas is not None:
        obj["spec"]["replicas"] = replicas
    return obj


def live_after_apply(manifest: dict) -> dict:
    """What the server holds after a create: the manifest, its annotation and server fields."""
    live = modified_configuration(manifest)
    live["metadata"].update(uid="u1", resourceVersion="7", generation=1)
    live["status"] = {"replicas": 2}
    if manifest["kind"] != "Deployment":
        return live
    live["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    live["spec"]["strategy"] = {"type": "RollingUpdate",
                                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
    return live


def patch_for(old_manifest: dict, new_manifest: dict, live: dict | None = None) -> dict:
    live = live or live_after_apply(old_manifest)
    return three_way_patch(original_configuration(live), modified_configuration(new_manifest),
                           live, new_manifest["kind"])


def test_reapplying_the_same_manifest_gives_an_empty_patch() -> None:
    assert patch_for(deployment(), deployment()) == {}


def test_the_annotation_holds_the_manifest_as_sorted_compact_json() -> None:
    text = modified_configuration(deployment())["metadata"]["annotations"][LAST_APPLIED]
    assert text.endswith("}\n")
    assert json.loads(text)["metadata"] == {"annotations": {}, "name": "web",
                                            "namespace": "default"}
    assert '"apiVersion":"apps/v1","kind":"Deployment"' in text


def test_a_changed_image_patches_the_container_by_name_with_its_order() -> None:
    patch = patch_for(deployment(), deployment(image="nginx:1.26"))
    pod = patch["spec"]["template"]["spec"]
    assert pod["containers"] == [{"name": "nginx", "image": "nginx:1.26"}]
    assert pod["$setElementOrder/containers"] == [{"name": "nginx"}]
    assert LAST_APPLIED in patch["metadata"]["annotations"]


def test_a_field_removed_from_the_file_is_deleted_with_null() -> None:
    patch = patch_for(deployment(), deployment(replicas=None))
    assert patch["spec"] == {"replicas": None}


def test_a_field_only_the_server_set_is_left_alone() -> None:
    old = deployment(replicas=None)
    live = live_after_apply(old)
    live["spec"]["replicas"] = 5  # kubectl scale
    assert patch_for(old, deployment(replicas=None), live) == {}


def test_a_removed_container_is_deleted_by_its_merge_key() -> None:
    old = deployment()
    old["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "busybox"})
    patch = patch_for(old, deployment())
    pod = patch["spec"]["template"]["spec"]
    assert {"name": "sidecar", "$patch": "delete"} in pod["containers"]
    assert pod["$setElementOrder/containers"] == [{"name": "nginx"}]


def test_switching_to_recreate_retains_only_the_type_key() -> None:
    old = deployment(strategy={"type": "RollingUpdate"})
    new = deployment(strategy={"type": "Recreate"})
    patch = patch_for(old, new)
    assert patch["spec"]["strategy"]["type"] == "Recreate"
    assert patch["spec"]["strategy"]["$retainKeys"] == ["type"]


def test_service_ports_merge_by_port_number() -> None:
    svc: dict[str, Any] = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
           "spec": {"selector": {"app": "web"},
                    "ports": [{"port": 80, "targetPort": 8080}, {"port": 443}]}}
    new = copy.deepcopy(svc)
    new["spec"]["ports"] = [{"port": 80, "targetPort": 9090}]
    patch = patch_for(svc, new)
    ports = patch["spec"]["ports"]
    assert {"port": 80, "targetPort": 9090} in ports
    assert {"port": 443, "$patch": "delete"} in ports
    assert patch["spec"]["$setElementOrder/ports"] == [{"port": 80}]


def test_an_atomic_list_is_replaced_whole() -> None:
    old = deployment()
    old["spec"]["template"]["spec"]["containers"][0]["args"] = ["a", "b"]
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"][0]["args"] = ["b"]
    patch = patch_for(old, new)
    assert patch["spec"]["template"]["spec"]["containers"] == [{"name": "nginx", "args": ["b"]}]


def test_the_servers_warning_header_is_unquoted_like_kubectl_prints_it() -> None:
    header = '299 - "unknown field \\"spec.ports[0].type\\""'
    assert parse_warning(header) == 'unknown field "spec.ports[0].type"'


def test_an_unknown_field_warning_is_followed_by_where_the_field_belongs() -> None:
    lines = with_hints(['unknown field "spec.ports[0].type"'], "Service")
    assert lines[0] == 'unknown field "spec.ports[0].type"'
    assert "spec.type" in lines[1]


def test_the_hint_is_not_repeated_when_the_server_already_gave_it() -> None:
    first = with_hints(['unknown field "spec.ports[0].type"'], "Service")
    assert with_hints(first, "Service") == first
