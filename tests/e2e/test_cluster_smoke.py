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
