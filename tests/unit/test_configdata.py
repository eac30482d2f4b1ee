"""Secrets and ConfigMaps as the API server checks them, and the variables pods get from them."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from minikube_py.api import default_object, validate_object, validate_object_update
from minikube_py.api.configdata import secret_bytes
from minikube_py.kubelet.containers import container_env
from minikube_py.kubelet.envsources import EnvSources, resource_value
from minikube_py.kubelet.security import ContainerConfigError
from runtime.images import ImageConfig


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, **fields}


def errors_of(obj: dict[str, Any]) -> list[str]:
    return [str(e) for e in validate_object(default_object(obj))]


def test_string_data_is_merged_into_data_as_base64_and_wins():
    stored = default_object(secret(data={"user": b64("old"), "keep": b64("k")},
                                   stringData={"user": "admin", "pass": "s3cret"}))
    assert "stringData" not in stored and stored["type"] == "Opaque"
    assert secret_bytes(stored) == {"user": b"admin", "keep": b"k", "pass": b"s3cret"}
    assert stored["metadata"]["namespace"] == "default"
    assert validate_object(stored) == []


@pytest.mark.parametrize("obj, message", [
    (secret(data={"bad key": b64("x")}),
     'data: Invalid value: "bad key": a valid config key must consist of alphanumeric '
     "characters"),
    (secret(data={"k": "not base64!"}),
     'data[k]: Invalid value: "<value omitted>": illegal base64 data'),
    (secret(type="kubernetes.io/tls", data={"tls.crt": b64("c")}),
     "data[tls.key]: Required value"),
    (secret(type="kubernetes.io/basic-auth", data={}), "data[username]: Required value"),
    (secret(type="kubernetes.io/dockerconfigjson", data={".dockerconfigjson": b64("{no")}),
     'data[.dockerconfigjson]: Invalid value: "<secret contents redacted>"'),
    (secret(type="kubernetes.io/service-account-token"),
     "metadata.annotations[kubernetes.io/service-account.name]: Required value"),
    (secret(stringData={"k": "x" * (1 << 20)}), "must have at most 1048576 bytes"),
])
def test_bad_secrets_are_refused_naming_the_field(obj: dict[str, Any], message: str):
    errs = errors_of(obj)
    assert any(e.startswith(message) or message in e for e in errs), errs


def test_an_immutable_secret_keeps_its_data_and_every_secret_its_type():
    old = default_object(secret(data={"k": b64("v")}, immutable=True))
    changed = default_object(secret(data={"k": b64("w")}, immutable=True))
    assert [str(e) for e in validate_object_update(changed, old)] == [
        "data: Forbidden: field is immutable when `immutable` is set"]
    unfrozen = default_object(secret(data={"k": b64("v")}))
    assert "immutable: Forbidden: field is immutable when `immutable` is set" in \
        [str(e) for e in validate_object_update(unfrozen, old)]
    retyped = default_object(secret(type="example.com/x"))
    assert [str(e) for e in validate_object_update(retyped, default_object(secret()))] == [
        'type: Invalid value: "example.com/x": field is immutable']
    assert validate_object_update(unfrozen, default_object(secret(data={"k": b64("x")}))) == []


def test_config_map_binary_data_must_be_base64_and_not_repeat_a_data_key():
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
          "data": {"a": "1"}, "binaryData": {"a": b64("2"), "b": "%%"}}
    errs = errors_of(cm)
    assert 'binaryData: Invalid value: "a": duplicate of key present in data' in errs
    assert any(e.startswith("binaryData[b]: Invalid value") for e in errs), errs


# -- variables from ConfigMaps, Secrets, fields and resources ---------------------------------
POD = {"metadata": {"name": "web-1", "namespace": "shop", "uid": "u-1",
                    "labels": {"app": "web"}, "annotations": {"team": "blue"}},
       "spec": {"nodeName": "node-a", "serviceAccountName": "robot", "containers": [
           {"name": "main", "resources": {"limits": {"memory": "64Mi", "cpu": "250m"}}}]}}
OBJECTS = {
    ("ConfigMap", "shop", "settings"): {"data": {"MODE": "fast", "bad key": "x"},
                                        "binaryData": {"LOGO": b64("png")}},
    ("Secret", "shop", "db"): {"data": {"password": b64("s3cret")}},
}


def sources() -> EnvSources:
    return EnvSources(config_map=lambda ns, name: OBJECTS.get(("ConfigMap", ns, name)),
                      secret=lambda ns, name: OBJECTS.get(("Secret", ns, name)),
                      host_ip="10.244.0.1", node_cpu_millis=4000, node_memory=8 << 30,
                      node_storage=100 << 30)


def env_for(container: dict[str, Any], warnings: list[str] | None = None) -> dict[str, str]:
    container = {"name": "main", **container}
    return container_env(container, ImageConfig(env=[]), POD, "10.244.0.7", {}, sources(),
                         warn=(warnings if warnings is not None else []).append)


def test_env_from_a_config_map_and_a_secret_with_a_prefix_skips_invalid_names():
    warnings: list[str] = []
    env = env_for({"envFrom": [{"configMapRef": {"name": "settings"}},
                               {"secretRef": {"name": "db"}, "prefix": "DB_"}]}, warnings)
    assert env["MODE"] == "fast" and env["DB_password"] == "s3cret"
    assert "bad key" not in env and "LOGO" not in env  # binaryData is for volumes only
    assert warnings == ["Keys [bad key] from the EnvFrom configmap shop/settings were skipped "
                        "since they are considered invalid environment variable names."]


def test_value_from_keys_fields_and_resources():
    env = env_for({"env": [
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "MODE"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "HOST", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
        {"name": "MEM_MI", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory",
                                                               "divisor": "1Mi"}}},
        {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        {"name": "CPU_M", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu",
                                                              "divisor": "1m"}}},
        {"name": "MISSING", "valueFrom": {"secretKeyRef": {"name": "db", "key": "nope",
                                                            "optional": True}}},
        {"name": "URL", "value": "postgres://app:$(PASSWORD)@db"},
    ]})
    assert (env["PASSWORD"], env["MODE"], env["APP"], env["NODE"]) == \
        ("s3cret", "fast", "web", "node-a")
    assert (env["HOST"], env["IP"], env["SA"]) == ("10.244.0.1", "10.244.0.7", "robot")
    assert (env["MEM_MI"], env["CPU"], env["CPU_M"]) == ("64", "1", "250")
    assert "MISSING" not in env
    assert env["URL"] == "postgres://app:s3cret@db"


def test_unset_limits_are_the_nodes_capacity_and_unset_requests_zero():
    ref = {"resource": "limits.memory"}
    no_limits = {"name": "c"}
    pod = {"spec": {"containers": [no_limits]}}
    assert resource_value(ref, no_limits, pod, sources()) == str(8 << 30)
    assert resource_value({"resource": "limits.cpu"}, no_limits, pod, sources()) == "4"
    assert resource_value({"resource": "requests.cpu"}, no_limits, pod, sources()) == "0"


@pytest.mark.parametrize("var, message", [
    ({"secretKeyRef": {"name": "nothere", "key": "k"}}, 'secret "nothere" not found'),
    ({"configMapKeyRef": {"name": "settings", "key": "k"}},
     "couldn't find key k in ConfigMap shop/settings"),
    ({"secretKeyRef": {"name": "db", "key": "user"}}, "couldn't find key user in Secret shop/db"),
])
def test_a_missing_object_or_key_is_a_container_config_error(var: dict[str, Any],
                                                              message: str):
    with pytest.raises(ContainerConfigError) as refused:
        env_for({"env": [{"name": "X", "valueFrom": var}]})
    assert str(refused.value) == message


def test_a_missing_env_from_source_is_an_error_unless_optional():
    with pytest.raises(ContainerConfigError, match='configmap "other" not found'):
        env_for({"envFrom": [{"configMapRef": {"name": "other"}}]})
    assert "MODE" not in env_for({"envFrom": [{"configMapRef": {"name": "other",
                                                                 "optional": True}}]})


def test_env_entries_resolve_in_order_as_upstream():
    env = env_for({"envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "X-"}], "env": [
        {"name": "MODE", "value": "", "valueFrom": {"configMapKeyRef": {"name": "settings",
                                                                       "key": "MODE"}}},
        {"name": "DUP", "value": "first"},
        {"name": "DUP", "valueFrom": {"secretKeyRef": {"name": "db", "key": "nope",
                                                        "optional": True}}},
        {"name": "X-MODE"}]})
    assert env["MODE"] == "fast"  # an empty value does not hide valueFrom
    assert env["DUP"] == "first"  # an optional key that is not there sets nothing
    assert env["X-MODE"] == ""    # neither value nor valueFrom: empty, over envFrom's


def test_skipped_env_from_keys_are_named_with_their_prefix():
    warnings: list[str] = []
    env_for({"envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "P_"}]}, warnings)
    assert warnings[0].startswith("Keys [P_bad key] from the EnvFrom configmap shop/settings")


def test_resource_refs_to_another_container_zero_limits_and_byte_divisors():
    ref = {"resource": "limits.memory", "containerName": "sidecar"}
    with pytest.raises(ContainerConfigError, match="container sidecar not found"):
        resource_value(ref, POD["spec"]["containers"][0], POD, sources())
    zero = {"name": "z", "resources": {"limits": {"memory": "0", "cpu": "0"}}}
    pod = {"spec": {"containers": [zero]}}
    assert resource_value({"resource": "limits.memory", "divisor": "1Gi"}, zero, pod,
                          sources()) == "8"
    assert resource_value({"resource": "limits.cpu"}, zero, pod, sources()) == "4"


@pytest.mark.parametrize("change, message", [
    (lambda c: c.update(env=[{"name": "X", "valueFrom": {"resourceFieldRef": {
        "resource": "limits.memory", "divisor": "1m"}}}]),
     'spec.containers[0].env[0].valueFrom.resourceFieldRef.divisor: Unsupported value: "1m"'),
    (lambda c: c.update(env=[{"name": "X", "valueFrom": {"fileKeyRef": {
        "path": "a", "volumeName": "v", "key": "k"}}}]),
     "spec.containers[0].env[0].valueFrom.fileKeyRef: Forbidden"),
    (lambda c: c.update(envFrom=[{"configMapRef": {"name": "a"}, "secretRef": {"name": "b"}}]),
     "spec.containers[0].envFrom[0]: Invalid value"),
    (lambda c: c.update(envFrom=[{"prefix": "1"}]),
     "spec.containers[0].envFrom[0]: Required value: must specify one of: `configMapRef` or "
     "`secretRef`"),
])
def test_env_sources_are_checked_by_the_api(change: Any, message: str):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    change(pod["spec"]["containers"][0])
    errs = errors_of(pod)
    assert any(e.startswith(message) for e in errs), errs


def test_a_volume_file_mode_cannot_be_setuid():
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}],
                    "volumes": [{"name": "v", "configMap": {"name": "c", "items": [
                        {"key": "k", "path": "k", "mode": 0o4755}]}}]}}
    assert "spec.volumes[0].configMap.items[0].mode: Invalid value: 2541: must be a number " \
           "between 0 and 0777 (octal), both inclusive" in errors_of(pod)


def test_a_secret_value_that_is_not_a_string_is_not_repeated_in_the_error():
    errs = errors_of(secret(stringData={"pin": 1234}))
    assert errs == ['stringData[pin]: Invalid value: "<value omitted>": must be a string']
    assert errors_of(secret(data={"pin": 1234})) == [
        'data[pin]: Invalid value: "<value omitted>": must be a base64 string']
