"""The smallest whole-cluster check: a Deployment becomes running pods with IPs."""

from __future__ import annotations

import pytest

from tests.e2e.clusterharness import TestCluster

pytestmark = [pytest.mark.root, pytest.mark.e2e]


def test_a_deployment_runs_pods_on_the_node(cluster: TestCluster):
    cluster.apply({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "smoke"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "smoke"}},
                 "template": {"metadata": {"labels": {"app": "smoke"}}, "spec": {
                     "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "c", "image": "busybox",
                                     "command": ["sleep", "1000"]}]}}},
    })
    pods = cluster.running_pods("app=smoke", 2)
    assert all(p["status"]["podIP"].startswith(cluster.pod_cidr[:-4]) for p in pods)
    assert {p["spec"]["nodeName"] for p in pods} == {cluster.node_name}
    # SIGUSR1 dumps every thread's stack into the log, and the cluster keeps running.
    dump = cluster.thread_dump()
    assert "Current thread" in dump or "Thread 0x" in dump, dump
    assert "cluster_cmds.py" in dump and "kubelet" in dump, dump
    cluster.client.request("GET", "/api/v1/namespaces/default/pods")


def test_only_the_api_server_may_call_the_kubelet(cluster: TestCluster):
    import urllib.error
    import urllib.request

    cluster.apply({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "talker"},
                   "spec": {"containers": [{"name": "c", "image": "busybox",
                                            "command": ["sh", "-c", "echo hi; sleep 1000"]}]}})
    cluster.running_pods("", 1)
    url = (f"http://{cluster.gateway}:{cluster.kubelet_port}"
           "/containerLogs/default/talker/c")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=5)
    assert refused.value.code == 401
    # ... from a pod, too (the bridge address is reachable from every pod).
    pod_try = cluster.mk("exec", "talker", "--", "sh", "-c",
                         f"timeout 5 wget -qO- {url} 2>&1; echo rc=$?", check=False)
    assert "hi" not in pod_try.stdout.replace("rc=", "")
    # Through the API server, which presents the token, the log is there.
    assert cluster.mk("logs", "talker").stdout == "hi\n"
