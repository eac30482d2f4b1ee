"""metrics.k8s.io: CPU rates from cumulative counters, the kubelet summary's parsing, and the
API server answering PodMetrics / NodeMetrics from a (stand-in) kubelet's ``/stats/summary``.

The stand-in kubelet reports a container that burns exactly a quarter of a core (its CPU
counter grows by 250 000 000 ns per second of wall time) and a node that burns 1.5 cores, so
the rates the API server computes can be checked against known numbers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from minikube_py.api.resources import must
from minikube_py.apiserver import discovery, metrics
from minikube_py.apiserver.server import APIServer
from minikube_py.client import ApiError, Client
from minikube_py.kubelet import stats
from tests.unit import standin_kubelet

PODS, NODES = must("pods"), must("nodes")
START = time.time()


# -- pure parts ---------------------------------------------------------------------------
def test_a_rate_is_the_cpu_time_used_between_two_samples_per_second() -> None:
    rates = metrics.CpuRates()
    rates.add("c", 100.0, 1_000_000_000)
    assert rates.rate("c") is None  # one sample says nothing about speed
    rates.add("c", 102.0, 1_500_000_000)
    assert rates.rate("c") == (250_000_000, 2.0)


def test_the_rate_uses_the_oldest_sample_inside_the_window() -> None:
    rates = metrics.CpuRates(window=15.0)
    for t, used in ((0.0, 0), (10.0, 10_000_000_000), (20.0, 30_000_000_000),
                    (30.0, 35_000_000_000)):
        rates.add("c", t, used)
    # 30 - 15 = 15: the sample at t=20 is the oldest within 15 s.
    assert rates.rate("c") == (500_000_000, 10.0)


def test_a_counter_that_goes_back_starts_over_and_close_samples_give_no_rate() -> None:
    rates = metrics.CpuRates()
    rates.add("c", 0.0, 9_000_000_000)
    rates.add("c", 1.0, 100)  # a restarted cgroup under the same key
    assert rates.rate("c") is None
    rates.add("c", 1.1, 200)  # only 0.1 s later: too close to trust
    assert rates.rate("c") is None
    rates.add("c", 3.0, 2_000_000_100)
    assert rates.rate("c") == (1_000_000_000, 2.0)


def test_a_sample_older_than_a_minute_is_no_base_for_a_rate() -> None:
    rates = metrics.CpuRates(keep=60.0)
    rates.add("c", 0.0, 0)
    rates.add("c", 61.0, 61_000_000_000)
    assert rates.rate("c") is None  # the API server samples again instead
    rates.add("c", 62.0, 61_500_000_000)
    assert rates.rate("c") == (500_000_000, 1.0)


def test_old_keys_are_forgotten() -> None:
    rates = metrics.CpuRates(keep=60.0)
    rates.add("gone", 0.0, 1)
    rates.add("here", 100.0, 1)
    rates.forget_before(100.0)
    assert list(rates.samples) == ["here"]


def test_quantities_are_nanocores_kibibytes_and_a_go_duration() -> None:
    assert metrics.cpu_quantity(1_234_567) == "1234567n"
    assert metrics.cpu_quantity(-5) == "0n"
    assert metrics.memory_quantity(10_485_760) == "10240Ki"
    assert metrics.memory_quantity(1_500) == "1Ki"
    assert metrics.go_duration(15.0) == "15s"
    assert metrics.go_duration(15.0172) == "15.017s"


def test_metrics_paths_parse_to_a_kind_namespace_and_name() -> None:
    p = metrics.PREFIX
    assert metrics.parse_path(f"{p}/nodes") == (metrics.NODE_METRICS, None, None)
    assert metrics.parse_path(f"{p}/nodes/n1") == (metrics.NODE_METRICS, None, "n1")
    assert metrics.parse_path(f"{p}/pods") == (metrics.POD_METRICS, None, None)
    assert metrics.parse_path(f"{p}/namespaces/dev/pods/web") == (metrics.POD_METRICS, "dev",
                                                                  "web")
    assert metrics.parse_path(f"{p}/namespaces/dev/services") is None
    assert metrics.parse_path(f"{p}/pods/a/b") is None


def test_proc_stat_busy_time_leaves_out_idle_and_iowait() -> None:
    text = "cpu  100 20 30 5000 400 6 7 8 9 0\ncpu0 50 10 15 2500 200 3 3 4 0 0\n"
    # user+nice+system+irq+softirq+steal = 100+20+30+6+7+8 = 171 ticks of 10 ms
    assert stats.parse_proc_stat_cpu_ns(text, 100) == 1_710_000_000


def test_meminfo_values_become_bytes() -> None:
    mem = stats.parse_meminfo("MemTotal:       2048 kB\nMemAvailable:    1024 kB\n"
                              "HugePages_Total:       0\n")
    assert mem == {"MemTotal": 2_097_152, "MemAvailable": 1_048_576, "HugePages_Total": 0}


def test_the_node_usage_of_this_machine_is_plausible() -> None:
    usage = stats.node_usage()
    assert usage["cpu"]["usageCoreNanoSeconds"] > 0
    memory = usage["memory"]
    assert 0 < memory["workingSetBytes"] <= memory["usageBytes"]
    assert memory["availableBytes"] > 0


def test_the_pod_reference_comes_from_the_log_directory_name() -> None:
    uid = "0f6c3e2a-0000-4000-8000-000000000001"
    path = f"/var/log/pods/dev_web-1_{uid}/nginx/0.log"
    assert stats.pod_ref_from_log_path(path) == ("dev", "web-1", uid)
    assert stats.pod_ref_from_log_path("/tmp/x.log") is None


def test_discovery_lists_the_metrics_group_in_both_shapes() -> None:
    aggregated = discovery.aggregated(False, "v2")
    group = next(i for i in aggregated["items"] if i["metadata"]["name"] == "metrics.k8s.io")
    kinds = {r["resource"]: (r["responseKind"]["kind"], r["scope"], r["verbs"])
             for r in group["versions"][0]["resources"]}
    assert kinds == {"pods": ("PodMetrics", "Namespaced", ["get", "list"]),
                     "nodes": ("NodeMetrics", "Cluster", ["get", "list"])}
    legacy = discovery.api_resource_list("metrics.k8s.io", "v1beta1")
    assert legacy is not None
    assert [r["name"] for r in legacy["resources"]] == ["pods", "nodes"]
    assert "metrics.k8s.io" in [g["name"] for g in discovery.api_group_list()["groups"]]


# -- through the API server ---------------------------------------------------------------
def summary_now(pod_uid: str) -> dict[str, Any]:
    t = time.time()
    stamp = stats.rfc3339(t)
    elapsed = t - START
    container = {"name": "web", "startTime": stats.rfc3339(START),
                 "cpu": {"time": stamp, "usageCoreNanoSeconds": int(250_000_000 * elapsed)},
                 "memory": {"time": stamp, "workingSetBytes": 10 * 1024 * 1024}}
    return {"node": {"nodeName": "node-1",
                     "cpu": {"time": stamp,
                             "usageCoreNanoSeconds": int(1_500_000_000 * elapsed)},
                     "memory": {"time": stamp, "workingSetBytes": 512 * 1024 * 1024}},
            "pods": [{"podRef": {"name": "web", "namespace": "default", "uid": pod_uid},
                      "containers": [container]}]}


class StandInKubelet(standin_kubelet.StandInKubelet):
    """``GET /stats/summary`` on 127.0.0.1, counting the requests it gets."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0
        self.pod_uid = ""

    async def summary(self, request: web.Request) -> web.Response:
        self.requests += 1
        return web.json_response(summary_now(self.pod_uid))

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/stats/summary", self.summary)


