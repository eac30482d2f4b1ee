"""Tables for ``kubectl get``: the shape kubectl reads and the cells it prints as sent."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from minikube_py.api.resources import Resource, lookup
from minikube_py.apiserver.tables import age, human_duration, row_cells, table

NOW = datetime(2024, 5, 10, 12, 0, 0, tzinfo=timezone.utc).timestamp()


def ago(seconds: int) -> str:
    moment = datetime.fromtimestamp(NOW - seconds, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def resource(name: str) -> Any:
    found = lookup(name)
    assert found is not None
    return found


def cells(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Cells of one row keyed by column name, for readable assertions."""
    result = table(resource(kind), [obj], now=NOW)
    names = [c["name"] for c in result["columnDefinitions"]]
    row = result["rows"][0]["cells"]
    assert len(row) == len(names), "every column needs a cell"
    return dict(zip(names, row, strict=True))


# ------------------------------------------------------------------------------- ages

@pytest.mark.parametrize(("seconds", "text"), [
    (-5, "<invalid>"), (-1.5, "0s"), (0, "0s"), (45, "45s"), (119, "119s"), (120, "2m"),
    (310, "5m10s"), (599, "9m59s"), (600, "10m"), (179 * 60, "179m"), (3 * 3600, "3h"),
    (3 * 3600 + 5 * 60, "3h5m"), (8 * 3600 + 59, "8h"), (47 * 3600, "47h"), (48 * 3600, "2d"),
    (51 * 3600, "2d3h"), (8 * 86400, "8d"), (400 * 86400, "400d"), (730 * 86400, "2y"),
    (800 * 86400, "2y70d"), (9 * 365 * 86400, "9y"),
])
def test_human_duration_follows_upstream(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_age_reads_rfc3339_timestamps_and_unknown_when_missing() -> None:
    assert age(ago(310), NOW) == "5m10s"
    assert age("2024-05-10T11:59:15.123456789Z", NOW) == "44s"
    assert age(None, NOW) == "<unknown>" and age("", NOW) == "<unknown>"


# ------------------------------------------------------------------------ table shape


def pod(name: str = "nginx-abc", **status: Any) -> dict[str, Any]:
    return {"kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": "default", "creationTimestamp": ago(300),
                         "labels": {"app": "nginx"}},
            "spec": {"containers": [{"name": "nginx", "image": "nginx"}]},
            "status": status}


