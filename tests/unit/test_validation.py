"""Validation: each rule has a manifest that breaks it and the exact field path it reports."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from minikube_py.api import check_object, validate_object
from minikube_py.api.fields import FieldError
from minikube_py.api.pod import check_pod, validate_pod
from minikube_py.api.service import validate_endpoints, validate_service
from minikube_py.api.workloads import validate_deployment, validate_replica_set
from minikube_py.errors import MinikubeError, ValidationError


def make_pod(**spec: Any) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": "busybox:1.36"}]},
    }
    pod["spec"].update(spec)
    return pod


def make_container(**fields: Any) -> dict[str, Any]:
    return {"name": "app", "image": "busybox:1.36", **fields}


def make_deployment(**spec: Any) -> dict[str, Any]:
    dep: dict[str, Any] = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [make_container()]}}},
    }
    dep["spec"].update(spec)
    return dep


def make_service(**spec: Any) -> dict[str, Any]:
    svc: dict[str, Any] = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                           "spec": {"selector": {"app": "web"},
                                    "ports": [{"port": 80, "targetPort": 8080}]}}
    svc["spec"].update(spec)
    return svc


def by_field(errs: list[FieldError]) -> dict[str, FieldError]:
    return {e.field: e for e in errs}


def only_error(errs: list[FieldError]) -> FieldError:
    assert len(errs) == 1, [str(e) for e in errs]
    return errs[0]


# --- pods: the happy path -----------------------------------------------------------------

def test_a_minimal_pod_is_valid():
    assert validate_pod(make_pod()) == []


def test_a_full_featured_pod_is_valid():
    ctr = make_container(
        command=["sh", "-c"], args=["sleep 1000"], workingDir="/tmp",
        ports=[{"name": "http", "containerPort": 80, "protocol": "TCP"},
               {"name": "metrics", "containerPort": 9090}],
        env=[{"name": "MODE", "value": "x"},
             {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
             {"name": "APP", "valueFrom": {"fieldRef":
                                           {"fieldPath": "metadata.labels['app']"}}}],
        resources={"requests": {"cpu": "250m", "memory": "64Mi"},
                   "limits": {"cpu": "1", "memory": "128Mi", "hugepages-2Mi": "0"}},
        livenessProbe={"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 5},
        readinessProbe={"tcpSocket": {"port": 80}, "successThreshold": 3},
        lifecycle={"postStart": {"exec": {"command": ["true"]}},
                   "preStop": {"sleep": {"seconds": 5}}},
        volumeMounts=[{"name": "data", "mountPath": "/data"}])
    pod = make_pod(containers=[ctr], volumes=[{"name": "data", "emptyDir": {}}],
                   restartPolicy="OnFailure", terminationGracePeriodSeconds=10,
                   nodeSelector={"kubernetes.io/os": "linux"}, hostname="web-0",
                   subdomain="web", tolerations=[{"operator": "Exists"}])
    assert validate_pod(pod) == []


# --- pods: one broken rule each -------------------------------------------------------------

CASES = [
    ("name missing", lambda p: p["metadata"].pop("name"), "metadata.name",
     "FieldValueRequired"),
    ("name with capitals", lambda p: p["metadata"].update(name="Bad_Name"), "metadata.name",
     "FieldValueInvalid"),
    ("name too long", lambda p: p["metadata"].update(name="a" * 254), "metadata.name",
     "FieldValueInvalid"),
    ("bad namespace", lambda p: p["metadata"].update(namespace="my.ns"), "metadata.namespace",
     "FieldValueInvalid"),
    ("bad label key", lambda p: p["metadata"]["labels"].update({"-x": "y"}), "metadata.labels",
     "FieldValueInvalid"),
    ("bad label value", lambda p: p["metadata"]["labels"].update(app="a b"), "metadata.labels",
     "FieldValueInvalid"),
    ("bad annotation key", lambda p: p["metadata"].update(annotations={"a/b/c": ""}),
     "metadata.annotations", "FieldValueInvalid"),
    ("no containers", lambda p: p["spec"].update(containers=[]), "spec.containers",
     "FieldValueRequired"),
    ("container name missing", lambda p: p["spec"]["containers"][0].pop("name"),
     "spec.containers[0].name", "FieldValueRequired"),
    ("container name not a label", lambda p: p["spec"]["containers"][0].update(name="App"),
     "spec.containers[0].name", "FieldValueInvalid"),
    ("image missing", lambda p: p["spec"]["containers"][0].pop("image"),
     "spec.containers[0].image", "FieldValueRequired"),
    ("image with spaces", lambda p: p["spec"]["containers"][0].update(image=" busybox"),
     "spec.containers[0].image", "FieldValueInvalid"),
    ("image with inner space", lambda p: p["spec"]["containers"][0].update(image="busy box"),
     "spec.containers[0].image", "FieldValueInvalid"),
    ("command not strings", lambda p: p["spec"]["containers"][0].update(command=["sh", 1]),
     "spec.containers[0].command[1]", "FieldValueInvalid"),
    ("args not a list", lambda p: p["spec"]["containers"][0].update(args="sleep 1"),
     "spec.containers[0].args", "FieldValueInvalid"),
    ("workingDir not a string", lambda p: p["spec"]["containers"][0].update(workingDir=3),
     "spec.containers[0].workingDir", "FieldValueInvalid"),
    ("bad restartPolicy", lambda p: p["spec"].update(restartPolicy="Sometimes"),
     "spec.restartPolicy", "FieldValueNotSupported"),
    ("bad dnsPolicy", lambda p: p["spec"].update(dnsPolicy="Google"), "spec.dnsPolicy",
     "FieldValueNotSupported"),
    ("negative grace period", lambda p: p["spec"].update(terminationGracePeriodSeconds=-1),
     "spec.terminationGracePeriodSeconds", "FieldValueInvalid"),
    ("zero activeDeadlineSeconds", lambda p: p["spec"].update(activeDeadlineSeconds=0),
     "spec.activeDeadlineSeconds", "FieldValueInvalid"),
    ("bad nodeSelector value", lambda p: p["spec"].update(nodeSelector={"disk": "fast ssd"}),
     "spec.nodeSelector", "FieldValueInvalid"),
    ("bad hostname", lambda p: p["spec"].update(hostname="web.0"), "spec.hostname",
     "FieldValueInvalid"),
    ("bad subdomain", lambda p: p["spec"].update(subdomain="Web"), "spec.subdomain",
     "FieldValueInvalid"),
    ("hostNetwork not a bool", lambda p: p["spec"].update(hostNetwork="yes"),
     "spec.hostNetwork", "FieldValueInvalid"),
    ("bad pull policy", lambda p: p["spec"]["containers"][0].update(imagePullPolicy="Daily"),
     "spec.containers[0].imagePullPolicy", "FieldValueNotSupported"),
    ("wrong apiVersion", lambda p: p.update(apiVersion="v2"), "apiVersion",
     "FieldValueNotSupported"),
]


@pytest.mark.parametrize("title, breaks, field, reason", CASES, ids=[c[0] for c in CASES])
def test_each_pod_rule_reports_its_field(title, breaks, field, reason):
    pod = make_pod()
    breaks(pod)
    errs = validate_pod(pod)
    assert field in by_field(errs), [str(e) for e in errs]
    assert by_field(errs)[field].type == reason


def test_container_names_must_be_unique_across_init_and_regular_containers():
    pod = make_pod(initContainers=[make_container(name="setup")],
                   containers=[make_container(name="app"), make_container(name="setup")])
    err = only_error(validate_pod(pod))
    assert str(err) == 'spec.containers[1].name: Duplicate value: "setup"'


@pytest.mark.parametrize("port, field, reason", [
    ({"containerPort": 0}, "spec.containers[0].ports[0].containerPort", "FieldValueRequired"),
    ({}, "spec.containers[0].ports[0].containerPort", "FieldValueRequired"),
    ({"containerPort": 70000}, "spec.containers[0].ports[0].containerPort",
     "FieldValueInvalid"),
    ({"containerPort": 80, "hostPort": -1}, "spec.containers[0].ports[0].hostPort",
     "FieldValueInvalid"),
    ({"containerPort": 80, "protocol": "ICMP"}, "spec.containers[0].ports[0].protocol",
     "FieldValueNotSupported"),
    ({"containerPort": 80, "name": "http_port"}, "spec.containers[0].ports[0].name",
     "FieldValueInvalid"),
    ({"containerPort": 80, "name": "a-very-long-port-name"}, "spec.containers[0].ports[0].name",
     "FieldValueInvalid"),
    ({"containerPort": 80, "name": "8080"}, "spec.containers[0].ports[0].name",
     "FieldValueInvalid"),
])
def test_container_port_rules(port, field, reason):
    errs = validate_pod(make_pod(containers=[make_container(ports=[port])]))
    assert by_field(errs)[field].type == reason


def test_container_port_range_message_matches_upstream():
    errs = validate_pod(make_pod(containers=[make_container(ports=[{"containerPort": 70000}])]))
    assert str(only_error(errs)) == ("spec.containers[0].ports[0].containerPort: Invalid value: "
                                     "70000: must be between 1 and 65535, inclusive")


def test_container_port_names_must_be_unique():
    ports = [{"name": "http", "containerPort": 80}, {"name": "http", "containerPort": 81}]
    err = only_error(validate_pod(make_pod(containers=[make_container(ports=ports)])))
    assert (err.field, err.type) == ("spec.containers[0].ports[1].name", "FieldValueDuplicate")


@pytest.mark.parametrize("env, field", [
    ({"value": "x"}, "spec.containers[0].env[0].name"),
    ({"name": "1ABC"}, "spec.containers[0].env[0].name"),
    ({"name": "A B"}, "spec.containers[0].env[0].name"),
    ({"name": "X", "valueFrom": {}}, "spec.containers[0].env[0].valueFrom"),
    ({"name": "X", "value": "v", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
     "spec.containers[0].env[0].valueFrom"),
    ({"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.containers"}}},
     "spec.containers[0].env[0].valueFrom.fieldRef.fieldPath"),
    ({"name": "X", "valueFrom": {"resourceFieldRef": {"resource": "limits.gpu"}}},
     "spec.containers[0].env[0].valueFrom.resourceFieldRef.resource"),
    ({"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg"}}},
     "spec.containers[0].env[0].valueFrom.configMapKeyRef.key"),
])
def test_env_rules(env, field):
    errs = validate_pod(make_pod(containers=[make_container(env=[env])]))
    assert field in by_field(errs), [str(e) for e in errs]


def test_env_with_two_sources_is_rejected():
    source = {"fieldRef": {"fieldPath": "metadata.name"},
              "secretKeyRef": {"name": "s", "key": "k"}}
    errs = validate_pod(make_pod(containers=[make_container(env=[{"name": "X",
                                                                   "valueFrom": source}])]))
    assert "may not have more than one field specified at a time" in str(only_error(errs))


@pytest.mark.parametrize("resources, field, message", [
    ({"limits": {"cpu": "abc"}}, "spec.containers[0].resources.limits[cpu]",
     "quantities must match the regular expression"),
    ({"requests": {"memory": "-1Mi"}}, "spec.containers[0].resources.requests[memory]",
     "must be greater than or equal to 0"),
    ({"limits": {"gpu": "1"}}, "spec.containers[0].resources.limits[gpu]",
     "must be a standard resource for containers"),
    ({"requests": {"cpu": "2"}, "limits": {"cpu": "500m"}},
     "spec.containers[0].resources.requests[cpu]",
     "must be less than or equal to cpu limit of 500m"),
    ({"requests": {"memory": "1Gi"}, "limits": {"memory": "512Mi"}},
     "spec.containers[0].resources.requests[memory]",
     "must be less than or equal to memory limit of 512Mi"),
    ({"requests": {"hugepages-2Mi": "2Mi"}, "limits": {"hugepages-2Mi": "4Mi"}},
     "spec.containers[0].resources.requests[hugepages-2Mi]", "must be equal to"),
    ({"limits": {"example.com/dongle": "1.5"}},
     "spec.containers[0].resources.limits[example.com/dongle]", "must be an integer"),
])
def test_resource_rules(resources, field, message):
    errs = validate_pod(make_pod(containers=[make_container(resources=resources)]))
    err = only_error(errs)
    assert err.field == field
    assert message in str(err)


def test_request_equal_to_limit_and_extended_resources_are_fine():
    resources = {"requests": {"cpu": "500m", "memory": "128Mi"},
                 "limits": {"cpu": "0.5", "memory": "128Mi", "example.com/dongle": "2"}}
    assert validate_pod(make_pod(containers=[make_container(resources=resources)])) == []


@pytest.mark.parametrize("lifecycle, field, reason", [
    ({"postStart": {}}, "spec.containers[0].lifecycle.postStart", "FieldValueRequired"),
    ({"preStop": {"exec": {"command": ["x"]}, "httpGet": {"port": 80}}},
     "spec.containers[0].lifecycle.preStop.httpGet", "FieldValueForbidden"),
    ({"postStart": {"exec": {}}}, "spec.containers[0].lifecycle.postStart.exec.command",
     "FieldValueRequired"),
    ({"postStart": {"httpGet": {"port": 0}}},
     "spec.containers[0].lifecycle.postStart.httpGet.port", "FieldValueRequired"),
    ({"postStart": {"httpGet": {"port": 80, "scheme": "FTP"}}},
     "spec.containers[0].lifecycle.postStart.httpGet.scheme", "FieldValueNotSupported"),
    ({"postStart": {"tcpSocket": {"port": "HTTP"}}},
     "spec.containers[0].lifecycle.postStart.tcpSocket.port", "FieldValueInvalid"),
    ({"preStop": {"sleep": {"seconds": 60}}},
     "spec.containers[0].lifecycle.preStop.sleep", "FieldValueInvalid"),
])
def test_lifecycle_handlers_need_exactly_one_valid_action(lifecycle, field, reason):
    errs = validate_pod(make_pod(containers=[make_container(lifecycle=lifecycle)]))
    assert by_field(errs)[field].type == reason, [str(e) for e in errs]


def test_sleep_longer_than_the_grace_period_reads_like_upstream():
    lifecycle = {"preStop": {"sleep": {"seconds": 5}}}
    pod = make_pod(containers=[make_container(lifecycle=lifecycle)],
                   terminationGracePeriodSeconds=2)
    assert str(only_error(validate_pod(pod))) == (
        "spec.containers[0].lifecycle.preStop.sleep: Invalid value: 5: must be non-negative "
        "and less than terminationGracePeriodSeconds (2)")


def test_lifecycle_handler_without_action_says_so():
    errs = validate_pod(make_pod(containers=[make_container(lifecycle={"postStart": {}})]))
    assert str(only_error(errs)) == ("spec.containers[0].lifecycle.postStart: Required value: "
                                     "must specify a handler type")


@pytest.mark.parametrize("probe_key, probe, field", [
    ("livenessProbe", {}, "spec.containers[0].livenessProbe"),
    ("livenessProbe", {"exec": {"command": ["true"]}, "successThreshold": 2},
     "spec.containers[0].livenessProbe.successThreshold"),
    ("startupProbe", {"exec": {"command": ["true"]}, "successThreshold": 3},
     "spec.containers[0].startupProbe.successThreshold"),
    ("readinessProbe", {"tcpSocket": {"port": 80}, "periodSeconds": -1},
     "spec.containers[0].readinessProbe.periodSeconds"),
    ("readinessProbe", {"tcpSocket": {"port": 80}, "initialDelaySeconds": -5},
     "spec.containers[0].readinessProbe.initialDelaySeconds"),
    ("livenessProbe", {"grpc": {"port": 0}}, "spec.containers[0].livenessProbe.grpc.port"),
    ("livenessProbe", {"exec": {"command": ["true"]}, "terminationGracePeriodSeconds": 0},
     "spec.containers[0].livenessProbe.terminationGracePeriodSeconds"),
])
def test_probe_rules(probe_key, probe, field):
    errs = validate_pod(make_pod(containers=[make_container(**{probe_key: probe})]))
    assert field in by_field(errs), [str(e) for e in errs]


def test_readiness_probe_may_need_several_successes():
    probe = {"exec": {"command": ["true"]}, "successThreshold": 3}
    assert validate_pod(make_pod(containers=[make_container(readinessProbe=probe)])) == []


def test_init_containers_may_not_have_probes():
    init = make_container(name="setup", readinessProbe={"exec": {"command": ["true"]}})
    err = only_error(validate_pod(make_pod(initContainers=[init])))
    assert (err.field, err.type) == ("spec.initContainers[0].readinessProbe",
                                     "FieldValueForbidden")


def test_volume_mounts_must_name_a_volume():
    ctr = make_container(volumeMounts=[{"name": "data", "mountPath": "/data"}])
    err = only_error(validate_pod(make_pod(containers=[ctr])))
    assert str(err) == 'spec.containers[0].volumeMounts[0].name: Not found: "data"'


def test_volume_names_must_be_unique():
    pod = make_pod(volumes=[{"name": "v", "emptyDir": {}}, {"name": "v", "emptyDir": {}}])
    assert only_error(validate_pod(pod)).field == "spec.volumes[1].name"


@pytest.mark.parametrize("volume, mount, message", [
    ({"name": "v"}, {}, "spec.volumes[0]: Required value: must specify a volume type"),
    ({"name": "v", "nfs": {"server": "s", "path": "/"}}, {},
     'spec.volumes[0]: Unsupported value: "nfs": supported values: "configMap", "emptyDir", '
     '"hostPath", "persistentVolumeClaim", "secret"'),
    ({"name": "v", "persistentVolumeClaim": {"readOnly": True}}, {},
     "spec.volumes[0].persistentVolumeClaim.claimName: Required value"),
    ({"name": "v", "secret": {"defaultMode": 0o1777}}, {},
     "spec.volumes[0].secret.secretName: Required value"),
    ({"name": "v", "secret": {"secretName": "s", "defaultMode": 0o1777}}, {},
     "spec.volumes[0].secret.defaultMode: Invalid value: 1023: must be a number between 0 "
     "and 0777 (octal), both inclusive"),
    ({"name": "v", "emptyDir": {}, "hostPath": {"path": "/tmp"}}, {},
     "spec.volumes[0].hostPath: Forbidden: may not specify more than 1 volume type"),
    ({"name": "v", "hostPath": {"path": "tmp/x"}}, {},
     'spec.volumes[0].hostPath.path: Invalid value: "tmp/x": must be an absolute path'),
    ({"name": "v", "hostPath": {"path": "/tmp", "type": "Folder"}}, {},
     'spec.volumes[0].hostPath.type: Unsupported value: "Folder": supported values: '
     '"DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", '
     '"BlockDevice"'),
    ({"name": "v", "emptyDir": {"medium": "Disk"}}, {},
     'spec.volumes[0].emptyDir.medium: Unsupported value: "Disk": supported values: "", '
     '"Memory"'),
    ({"name": "v", "configMap": {"items": [{"key": "a", "path": "../a"}]}}, {},
     "spec.volumes[0].configMap.name: Required value"),
    ({"name": "v", "emptyDir": {}}, {"mountPath": "data"},
     'spec.containers[0].volumeMounts[0].mountPath: Invalid value: "data": must be an '
     "absolute path"),
    ({"name": "v", "emptyDir": {}}, {"subPath": "../../etc"},
     'spec.containers[0].volumeMounts[0].subPath: Invalid value: "../../etc": must not '
     "contain '..'"),
])
def test_volume_rules_name_the_field(volume, mount, message):
    ctr = make_container(volumeMounts=[{"name": "v", "mountPath": "/data", **mount}])
    errs = [str(e) for e in validate_pod(make_pod(containers=[ctr], volumes=[volume]))]
    assert message in errs, errs


@pytest.mark.parametrize("toleration, field", [
    ({"operator": "Equal", "value": "x"}, "spec.tolerations[0].operator"),
    ({"key": "k", "operator": "Exists", "value": "x"}, "spec.tolerations[0].operator"),
    ({"key": "k", "operator": "Maybe"}, "spec.tolerations[0].operator"),
    ({"key": "k", "effect": "Sometimes"}, "spec.tolerations[0].effect"),
    ({"key": "k", "effect": "NoSchedule", "tolerationSeconds": 5}, "spec.tolerations[0].effect"),
    ({"key": "bad key"}, "spec.tolerations[0].key"),
])
def test_toleration_rules(toleration, field):
    errs = validate_pod(make_pod(tolerations=[toleration]))
    assert field in by_field(errs), [str(e) for e in errs]


def test_wrong_json_types_are_reported_not_crashed_on():
    pod = make_pod(containers=[make_container(ports="80", env={"A": "b"}, resources=[1])])
    fields = set(by_field(validate_pod(pod)))
    assert {"spec.containers[0].ports", "spec.containers[0].env",
            "spec.containers[0].resources"} <= fields
    assert validate_pod("not a pod")
    assert validate_pod({"kind": "Pod", "spec": None, "metadata": 3})


def test_generate_name_replaces_name():
    pod = make_pod()
    pod["metadata"] = {"generateName": "web-"}
    assert validate_pod(pod) == []


# --- the error message ----------------------------------------------------------------------

def test_validation_error_reads_like_the_api_server():
    pod = make_pod()
    pod["metadata"]["name"] = "x"
    pod["spec"]["containers"][0].pop("image")
    pod["spec"]["restartPolicy"] = "Sometimes"
    with pytest.raises(ValidationError) as err:
        check_pod(pod)
    assert isinstance(err.value, MinikubeError)
    assert str(err.value) == (
        'Pod "x" is invalid: [spec.containers[0].image: Required value, spec.restartPolicy: '
        'Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"]')
    assert (err.value.kind, err.value.name, len(err.value.causes)) == ("Pod", "x", 2)


def test_single_error_has_no_brackets_and_group_is_shown():
    dep = make_deployment(replicas=-1)
    with pytest.raises(ValidationError) as err:
        check_object(dep)
    assert str(err.value) == ('Deployment.apps "web" is invalid: spec.replicas: Invalid value: '
                              '-1: must be greater than or equal to 0')


def test_causes_and_status_follow_the_status_shape():
    pod = make_pod()
    pod["metadata"]["name"] = "Bad_Name"
    with pytest.raises(ValidationError) as err:
        check_pod(pod)
    cause = err.value.causes[0].to_cause()
    assert cause["reason"] == "FieldValueInvalid"
    assert cause["field"] == "metadata.name"
    assert cause["message"].startswith('Invalid value: "Bad_Name": a lowercase RFC 1123 '
                                       'subdomain must consist of')
    status = err.value.to_status()
    assert (status["kind"], status["reason"], status["code"]) == ("Status", "Invalid", 422)
    assert status["details"]["causes"] == [cause]


# --- deployments and replica sets -----------------------------------------------------------

def test_a_deployment_is_valid():
    assert validate_deployment(make_deployment()) == []


@pytest.mark.parametrize("change, field, message", [
    ({"selector": None}, "spec.selector", "Required value"),
    ({"selector": {}}, "spec.selector", "empty selector is invalid"),
    ({"selector": {"matchLabels": {"app": "other"}}}, "spec.template.metadata.labels",
     "`selector` does not match template `labels`"),
    ({"replicas": -1}, "spec.replicas", "must be greater than or equal to 0"),
    ({"revisionHistoryLimit": -2}, "spec.revisionHistoryLimit",
     "must be greater than or equal to 0"),
    ({"minReadySeconds": 700, "progressDeadlineSeconds": 600}, "spec.progressDeadlineSeconds",
     "must be greater than minReadySeconds"),
    ({"strategy": {"type": "Canary"}}, "spec.strategy.type", "Unsupported value"),
    ({"strategy": {"type": "Recreate", "rollingUpdate": {}}}, "spec.strategy.rollingUpdate",
     "may not be specified when strategy `type` is 'Recreate'"),
    ({"strategy": {"rollingUpdate": {"maxSurge": 0, "maxUnavailable": "0%"}}},
     "spec.strategy.rollingUpdate.maxUnavailable", "may not be 0 when `maxSurge` is 0"),
    ({"strategy": {"rollingUpdate": {"maxSurge": "lots"}}},
     "spec.strategy.rollingUpdate.maxSurge", "must be an integer or percentage (e.g '5%')"),
    ({"strategy": {"rollingUpdate": {"maxUnavailable": "150%"}}},
     "spec.strategy.rollingUpdate.maxUnavailable", "must not be greater than 100%"),
    ({"selector": {"matchExpressions": [{"key": "app", "operator": "In"}]}},
     "spec.selector.matchExpressions[0].values", "Required value"),
])
def test_each_deployment_rule_reports_its_field(change, field, message):
    dep = make_deployment(**change)
    if change.get("selector") is None and "selector" in change:
        dep["spec"].pop("selector")
    errs = by_field(validate_deployment(dep))
    assert field in errs, list(errs)
    assert message in str(errs[field])


def test_deployment_template_errors_carry_the_full_path():
    dep = make_deployment()
    dep["spec"]["template"]["spec"]["containers"][0].pop("image")
    err = only_error(validate_deployment(dep))
    assert str(err) == "spec.template.spec.containers[0].image: Required value"


def test_deployment_template_must_restart_always():
    dep = make_deployment()
    dep["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    err = only_error(validate_deployment(dep))
    assert str(err) == ('spec.template.spec.restartPolicy: Unsupported value: "Never": '
                        'supported values: "Always"')


def test_replica_set_rules():
    rs = make_deployment()
    rs["kind"] = "ReplicaSet"
    assert validate_replica_set(rs) == []
    rs["spec"]["selector"] = {"matchLabels": {"app": "x"}}
    rs["spec"]["replicas"] = -3
    assert set(by_field(validate_replica_set(rs))) == {"spec.replicas",
                                                        "spec.template.metadata.labels"}


# --- services and endpoints -----------------------------------------------------------------

def test_a_service_is_valid():
    assert validate_service(make_service()) == []
    assert validate_service(make_service(clusterIP="None", ports=[])) == []
    assert validate_service(make_service(type="NodePort", ports=[
        {"name": "http", "port": 80, "targetPort": "http", "nodePort": 30080},
        {"name": "dns", "port": 53, "protocol": "UDP"}])) == []


@pytest.mark.parametrize("change, field, reason", [
    ({"ports": []}, "spec.ports", "FieldValueRequired"),
    ({"ports": [{"port": 0}]}, "spec.ports[0].port", "FieldValueInvalid"),
    ({"ports": [{"port": 80, "targetPort": 70000}]}, "spec.ports[0].targetPort",
     "FieldValueInvalid"),
    ({"ports": [{"port": 80, "targetPort": "web_port"}]}, "spec.ports[0].targetPort",
     "FieldValueInvalid"),
    ({"ports": [{"port": 80, "protocol": "HTTP"}]}, "spec.ports[0].protocol",
     "FieldValueNotSupported"),
    ({"ports": [{"name": "a", "port": 80}, {"port": 81}]}, "spec.ports[1].name",
     "FieldValueRequired"),
    ({"ports": [{"name": "a", "port": 80}, {"name": "a", "port": 81}]}, "spec.ports[1].name",
     "FieldValueDuplicate"),
    ({"ports": [{"name": "a", "port": 80}, {"name": "b", "port": 80}]}, "spec.ports[1]",
     "FieldValueDuplicate"),
    ({"type": "Public"}, "spec.type", "FieldValueNotSupported"),
    ({"ports": [{"port": 80, "nodePort": 30080}]}, "spec.ports[0].nodePort",
     "FieldValueForbidden"),
    ({"type": "NodePort", "ports": [{"port": 80, "nodePort": 8080}]}, "spec.ports[0].nodePort",
     "FieldValueInvalid"),
    ({"sessionAffinity": "Cookie"}, "spec.sessionAffinity", "FieldValueNotSupported"),
    ({"clusterIP": "10.96.0.300"}, "spec.clusterIP", "FieldValueInvalid"),
    ({"type": "NodePort", "clusterIP": "None"}, "spec.clusterIP", "FieldValueInvalid"),
    ({"selector": {"app": "a b"}}, "spec.selector", "FieldValueInvalid"),
    ({"type": "ExternalName", "ports": []}, "spec.externalName", "FieldValueRequired"),
])
def test_each_service_rule_reports_its_field(change, field, reason):
    errs = by_field(validate_service(make_service(**change)))
    assert field in errs, list(errs)
    assert errs[field].type == reason


def test_service_names_are_dns_1035_labels():
    svc = make_service()
    svc["metadata"]["name"] = "1web"
    err = only_error(validate_service(svc))
    assert err.field == "metadata.name"
    assert "a DNS-1035 label must consist of" in err.message


def test_node_port_range_message():
    svc = make_service(type="NodePort", ports=[{"port": 80, "nodePort": 80}])
    assert str(only_error(validate_service(svc))) == (
        "spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. "
        "The range of valid ports is 30000-32767")


def test_endpoints_rules():
    ep: dict[str, Any] = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web"},
                          "subsets": [{"addresses": [{"ip": "10.244.0.5"}],
                                       "ports": [{"port": 80}]}]}
    assert validate_endpoints(ep) == []
    broken = copy.deepcopy(ep)
    broken["subsets"][0]["addresses"].append({"ip": "pod-a"})
    broken["subsets"][0]["ports"] = [{"port": 80}, {"name": "b", "port": 0}]
    assert set(by_field(validate_endpoints(broken))) == {
        "subsets[0].addresses[1].ip", "subsets[0].ports[0].name", "subsets[0].ports[1].port"}


# --- the dispatcher -------------------------------------------------------------------------

def test_validate_object_dispatches_on_kind_and_rejects_unknown_kinds():
    assert validate_object(make_service()) == []
    assert validate_object({"apiVersion": "v1", "kind": "Namespace",
                            "metadata": {"name": "team-a"}}) == []
    bad_ns = validate_object({"apiVersion": "v1", "kind": "Namespace",
                              "metadata": {"name": "team.a"}})
    assert only_error(bad_ns).field == "metadata.name"
    bad_cm = validate_object({"apiVersion": "v1", "kind": "ConfigMap",
                              "metadata": {"name": "cfg"}, "data": {"a b": "x"}})
    assert only_error(bad_cm).field == "data"
    assert only_error(validate_object({"kind": "Widget"})).type == "FieldValueNotSupported"
