"""Graceful termination on a real node: the preStop hook, then SIGTERM, then — only after
the grace period — SIGKILL. A container that handles SIGTERM gets to run its handler and
stops early; one that ignores it is killed when the grace period is over (measured)."""

from __future__ import annotations

import os
import time

import pytest

from minikube_py import node as nodelib
from tests.node.nodeharness import TestNode, busybox_pod

pytestmark = pytest.mark.root


def log_path(node: TestNode, pod: dict) -> str:
    meta = pod["metadata"]
    return os.path.join(node.logs, f"default_{meta['name']}_{meta['uid']}", "main", "0.log")


def delete_and_time(node: TestNode, pod: dict, timeout: float = 30.0) -> float:
    """Remove the pod as ``node delete`` does; seconds until the node has no trace of it."""
    config = nodelib.load_config(node.state)
    pod_dir = config.pod_dir(pod["metadata"]["uid"])
    started = time.monotonic()
    nodelib.remove_pod(config, pod)
    while os.path.exists(pod_dir):
        assert time.monotonic() - started < timeout, "the pod was not removed"
        time.sleep(0.01)
    return time.monotonic() - started


def test_a_container_that_traps_sigterm_runs_its_handler_after_the_pre_stop_hook(
        node: TestNode):
    command = ("trap 'echo got SIGTERM; exit 0' TERM; echo started; "
               "while true; do sleep 0.1; done")
    pre_stop = {"exec": {"command": ["sh", "-c", "echo pre-stop ran > /proc/1/fd/1"]}}
    pod = node.run_pod(busybox_pod("trap", command, terminationGracePeriodSeconds=10,
                                   container={"lifecycle": {"preStop": pre_stop}}))
    with open(log_path(node, pod)) as log:  # stays readable after the pod's logs are gone
        took = delete_and_time(node, pod)
        lines = [line.split(" ", 3)[-1].strip() for line in log]
    assert lines == ["started", "pre-stop ran", "got SIGTERM"]
    assert took < 5, f"a container that exits on SIGTERM must not wait the 10 s grace ({took})"


def test_a_container_that_ignores_sigterm_is_killed_after_the_grace_period(node: TestNode):
    grace = 2
    pod = node.run_pod(busybox_pod("stubborn", "exec sleep 1000",
                                   terminationGracePeriodSeconds=grace))
    took = delete_and_time(node, pod)
    # pid 1 of a pid namespace ignores a signal it has no handler for: SIGTERM does nothing,
    # the SIGKILL comes when the grace period is over.
    assert grace <= took < grace + 2, f"stopped after {took:.2f}s, grace {grace}s"


def test_a_sleep_pre_stop_hook_delays_the_sigterm(node: TestNode):
    command = "trap 'exit 0' TERM; while true; do sleep 0.1; done"
    pod = node.run_pod(busybox_pod("sleepy", command, terminationGracePeriodSeconds=10,
                                   container={"lifecycle": {"preStop": {"sleep": {
                                       "seconds": 1}}}}))
    took = delete_and_time(node, pod)
    assert 1 <= took < 4, f"stopped after {took:.2f}s"