def test_table_shape_matches_what_kubectl_reads() -> None:
    result = table(resource("pods"), [pod()], resource_version="42", now=NOW)
    assert result["kind"] == "Table" and result["apiVersion"] == "meta.k8s.io/v1"
    assert result["metadata"] == {"resourceVersion": "42"}
    first = result["columnDefinitions"][0]
    assert set(first) == {"name", "type", "format", "description", "priority"}
    assert first["name"] == "Name" and first["format"] == "name"
    names = [(c["name"], c["priority"]) for c in result["columnDefinitions"]]
    assert names == [("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0),
                     ("IP", 1), ("Node", 1), ("Nominated Node", 1), ("Readiness Gates", 1)]


def test_row_object_follows_include_object() -> None:
    obj = pod()
    meta = table(resource("pods"), [obj], now=NOW)["rows"][0]["object"]
    assert meta == {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                    "metadata": obj["metadata"]}
    assert table(resource("pods"), [obj], "Object", now=NOW)["rows"][0]["object"] == obj
    assert "object" not in table(resource("pods"), [obj], "None", now=NOW)["rows"][0]


def test_an_empty_list_still_has_columns() -> None:
    result = table(resource("deployments"), [], now=NOW)
    assert result["rows"] == [] and result["columnDefinitions"][1]["name"] == "Ready"


# ------------------------------------------------------------------------- pod status


def running(ready: bool = True, restarts: int = 0, finished: str | None = None) -> dict:
    cs: dict[str, Any] = {"name": "nginx", "ready": ready, "restartCount": restarts,
                          "state": {"running": {"startedAt": ago(60)}}}
    if finished:
        cs["lastState"] = {"terminated": {"exitCode": 1, "finishedAt": finished}}
    return cs


def test_a_running_ready_pod() -> None:
    row = cells("pods", pod(phase="Running", podIP="10.244.0.5",
                            containerStatuses=[running()]))
    assert (row["Name"], row["Ready"], row["Status"], row["Restarts"], row["Age"]) == (
        "nginx-abc", "1/1", "Running", "0", "5m")
    assert row["IP"] == "10.244.0.5" and row["Node"] == "<none>"
    assert row["Nominated Node"] == "<none>" and row["Readiness Gates"] == "<none>"


def test_a_pending_pod_without_statuses_shows_its_phase() -> None:
    row = cells("pods", pod(phase="Pending"))
    assert (row["Ready"], row["Status"], row["Restarts"], row["IP"]) == (
        "0/1", "Pending", "0", "<none>")


@pytest.mark.parametrize(("state", "status"), [
    ({"waiting": {"reason": "ContainerCreating"}}, "ContainerCreating"),
    ({"waiting": {"reason": "CrashLoopBackOff"}}, "CrashLoopBackOff"),
    ({"waiting": {"reason": "ImagePullBackOff"}}, "ImagePullBackOff"),
    ({"terminated": {"reason": "Completed", "exitCode": 0}}, "Completed"),
    ({"terminated": {"reason": "Error", "exitCode": 1}}, "Error"),
    ({"terminated": {"exitCode": 3}}, "ExitCode:3"),
    ({"terminated": {"exitCode": 137, "signal": 9}}, "Signal:9"),
])
def test_container_states_become_the_status_column(state: dict, status: str) -> None:
    cs = {"name": "nginx", "ready": False, "restartCount": 0, "state": state}
    assert cells("pods", pod(phase="Running", containerStatuses=[cs]))["Status"] == status


def test_restarts_show_when_the_last_restart_happened() -> None:
    row = cells("pods", pod(phase="Running",
                           containerStatuses=[running(restarts=5, finished=ago(5))]))
    assert row["Restarts"] == "5 (5s ago)"


def test_init_containers_show_progress_and_failures() -> None:
    obj = pod(phase="Pending", initContainerStatuses=[
        {"name": "a", "restartCount": 0, "state": {"terminated": {"exitCode": 0}}},
        {"name": "b", "restartCount": 0, "state": {"running": {}}}])
    obj["spec"]["initContainers"] = [{"name": "a"}, {"name": "b"}]
    assert cells("pods", obj)["Status"] == "Init:1/2"
    obj["status"]["initContainerStatuses"][1]["state"] = {
        "waiting": {"reason": "CrashLoopBackOff"}}
    obj["status"]["initContainerStatuses"][1]["restartCount"] = 2
    row = cells("pods", obj)
    assert row["Status"] == "Init:CrashLoopBackOff" and row["Restarts"] == "2"
    obj["status"]["initContainerStatuses"][1]["state"] = {"terminated": {"exitCode": 2}}
    assert cells("pods", obj)["Status"] == "Init:ExitCode:2"


def test_a_pod_being_deleted_is_terminating() -> None:
    obj = pod(phase="Running", containerStatuses=[running()])
    obj["metadata"]["deletionTimestamp"] = ago(1)
    assert cells("pods", obj)["Status"] == "Terminating"
    obj["status"]["phase"] = "Succeeded"
    assert cells("pods", obj)["Status"] != "Terminating"


def test_completed_pods_carry_a_row_condition() -> None:
    done = pod(phase="Succeeded", containerStatuses=[
        {"name": "nginx", "ready": False, "restartCount": 0,
         "state": {"terminated": {"reason": "Completed", "exitCode": 0}}}])
    row = table(resource("pods"), [done], now=NOW)["rows"][0]
    assert row["cells"][2] == "Completed"
    assert row["conditions"][0]["type"] == "Completed"


def test_readiness_gates_and_nominated_node_in_wide_columns() -> None:
    obj = pod(phase="Running", nominatedNodeName="node-2",
              conditions=[{"type": "example.com/lb", "status": "True"}])
    obj["spec"]["readinessGates"] = [{"conditionType": "example.com/lb"},
                                     {"conditionType": "example.com/dns"}]
    obj["spec"]["nodeName"] = "node-1"
    row = cells("pods", obj)
    assert (row["Node"], row["Nominated Node"], row["Readiness Gates"]) == (
        "node-1", "node-2", "1/2")


# ---------------------------------------------------------------------- other kinds


def test_deployment_columns() -> None:
    deploy = {"metadata": {"name": "nginx", "creationTimestamp": ago(7200)},
              "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "nginx"}},
                       "template": {"spec": {"containers": [
                           {"name": "nginx", "image": "nginx:1.25"},
                           {"name": "log", "image": "busybox"}]}}},
              "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}}
    assert list(cells("deployments", deploy).values()) == [
        "nginx", "2/3", 3, 2, "120m", "nginx,log", "nginx:1.25,busybox", "app=nginx"]


def test_replicaset_columns_with_an_empty_status() -> None:
    rs = {"metadata": {"name": "nginx-5d4f", "creationTimestamp": ago(30)},
          "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "nginx",
                                                               "pod-template-hash": "5d4f"}},
                   "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}}}
    assert list(cells("rs", rs).values()) == [
        "nginx-5d4f", 2, 0, 0, "30s", "nginx", "nginx", "app=nginx,pod-template-hash=5d4f"]