@pytest.fixture()
def api(tmp_path: Path) -> Iterator[tuple[Client, StandInKubelet]]:
    kubelet = StandInKubelet()
    kubelet.start()
    server = APIServer(str(tmp_path / "store.db"), port=0)
    server.start()
    client = Client(server.url)
    client.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {
        "name": "node-1", "labels": {"kubernetes.io/hostname": "node-1"}},
        "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                   "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet.port}}}})
    for name, node in (("web", "node-1"), ("idle", None)):
        spec: dict[str, Any] = {"containers": [{"name": "web", "image": "nginx"}]}
        if node:
            spec["nodeName"] = node
        client.create(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": name, "labels": {"app": name}}, "spec": spec}, "default")
    kubelet.pod_uid = client.get(PODS, "web", "default")["metadata"]["uid"]
    try:
        yield client, kubelet
    finally:
        server.stop()
        kubelet.stop()


def cores(quantity: str) -> float:
    assert quantity.endswith("n"), quantity
    return int(quantity[:-1]) / 1e9


def test_pod_metrics_report_the_cpu_rate_and_working_set(api: tuple[Client, StandInKubelet]
                                                         ) -> None:
    client, kubelet = api
    listed = client.request("GET", f"{metrics.PREFIX}/namespaces/default/pods")
    assert listed["kind"] == "PodMetricsList"
    assert [m["metadata"]["name"] for m in listed["items"]] == ["web"]  # idle is unscheduled
    item = listed["items"][0]
    assert item["metadata"]["labels"] == {"app": "web"}
    usage = item["containers"][0]["usage"]
    assert cores(usage["cpu"]) == pytest.approx(0.25, rel=0.05)
    assert usage["memory"] == "10240Ki"
    assert item["window"].endswith("s")
    assert kubelet.requests == 2  # the first look needs two samples


def test_a_second_look_reuses_the_remembered_sample(api: tuple[Client, StandInKubelet]) -> None:
    client, kubelet = api
    client.request("GET", f"{metrics.PREFIX}/namespaces/default/pods")
    time.sleep(0.6)
    one = client.request("GET", f"{metrics.PREFIX}/namespaces/default/pods/web")
    assert one["kind"] == "PodMetrics" and one["metadata"]["namespace"] == "default"
    assert kubelet.requests == 3
    assert cores(one["containers"][0]["usage"]["cpu"]) == pytest.approx(0.25, rel=0.05)


def test_label_selectors_and_missing_pods(api: tuple[Client, StandInKubelet]) -> None:
    client, _ = api
    path = f"{metrics.PREFIX}/namespaces/default/pods"
    assert client.request("GET", path, {"labelSelector": "app=other"})["items"] == []
    assert len(client.request("GET", f"{metrics.PREFIX}/pods",
                              {"labelSelector": "app=web"})["items"]) == 1
    with pytest.raises(ApiError) as e:
        client.request("GET", f"{path}/idle")
    assert e.value.code == 404
    assert 'podmetrics.metrics.k8s.io "default/idle" not found' in str(e.value)


def test_node_metrics_report_the_node_usage(api: tuple[Client, StandInKubelet]) -> None:
    client, _ = api
    listed = client.request("GET", f"{metrics.PREFIX}/nodes")
    assert listed["kind"] == "NodeMetricsList"
    node = listed["items"][0]
    assert node["metadata"]["name"] == "node-1"
    assert cores(node["usage"]["cpu"]) == pytest.approx(1.5, rel=0.05)
    assert node["usage"]["memory"] == f"{512 * 1024}Ki"
    with pytest.raises(ApiError) as e:
        client.request("POST", f"{metrics.PREFIX}/nodes", body={})
    assert e.value.code == 405
