# The client's models type every field as optional; a None where a value is due fails the
# test anyway, so these checks read the fields directly.
# mypy: disable-error-code="union-attr"
"""The official ``kubernetes`` Python client against ``minikube-py up``.

The client is configured exactly as a user would: from the kubeconfig ``up`` wrote
(``kubernetes.config.load_kube_config(config_file=...)``), plain http or TLS with the CA and
client certificate in it. Its responses are parsed into typed models (``V1Deployment``...), so
any field the API server leaves out where the client needs it fails here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.clusterharness import TestCluster

kubernetes = pytest.importorskip("kubernetes")
from kubernetes import client, config, watch  # noqa: E402
from kubernetes.stream import stream  # noqa: E402

pytestmark = [pytest.mark.root, pytest.mark.e2e]
NS = "default"


@pytest.fixture
def api(cluster: TestCluster) -> Iterator[client.ApiClient]:
    configuration = client.Configuration()
    config.load_kube_config(config_file=os.path.join(cluster.state, "kubeconfig"),
                            client_configuration=configuration)
    with client.ApiClient(configuration) as api_client:
        yield api_client


def busybox_deployment(name: str, replicas: int, image: str = "busybox"
                       ) -> client.V1Deployment:
    labels = {"app": name}
    container = client.V1Container(name="main", image=image, command=["sleep", "3600"])
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1DeploymentSpec(
            replicas=replicas, selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels),
                spec=client.V1PodSpec(termination_grace_period_seconds=1,
                                      containers=[container]))))


def running(pod: client.V1Pod) -> bool:
    statuses = pod.status.container_statuses or []
    return pod.status.phase == "Running" and bool(statuses) and all(s.ready for s in statuses)


def watch_until(list_fn: Any, check: Any, seconds: int = 60, **kwargs: Any) -> list[Any]:
    """Stream watch events until ``check(events so far)`` is true; those events."""
    events: list[Any] = []
    w = watch.Watch()
    for event in w.stream(list_fn, NS, timeout_seconds=seconds, **kwargs):
        events.append(event)
        if check(events):
            w.stop()
            return events
    raise AssertionError(f"watch ended before the condition held: "
                         f"{[(e['type'], e['object'].metadata.name) for e in events]}")


def test_the_client_reads_the_server_version(api: client.ApiClient) -> None:
    info = client.VersionApi(api).get_code()
    assert info.major == "1" and info.minor == "32"
    assert info.git_version.startswith("v1.32.")


def test_deployments_are_created_listed_watched_patched_and_deleted(
        api: client.ApiClient) -> None:
    apps, core = client.AppsV1Api(api), client.CoreV1Api(api)
    created = apps.create_namespaced_deployment(NS, busybox_deployment("py", 2))
    assert created.metadata.uid and created.metadata.generation == 1
    assert [d.metadata.name for d in apps.list_namespaced_deployment(NS).items] == ["py"]

    def two_running(events: list[Any]) -> bool:
        latest = {e["object"].metadata.name: e["object"] for e in events}
        return sum(running(p) for p in latest.values()) == 2

    events = watch_until(core.list_namespaced_pod, two_running, label_selector="app=py")
    assert events[0]["type"] == "ADDED"
    assert all(isinstance(e["object"], client.V1Pod) for e in events)

    patched = apps.patch_namespaced_deployment(  # a strategic merge patch, as kubectl sends
        "py", NS, {"spec": {"template": {"spec": {"containers": [
            {"name": "main", "image": "busybox:1.36"}]}}}})
    assert patched.metadata.generation == 2
    assert patched.spec.template.spec.containers[0].command == ["sleep", "3600"]

    def rolled_out(events: list[Any]) -> bool:
        d = events[-1]["object"]
        return (d.status.observed_generation or 0) >= 2 and \
            d.status.updated_replicas == 2 == d.status.available_replicas == \
            (d.status.replicas or 0)

    watch_until(apps.list_namespaced_deployment, rolled_out,
                field_selector="metadata.name=py")
    images = {p.spec.containers[0].image for p in
              core.list_namespaced_pod(NS, label_selector="app=py").items
              if p.metadata.deletion_timestamp is None}
    assert images == {"busybox:1.36"}

    scale = apps.patch_namespaced_deployment_scale("py", NS, {"spec": {"replicas": 1}})
    assert scale.spec.replicas == 1 and scale.status.selector == "app=py"
    last = apps.read_namespaced_deployment("py", NS)
    assert last.spec.replicas == 1

    apps.delete_namespaced_deployment("py", NS)
    # Watching from the last version seen, the deletion is an event even if it is done.
    gone = watch_until(apps.list_namespaced_deployment,
                       lambda events: events[-1]["type"] == "DELETED",
                       field_selector="metadata.name=py",
                       resource_version=last.metadata.resource_version)
    assert gone[-1]["object"].metadata.name == "py"
    with pytest.raises(client.ApiException) as missing:
        apps.read_namespaced_deployment("py", NS)
    assert missing.value.status == 404


def test_a_pod_is_created_patched_exec_d_into_and_deleted(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name="solo", labels={"app": "solo"}),
                       spec=client.V1PodSpec(termination_grace_period_seconds=1, containers=[
                           client.V1Container(name="c", image="busybox",
                                              command=["sleep", "3600"])]))
    assert core.create_namespaced_pod(NS, pod).status.phase == "Pending"
    watch_until(core.list_namespaced_pod, lambda events: running(events[-1]["object"]),
                field_selector="metadata.name=solo")

    out = stream(core.connect_get_namespaced_pod_exec, "solo", NS,
                 command=["sh", "-c", "echo hello from $(hostname)"],
                 stderr=True, stdin=False, stdout=True, tty=False)
    assert out == "hello from solo\n"
    session = stream(core.connect_get_namespaced_pod_exec, "solo", NS,
                     command=["sh", "-c", "echo oops >&2; exit 3"], stderr=True, stdin=False,
                     stdout=True, tty=False, _preload_content=False)
    session.run_forever(timeout=20)
    assert session.read_stderr() == "oops\n"
    assert session.returncode == 3

    core.patch_namespaced_pod("solo", NS, {"metadata": {"labels": {"tier": "demo"}}})
    last = core.read_namespaced_pod("solo", NS)
    assert last.metadata.labels == {"app": "solo", "tier": "demo"}
    assert [p.metadata.name for p in
            core.list_namespaced_pod(NS, label_selector="tier=demo").items] == ["solo"]

    core.delete_namespaced_pod("solo", NS)
    watch_until(core.list_namespaced_pod, lambda events: events[-1]["type"] == "DELETED",
                field_selector="metadata.name=solo",
                resource_version=last.metadata.resource_version)
    assert core.list_namespaced_pod(NS, label_selector="app=solo").items == []