def test_service_columns_for_cluster_ip_and_node_port() -> None:
    svc = {"metadata": {"name": "web", "creationTimestamp": ago(60)},
           "spec": {"type": "NodePort", "clusterIP": "10.96.0.20",
                    "selector": {"app": "web"},
                    "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"},
                              {"port": 53, "protocol": "UDP"}]}}
    assert list(cells("svc", svc).values()) == [
        "web", "NodePort", "10.96.0.20", "<none>", "80:30080/TCP,53/UDP", "60s", "app=web"]
    headless = {"metadata": {"name": "db"}, "spec": {"clusterIPs": ["None"],
                                                      "ports": [{"port": 8080}]}}
    row = cells("svc", headless)
    assert (row["Type"], row["Cluster-IP"], row["Port(s)"], row["Selector"], row["Age"]) == (
        "ClusterIP", "None", "8080/TCP", "<none>", "<unknown>")
    lb = {"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer", "ports": []}}
    assert cells("svc", lb)["External-IP"] == "<pending>"


def test_endpoints_column_shows_three_and_counts_the_rest() -> None:
    ips = [{"ip": f"10.244.0.{i}"} for i in range(2, 7)]
    ep: dict[str, Any] = {"metadata": {"name": "web"},
                          "subsets": [{"addresses": ips, "ports": [{"port": 80}]}]}
    assert cells("endpoints", ep)["Endpoints"] == (
        "10.244.0.2:80,10.244.0.3:80,10.244.0.4:80 + 2 more...")
    ep["subsets"][0]["addresses"] = ips[:2]
    assert cells("endpoints", ep)["Endpoints"] == "10.244.0.2:80,10.244.0.3:80"
    assert cells("endpoints", {"metadata": {"name": "x"}})["Endpoints"] == "<none>"


def test_node_columns() -> None:
    node: dict[str, Any] = {"metadata": {"name": "node-1", "creationTimestamp": ago(86400 * 3),
                         "labels": {"node-role.kubernetes.io/control-plane": ""}},
            "spec": {"unschedulable": True},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "addresses": [{"type": "InternalIP", "address": "10.0.0.4"}],
                       "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian 12",
                                    "kernelVersion": "6.1.0",
                                    "containerRuntimeVersion": "minikube-py://0.1.0"}}}
    assert list(cells("nodes", node).values()) == [
        "node-1", "Ready,SchedulingDisabled", "control-plane", "3d", "v1.32.0", "10.0.0.4",
        "<none>", "Debian 12", "6.1.0", "minikube-py://0.1.0"]
    node["status"]["conditions"][0]["status"] = "Unknown"
    node["spec"] = {}
    node["metadata"]["labels"] = {}
    row = cells("nodes", node)
    assert (row["Status"], row["Roles"]) == ("NotReady", "<none>")
    assert cells("nodes", {"metadata": {"name": "n"}})["Status"] == "Unknown"


def test_event_columns() -> None:
    event = {"metadata": {"name": "nginx-abc.17c"}, "type": "Warning", "reason": "BackOff",
             "involvedObject": {"kind": "Pod", "name": "nginx-abc",
                                "fieldPath": "spec.containers{nginx}"},
             "message": " Back-off restarting failed container \n",
             "source": {"component": "kubelet", "host": "node-1"},
             "firstTimestamp": ago(600), "lastTimestamp": ago(20), "count": 7}
    assert list(cells("events", event).values()) == [
        "20s", "Warning", "BackOff", "pod/nginx-abc", "spec.containers{nginx}",
        "kubelet, node-1", "Back-off restarting failed container", "10m", 7, "nginx-abc.17c"]
    single = {"metadata": {"name": "e"}, "type": "Normal", "reason": "Scheduled",
              "involvedObject": {"kind": "Pod"}, "eventTime": "2024-05-10T11:59:50.000001Z"}
    row = cells("events", single)
    assert (row["Last Seen"], row["Object"], row["Count"], row["Source"]) == (
        "9s", "pod", 1, "")


def test_namespace_and_configmap_columns() -> None:
    ns = {"metadata": {"name": "default", "creationTimestamp": ago(90)},
          "status": {"phase": "Active"}}
    assert list(cells("ns", ns).values()) == ["default", "Active", "90s"]
    cm = {"metadata": {"name": "cfg", "creationTimestamp": ago(90)},
          "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}
    assert list(cells("cm", cm).values()) == ["cfg", 3, "90s"]


def test_unknown_kinds_get_name_and_created_at() -> None:
    widgets = Resource("example.com", "v1", "Widget", "widgets")
    widget = {"metadata": {"name": "w", "creationTimestamp": "2024-05-10T11:00:00Z"}}
    result = table(widgets, [widget], now=NOW)
    assert [(c["name"], c["type"]) for c in result["columnDefinitions"]] == [
        ("Name", "string"), ("Created At", "date")]
    assert result["rows"][0]["cells"] == ["w", "2024-05-10T11:00:00Z"]
    assert row_cells("Widget", {"metadata": {"name": "x"}}, NOW) == ["x", "0001-01-01T00:00:00Z"]
