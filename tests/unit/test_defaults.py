"""Defaults: what the API server fills in, compared field by field with upstream's values."""

from __future__ import annotations

import copy

import pytest

from minikube_py.api import default_object
from minikube_py.api.pod import default_pod, image_pull_policy, validate_pod
from minikube_py.api.service import default_endpoints, default_service
from minikube_py.api.workloads import default_deployment, default_replica_set


def pod_manifest(**container):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
            "spec": {"containers": [{"name": "app", "image": "busybox", **container}]}}


def test_pod_spec_defaults_match_upstream():
    spec = default_pod(pod_manifest())["spec"]
    assert spec["restartPolicy"] == "Always"
    assert spec["terminationGracePeriodSeconds"] == 30
    assert spec["dnsPolicy"] == "ClusterFirst"
    assert spec["schedulerName"] == "default-scheduler"
    assert spec["securityContext"] == {}
    assert spec["enableServiceLinks"] is True


def test_pod_namespace_defaults_to_default_and_status_is_left_alone():
    pod = default_pod(pod_manifest())
    assert pod["metadata"]["namespace"] == "default"
    assert "status" not in pod
    mine = pod_manifest()
    mine["metadata"]["namespace"] = "team-a"
    assert default_pod(mine)["metadata"]["namespace"] == "team-a"


def test_container_defaults_match_upstream():
    ctr = default_pod(pod_manifest(ports=[{"containerPort": 80}]))["spec"]["containers"][0]
    assert ctr["terminationMessagePath"] == "/dev/termination-log"
    assert ctr["terminationMessagePolicy"] == "File"
    assert ctr["resources"] == {}
    assert ctr["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert ctr["imagePullPolicy"] == "Always"


@pytest.mark.parametrize("image, policy", [
    ("busybox", "Always"), ("busybox:latest", "Always"), ("nginx:1.25", "IfNotPresent"),
    ("localhost:5000/app", "Always"), ("localhost:5000/app:v2", "IfNotPresent"),
    ("busybox@sha256:" + "a" * 64, "IfNotPresent"), ("docker.io/library/nginx:latest", "Always"),
])
def test_image_pull_policy_depends_on_the_tag(image, policy):
    assert image_pull_policy(image) == policy


def test_explicit_values_are_kept():
    manifest = pod_manifest(imagePullPolicy="Never",
                            terminationMessagePolicy="FallbackToLogsOnError")
    manifest["spec"]["restartPolicy"] = "Never"
    pod = default_pod(manifest)
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["containers"][0]["imagePullPolicy"] == "Never"
    assert pod["spec"]["containers"][0]["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_probe_and_http_get_defaults():
    probe = {"httpGet": {"port": 80}}
    ctr = default_pod(pod_manifest(livenessProbe=probe, readinessProbe={
        "exec": {"command": ["true"]}, "periodSeconds": 0}))["spec"]["containers"][0]
    assert ctr["livenessProbe"] == {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
                                    "timeoutSeconds": 1, "periodSeconds": 10,
                                    "successThreshold": 1, "failureThreshold": 3}
    assert ctr["readinessProbe"]["periodSeconds"] == 10  # 0 means "not set", as upstream


def test_requests_default_to_limits_in_pods():
    resources = {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "100m"}}
    ctr = default_pod(pod_manifest(resources=resources))["spec"]["containers"][0]
    assert ctr["resources"]["requests"] == {"cpu": "100m", "memory": "128Mi"}


def test_host_network_copies_container_ports_to_host_ports():
    manifest = pod_manifest(ports=[{"containerPort": 8080}])
    manifest["spec"]["hostNetwork"] = True
    port = default_pod(manifest)["spec"]["containers"][0]["ports"][0]
    assert port["hostPort"] == 8080


def test_defaulting_copies_and_is_idempotent():
    manifest = pod_manifest()
    before = copy.deepcopy(manifest)
    once = default_pod(manifest)
    assert manifest == before
    assert default_pod(once) == once
    assert validate_pod(once) == []


def test_deployment_defaults_match_upstream():
    dep = default_deployment({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "app", "image": "nginx:1.25",
                                                       "resources": {"limits": {"cpu": "1"}}}]}}},
    })
    spec = dep["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "RollingUpdate",
                                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    assert "minReadySeconds" not in spec  # upstream omits a zero
    template_spec = spec["template"]["spec"]
    assert template_spec["restartPolicy"] == "Always"
    ctr = template_spec["containers"][0]
    assert ctr["imagePullPolicy"] == "IfNotPresent"
    assert "requests" not in ctr["resources"]  # only Pods copy limits to requests
    assert "namespace" not in spec["template"]["metadata"]


def test_recreate_strategy_gets_no_rolling_update():
    dep = default_deployment({"kind": "Deployment", "spec": {"strategy": {"type": "Recreate"}}})
    assert dep["spec"]["strategy"] == {"type": "Recreate"}


def test_replica_set_defaults():
    rs = default_replica_set({"kind": "ReplicaSet", "metadata": {"name": "web"},
                              "spec": {"template": {"spec": {"containers": []}}}})
    assert rs["spec"]["replicas"] == 1
    assert rs["spec"]["template"]["spec"]["dnsPolicy"] == "ClusterFirst"
    assert "strategy" not in rs["spec"]


def test_service_defaults_match_upstream():
    svc = default_service({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                           "spec": {"ports": [{"port": 80}, {"port": 53, "targetPort": 5353,
                                                              "protocol": "UDP"}]}})
    spec = svc["spec"]
    assert spec["type"] == "ClusterIP"
    assert spec["sessionAffinity"] == "None"
    assert spec["internalTrafficPolicy"] == "Cluster"
    assert "externalTrafficPolicy" not in spec
    assert spec["ports"] == [{"port": 80, "protocol": "TCP", "targetPort": 80},
                             {"port": 53, "targetPort": 5353, "protocol": "UDP"}]
    assert svc["metadata"]["namespace"] == "default"


def test_node_port_services_get_an_external_traffic_policy():
    svc = default_service({"kind": "Service", "spec": {"type": "NodePort", "ports": []}})
    assert svc["spec"]["externalTrafficPolicy"] == "Cluster"


def test_endpoints_and_dispatcher_defaults():
    ep = default_endpoints({"kind": "Endpoints", "subsets": [{"ports": [{"port": 80}]}]})
    assert ep["subsets"][0]["ports"][0]["protocol"] == "TCP"
    assert default_object({"kind": "Pod", "spec": {"containers": []}})["spec"]["dnsPolicy"] == \
        "ClusterFirst"
    widget = {"kind": "Widget", "spec": {"a": 1}}
    assert default_object(widget) == widget and default_object(widget) is not widget
