"""The four PATCH flavours, checked against the bodies real kubectl sends."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from minikube_py.apiserver.patch import (
    PatchError,
    apply_patch,
    json_merge_patch,
    json_patch,
    strategic_merge_patch,
)


def deployment(**spec_overrides: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "nginx", "namespace": "default", "uid": "u1",
                     "annotations": {"deployment.kubernetes.io/revision": "2"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "nginx"}},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [
                    {"name": "nginx", "image": "nginx:1.24",
                     "ports": [{"containerPort": 80, "protocol": "TCP"}],
                     "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                    {"name": "sidecar", "image": "busybox"},
                ]},
            },
        },
    }
    obj["spec"].update(spec_overrides)
    return obj


def containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return obj["spec"]["template"]["spec"]["containers"]


# ----------------------------------------------------------------- RFC 7386 merge patch

RFC7386_EXAMPLES = [  # the test cases of RFC 7386 appendix A
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "expected"), RFC7386_EXAMPLES)
def test_merge_patch_follows_every_example_of_rfc_7386(target: Any, patch: Any,
                                                        expected: Any) -> None:
    assert json_merge_patch(target, patch) == expected


def test_merge_patch_from_kubectl_scale_changes_only_replicas() -> None:
    live = deployment()
    result = json_merge_patch(live, {"spec": {"replicas": 3}})
    assert result["spec"]["replicas"] == 3
    assert containers(result) == containers(live)


def test_merge_patch_does_not_modify_its_inputs() -> None:
    live, patch = deployment(), {"spec": {"replicas": None, "template": {"x": {"y": 1}}}}
    before = (copy.deepcopy(live), copy.deepcopy(patch))
    json_merge_patch(live, patch)
    assert (live, patch) == before


# ------------------------------------------------------------------- RFC 6902 json patch


def test_json_patch_from_rollout_undo_replaces_template_and_annotations() -> None:
    old_template = copy.deepcopy(deployment()["spec"]["template"])
    old_template["spec"]["containers"][0]["image"] = "nginx:1.23"
    ops = [{"op": "replace", "path": "/spec/template", "value": old_template},
           {"op": "replace", "path": "/metadata/annotations",
            "value": {"deployment.kubernetes.io/revision": "2", "note": "undo"}}]
    result = json_patch(deployment(), ops)
    assert containers(result)[0]["image"] == "nginx:1.23"
    assert result["metadata"]["annotations"]["note"] == "undo"


def test_json_patch_replace_of_a_missing_path_fails_naming_index_and_path() -> None:
    live = deployment()
    del live["metadata"]["annotations"]
    ops: list[dict[str, Any]] = [
        {"op": "replace", "path": "/spec/replicas", "value": 5},
        {"op": "replace", "path": "/metadata/annotations", "value": {}}]
    with pytest.raises(PatchError) as err:
        json_patch(live, ops)
    assert "operation 1" in str(err.value)
    assert "/metadata/annotations" in str(err.value)
    assert live["spec"]["replicas"] == 2, "a failed patch must change nothing"


def test_json_patch_add_inserts_into_arrays_and_appends_with_dash() -> None:
    doc = {"a": [1, 2]}
    doc = json_patch(doc, [{"op": "add", "path": "/a/1", "value": 9},
                           {"op": "add", "path": "/a/-", "value": 7},
                           {"op": "add", "path": "/b", "value": {"c": 1}}])
    assert doc == {"a": [1, 9, 2, 7], "b": {"c": 1}}


def test_json_patch_pointer_escapes_tilde_and_slash() -> None:
    doc = {"metadata": {"annotations": {"a/b": "1", "m~n": "2"}}}
    doc = json_patch(doc, [{"op": "remove", "path": "/metadata/annotations/a~1b"},
                           {"op": "replace", "path": "/metadata/annotations/m~0n",
                            "value": "3"}])
    assert doc == {"metadata": {"annotations": {"m~n": "3"}}}


def test_json_patch_move_copy_and_test() -> None:
    doc = {"a": {"b": 1}, "c": [1, 2]}
    doc = json_patch(doc, [{"op": "copy", "from": "/a", "path": "/d"},
                           {"op": "move", "from": "/a/b", "path": "/e"},
                           {"op": "test", "path": "/e", "value": 1.0},
                           {"op": "test", "path": "/c", "value": [1, 2]}])
    assert doc == {"a": {}, "c": [1, 2], "d": {"b": 1}, "e": 1}


@pytest.mark.parametrize("ops", [
    [{"op": "test", "path": "/a", "value": True}],         # 1 is not true in JSON
    [{"op": "remove", "path": "/missing"}],
    [{"op": "add", "path": "/x/y", "value": 1}],            # parent missing
    [{"op": "add", "path": "/list/5", "value": 1}],         # index past the end
    [{"op": "add", "path": "/list/01", "value": 1}],        # leading zero
    [{"op": "move", "from": "/obj", "path": "/obj/inner"}],
    [{"op": "frobnicate", "path": "/a"}],
    [{"op": "add", "path": "/a"}],                          # no value
    [{"op": "add", "path": "a", "value": 1}],               # pointer without a slash
    [{"op": "copy", "path": "/b"}],                         # no from
])
def test_json_patch_rejects_bad_operations(ops: list[dict[str, Any]]) -> None:
    with pytest.raises(PatchError, match="operation 0"):
        json_patch({"a": 1, "list": [1], "obj": {}}, ops)


def test_json_patch_replaces_the_whole_document_with_an_empty_path() -> None:
    assert json_patch({"a": 1}, [{"op": "replace", "path": "", "value": [1]}]) == [1]


# -------------------------------------------------------------- strategic merge patch


def test_smp_from_kubectl_apply_changes_image_and_deletes_ports_with_null() -> None:
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
        "containers": [{"image": "nginx:1.25", "name": "nginx", "ports": None}]}}}}
    result = strategic_merge_patch(deployment(), patch, "Deployment")
    nginx, sidecar = containers(result)
    assert nginx["image"] == "nginx:1.25"
    assert "ports" not in nginx
    assert nginx["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]
    assert sidecar == {"name": "sidecar", "image": "busybox"}
    assert "$setElementOrder/containers" not in result["spec"]["template"]["spec"]


def test_smp_delete_directive_removes_the_sidecar_container() -> None:
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "nginx"}],
        "containers": [{"$patch": "delete", "name": "sidecar"}]}}}}
    result = strategic_merge_patch(deployment(), patch, "Deployment")
    assert [c["name"] for c in containers(result)] == ["nginx"]


def test_smp_retain_keys_clears_rolling_update_when_strategy_becomes_recreate() -> None:
    patch: dict[str, Any] = {"spec": {"strategy": {"$retainKeys": ["type"],
                                                   "type": "Recreate"}}}
    result = strategic_merge_patch(deployment(), patch, "Deployment")
    assert result["spec"]["strategy"] == {"type": "Recreate"}
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": None,
                                   "type": "Recreate"}}}
    assert strategic_merge_patch(deployment(), patch, "Deployment")["spec"]["strategy"] == {
        "type": "Recreate"}


def test_smp_retain_keys_rejects_a_patch_key_it_does_not_list() -> None:
    patch = {"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}
    with pytest.raises(PatchError, match="retainKeys"):
        strategic_merge_patch(deployment(), patch, "Deployment")


def test_smp_null_deletes_a_whole_field() -> None:
    result = strategic_merge_patch(deployment(), {"spec": {"strategy": None}}, "Deployment")
    assert "strategy" not in result["spec"]


def test_smp_env_merges_by_name_and_adds_new_variables_in_set_order() -> None:
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "nginx"}, {"name": "sidecar"}],
        "containers": [{"name": "nginx",
                        "$setElementOrder/env": [{"name": "C"}, {"name": "A"}, {"name": "B"}],
                        "env": [{"name": "C", "value": "3"}, {"name": "A", "value": "one"}]}],
    }}}}
    result = strategic_merge_patch(deployment(), patch, "Deployment")
    assert containers(result)[0]["env"] == [
        {"name": "C", "value": "3"}, {"name": "A", "value": "one"}, {"name": "B", "value": "2"}]


def test_smp_ports_merge_by_container_port() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "nginx", "ports": [{"containerPort": 80, "name": "http"},
                                    {"containerPort": 443}]}]}}}}
    result = strategic_merge_patch(deployment(), patch, "Deployment")
    assert containers(result)[0]["ports"] == [
        {"containerPort": 80, "protocol": "TCP", "name": "http"}, {"containerPort": 443}]


def test_smp_set_element_order_reorders_containers() -> None:
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "sidecar"}, {"name": "nginx"}]}}}}
    result = strategic_merge_patch(deployment(), patch, "Deployment")
    assert [c["name"] for c in containers(result)] == ["sidecar", "nginx"]


def test_smp_new_list_items_without_an_order_go_first_like_upstream() -> None:
    # upstream mergeSortedSlice: an item the live list lacks is placed before server items
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "log", "image": "x"}]}}}}
    result = strategic_merge_patch(deployment(), patch, "Deployment")
    assert [c["name"] for c in containers(result)] == ["log", "nginx", "sidecar"]
    patch["spec"]["template"]["spec"]["$setElementOrder/containers"] = [
        {"name": "nginx"}, {"name": "sidecar"}, {"name": "log"}]
    result = strategic_merge_patch(deployment(), patch, "Deployment")
    assert [c["name"] for c in containers(result)] == ["nginx", "sidecar", "log"]


def test_smp_replace_directive_inside_a_list_replaces_the_whole_list() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [
        {"$patch": "replace"}, {"name": "only", "image": "x"}]}}}}
    result = strategic_merge_patch(deployment(), patch, "Deployment")
    assert containers(result) == [{"name": "only", "image": "x"}]


def test_smp_replace_directive_on_a_map_replaces_the_map() -> None:
    patch = {"spec": {"selector": {"$patch": "replace", "matchLabels": {"tier": "web"}}}}
    result = strategic_merge_patch(deployment(), patch, "Deployment")
    assert result["spec"]["selector"] == {"matchLabels": {"tier": "web"}}


def test_smp_delete_directive_on_a_map_empties_it() -> None:
    patch = {"spec": {"strategy": {"$patch": "delete"}}}
    assert strategic_merge_patch(deployment(), patch, "Deployment")["spec"]["strategy"] == {}


def test_smp_lists_without_a_merge_key_are_replaced() -> None:
    pod = {"kind": "Pod", "spec": {"containers": [{"name": "a"}],
                                   "tolerations": [{"key": "x"}, {"key": "y"}]}}
    result = strategic_merge_patch(pod, {"spec": {"tolerations": [{"key": "z"}]}}, "Pod")
    assert result["spec"]["tolerations"] == [{"key": "z"}]


def test_smp_service_ports_merge_by_port() -> None:
    svc = {"kind": "Service", "spec": {"ports": [{"port": 80, "targetPort": 8080},
                                                 {"port": 443, "targetPort": 8443}]}}
    patch = {"spec": {"ports": [{"port": 80, "nodePort": 30080}]}}
    result = strategic_merge_patch(svc, patch, "Service")
    assert result["spec"]["ports"] == [{"port": 80, "targetPort": 8080, "nodePort": 30080},
                                       {"port": 443, "targetPort": 8443}]


def test_smp_pod_status_conditions_merge_by_type() -> None:
    pod = {"status": {"conditions": [{"type": "Ready", "status": "False"},
                                     {"type": "PodScheduled", "status": "True"}]}}
    patch = {"status": {"conditions": [{"type": "Ready", "status": "True"}],
                        "phase": "Running"}}
    result = strategic_merge_patch(pod, patch, "Pod")
    assert result["status"]["conditions"] == [{"type": "Ready", "status": "True"},
                                              {"type": "PodScheduled", "status": "True"}]
    assert result["status"]["phase"] == "Running"


def test_smp_finalizers_merge_as_a_set_and_delete_from_primitive_list() -> None:
    obj = {"metadata": {"finalizers": ["a", "b"]}}
    result = strategic_merge_patch(obj, {"metadata": {"finalizers": ["b", "c"]}}, "ConfigMap")
    assert result["metadata"]["finalizers"] == ["a", "b", "c"]
    patch = {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}
    assert strategic_merge_patch(obj, patch, "ConfigMap")["metadata"]["finalizers"] == ["b"]


def test_smp_owner_references_merge_by_uid() -> None:
    obj = {"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]}}
    patch = {"metadata": {"ownerReferences": [{"uid": "2", "name": "b"},
                                              {"uid": "1", "controller": True}]}}
    result = strategic_merge_patch(obj, patch, "ReplicaSet")
    assert result["metadata"]["ownerReferences"] == [
        {"uid": "2", "name": "b"}, {"uid": "1", "name": "a", "controller": True}]


def test_smp_a_list_item_without_its_merge_key_is_an_error() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}
    with pytest.raises(PatchError, match="merge key: name"):
        strategic_merge_patch(deployment(), patch, "Deployment")


def test_smp_merge_directive_inside_a_list_is_refused_like_upstream() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"$patch": "merge"}]}}}}
    with pytest.raises(PatchError, match="cannot yet be specified"):
        strategic_merge_patch(deployment(), patch, "Deployment")


def test_smp_directives_inside_new_values_are_applied_not_stored() -> None:
    patch = {"spec": {"paused": True, "extra": {"a": None, "b": 1}}}
    result = strategic_merge_patch(deployment(), patch, "Deployment")
    assert result["spec"]["extra"] == {"b": 1}
    assert result["spec"]["paused"] is True


def test_smp_unknown_kinds_replace_lists_but_merge_maps() -> None:
    obj = {"spec": {"items": [{"name": "a"}], "m": {"x": 1}}}
    patch = {"spec": {"items": [{"name": "b"}], "m": {"y": 2}}}
    result = strategic_merge_patch(obj, patch, "Widget")
    assert result == {"spec": {"items": [{"name": "b"}], "m": {"x": 1, "y": 2}}}


def test_smp_does_not_modify_its_inputs() -> None:
    live = deployment()
    patch = {"spec": {"template": {"spec": {
        "containers": [{"$patch": "delete", "name": "sidecar"}]}}}}
    before = (copy.deepcopy(live), copy.deepcopy(patch))
    strategic_merge_patch(live, patch, "Deployment")
    assert (live, patch) == before


def test_smp_set_element_order_that_contradicts_the_patch_is_an_error() -> None:
    patch = {"spec": {"template": {"spec": {
        "$setElementOrder/containers": [{"name": "nginx"}],
        "containers": [{"name": "other", "image": "x"}]}}}}
    with pytest.raises(PatchError, match="setElementOrder"):
        strategic_merge_patch(deployment(), patch, "Deployment")


# ----------------------------------------------------------------- server-side apply


def test_apply_patch_creates_the_object_when_there_is_none() -> None:
    applied = deployment()
    assert apply_patch(None, applied) == applied


def test_apply_patch_merges_the_manifest_over_the_live_object() -> None:
    live = deployment()
    live["status"] = {"replicas": 2}
    live["metadata"]["resourceVersion"] = "7"
    applied = deployment(replicas=5)
    del applied["metadata"]["uid"]
    containers(applied)[0]["image"] = "nginx:1.25"
    result = apply_patch(live, applied)
    assert result["spec"]["replicas"] == 5
    assert containers(result)[0]["image"] == "nginx:1.25"
    assert result["status"] == {"replicas": 2}
    assert result["metadata"]["uid"] == "u1" and result["metadata"]["resourceVersion"] == "7"
