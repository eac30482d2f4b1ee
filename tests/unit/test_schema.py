"""Unknown-field detection and the hint for where a misplaced field belongs."""

from __future__ import annotations

import yaml

from minikube_py.api import validate_object
from minikube_py.api.schema import (
    SCHEMA,
    strict_decoding_message,
    unknown_field_message,
    unknown_fields,
    where_field_belongs,
)

# The seed study note's "Nginx-deployment.yml", word for word.
SEED_MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-deployment
spec:
  selector:
    matchLabels:
      app: nginx
  replicas: 1
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: nginx:latest
        ports:
        - containerPort: 80
---
apiVersion: v1
kind: Service
metadata:
  name: nginx-svc
spec:
  selector:
    app: nginx
  ports:
    - protocol: TCP
      port: 8080
      targetPort: 80
      type: NodePort # for external usage
"""


def seed_objects():
    return list(yaml.safe_load_all(SEED_MANIFEST))


def test_the_seed_deployment_is_clean():
    deployment = seed_objects()[0]
    assert unknown_fields(deployment) == []
    assert validate_object(deployment) == []


def test_the_seed_service_has_type_under_its_port():
    service = seed_objects()[1]
    assert validate_object(service) == []  # valid, but not what the author meant
    assert unknown_fields(service) == ["spec.ports[0].type"]
    assert unknown_field_message("spec.ports[0].type") == 'unknown field "spec.ports[0].type"'


def test_strict_decoding_message_matches_the_api_server():
    service = seed_objects()[1]
    service["spec"]["ports"][0]["targetport"] = 80
    assert strict_decoding_message(service, unknown_fields(service)) == (
        'Service in version "v1" cannot be handled as a Service: strict decoding error: '
        'unknown field "spec.ports[0].type", unknown field "spec.ports[0].targetport"')


def test_hint_moves_type_from_the_port_to_the_service_spec():
    assert where_field_belongs("spec.ports[0].type", "Service") == (
        "did you mean spec.type? (type is a field of the Service spec, not of a port)")


def test_unknown_fields_are_found_at_every_depth():
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", "label": {}},
           "spec": {"containers": [{"name": "a", "image": "b", "imagePullPolicy": "Never"},
                                   {"name": "c", "image": "d",
                                    "ports": [{"containerport": 80}],
                                    "livenessProbe": {"httpGet": {"port": 80, "paht": "/"}}}],
                    "restartpolicy": "Never"},
           "extra": 1}
    assert unknown_fields(pod) == [
        "metadata.label", "spec.containers[1].ports[0].containerport",
        "spec.containers[1].livenessProbe.httpGet.paht", "spec.restartpolicy", "extra"]


def test_inlined_and_open_types_are_handled():
    pod = {"kind": "Pod", "spec": {"containers": [{"readinessProbe": {
        "exec": {"command": ["true"]}, "periodSeconds": 3}}],
        "affinity": {"anything": {"goes": "here"}},
        "volumes": [{"name": "v", "hostPath": {"path": "/x", "type": "Directory"}}]},
        "status": {"phase": "Running", "containerStatuses": [{"whatever": 1}]}}
    assert unknown_fields(pod) == []


def test_free_form_maps_are_not_checked():
    svc = {"kind": "Service", "metadata": {"labels": {"any-key": "v"},
                                           "annotations": {"x/y": "z"}},
           "spec": {"selector": {"anything": "x"}}}
    assert unknown_fields(svc) == []
    cm = {"kind": "ConfigMap", "data": {"whatever": "x"}, "immutable": True}
    assert unknown_fields(cm) == []


def test_deployment_template_fields_are_checked():
    dep = seed_objects()[0]
    dep["spec"]["template"]["spec"]["containers"][0]["replicas"] = 3
    dep["spec"]["containers"] = []
    assert unknown_fields(dep) == ["spec.template.spec.containers[0].replicas",
                                   "spec.containers"]
    assert where_field_belongs("spec.template.spec.containers[0].replicas", "Deployment") == (
        "did you mean spec.replicas? (replicas is a field of the Deployment spec, "
        "not of a container)")
    assert where_field_belongs("spec.containers", "Deployment") == (
        "did you mean spec.template.spec.containers? (containers is a field of the Pod spec, "
        "not of the Deployment spec)")


def test_hint_for_a_field_one_level_too_high():
    assert where_field_belongs("spec.image", "Pod") == (
        "did you mean spec.containers[0].image? (image is a field of a container, "
        "not of the Pod spec)")


def test_hint_for_wrong_capitalisation():
    assert where_field_belongs("spec.containers[0].ports[0].containerport", "Pod") == (
        "did you mean containerPort? (field names are case-sensitive)")


def test_hint_without_a_kind_uses_the_kind_whose_types_fit():
    assert where_field_belongs("spec.ports[0].type") == (
        "did you mean spec.type? (type is a field of the Service spec, not of a port)")


def test_no_hint_when_nothing_fits():
    assert where_field_belongs("spec.flavour", "Pod") is None
    assert where_field_belongs("spec.ports[0].type", "Widget") is None


def test_unknown_kinds_and_non_objects_report_nothing():
    assert unknown_fields({"kind": "Widget", "spec": {"x": 1}}) == []
    assert unknown_fields(["not", "an", "object"]) == []


def test_every_type_the_table_refers_to_is_defined():
    for type_name, fields in SCHEMA.items():
        for name, child in fields.items():
            if child and child != "*":
                assert child.strip("[]") in SCHEMA, f"{type_name}.{name} -> {child}"


def test_table_knows_the_common_upstream_fields():
    assert {"containers", "initContainers", "volumes", "restartPolicy", "nodeName",
            "tolerations", "hostNetwork"} <= set(SCHEMA["PodSpec"])
    assert {"name", "image", "command", "args", "env", "ports", "resources",
            "livenessProbe", "lifecycle", "volumeMounts"} <= set(SCHEMA["Container"])
    assert set(SCHEMA["ServicePort"]) == {"name", "protocol", "appProtocol", "port",
                                          "targetPort", "nodePort"}
    assert {"exec", "httpGet", "tcpSocket", "grpc", "periodSeconds"} <= set(SCHEMA["Probe"])
