"""SyncPod in-process: rollback of a half-created pod, and create/delete cycles that leak
nothing. These call the kubelet's functions directly (no daemon) to count precisely."""

from __future__ import annotations

import time
import uuid

import pytest

import bridge
from minikube_py.api.pod import default_pod
from minikube_py.config import NodeConfig
from minikube_py.kubelet import podsandbox
from minikube_py.kubelet.sync import NodeContext, kill_pod, sync_pod
from runtime.cgroups import Resources, detect_driver
from runtime.images import ImageStore
from tests import leaks

pytestmark = pytest.mark.root


@pytest.fixture
def ctx(tmp_path, test_names, shared_image_store):
    import random

    config = NodeConfig(
        state_dir=str(tmp_path / "state"), log_dir=str(tmp_path / "logs"),
        prefix=test_names.prefix, bridge=test_names.bridge,
        pod_cidr=f"10.250.{random.randint(0, 255)}.0/24",
        cgroup_parent=test_names.cgroup_parent, nft_table=test_names.nft_table,
        image_store=shared_image_store, pod_pids_limit=128,
    )
    cgroups = detect_driver()
    context = NodeContext(config=config, images=ImageStore(config.images_dir),
                          cgroups=cgroups, events=lambda *a: None)
    bridge.ensure_bridge(config.network)
    cgroups.ensure(config.cgroup_parent, Resources())
    try:
        yield context
    finally:
        podsandbox.fail_after_step = None
        cgroups.kill_all(config.cgroup_parent)
        cgroups.delete(config.cgroup_parent)
        bridge.delete_bridge(config.network)


def two_container_pod(name: str) -> dict:
    pod = default_pod({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"terminationGracePeriodSeconds": 0, "containers": [
            {"name": "a", "image": "busybox", "command": ["sleep", "1000"]},
            {"name": "b", "image": "busybox", "command": ["sleep", "1000"]},
        ]},
    })
    pod["metadata"]["uid"] = str(uuid.uuid4())
    return pod


def sync_until_running(ctx: NodeContext, pod: dict, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = sync_pod(ctx, pod).status
        states = [c["state"] for c in status.get("containerStatuses", [])]
        if states and all("running" in s for s in states):
            return status
        time.sleep(0.02)
    raise AssertionError(f"pod did not start: {status}")


@pytest.mark.parametrize("step", ["network", "cgroup"])
def test_a_sandbox_that_fails_half_way_is_undone(ctx: NodeContext, step: str):
    pod = two_container_pod(f"fail-{step}")
    before = leaks.snapshot()

    def fail(done: str) -> None:
        if done == step:
            raise RuntimeError(f"injected failure after the {step} step")

    podsandbox.fail_after_step = fail
    with pytest.raises(RuntimeError, match="injected"):
        podsandbox.create_pod_sandbox(ctx.config, pod, ctx.cgroups)
    assert leaks.snapshot() == before
    assert bridge.allocations(ctx.config.network) == {}


def test_fifty_create_delete_cycles_leave_nothing_behind(ctx: NodeContext):
    # Warm up the image store and node-level objects so that they are in "before".
    ctx.images.ensure_image("busybox")
    before = leaks.snapshot()
    for i in range(50):
        pod = two_container_pod(f"cycle-{i}")
        sync_until_running(ctx, pod)
        kill_pod(ctx, pod["metadata"]["uid"], pod["metadata"]["name"], grace=0)
    after = leaks.snapshot()
    assert after == before
    assert bridge.allocations(ctx.config.network) == {}


def test_a_volume_that_cannot_be_set_up_is_retried_with_a_growing_back_off(ctx: NodeContext):
    pod = two_container_pod("no-map")
    pod["spec"]["volumes"] = [{"name": "settings", "configMap": {"name": "absent"}}]
    uid = pod["metadata"]["uid"]
    try:
        waits = [sync_pod(ctx, pod).resync_after for _ in range(4)]
        assert waits == [1.0, 2.0, 4.0, 8.0]  # a standalone node has no ConfigMaps at all
        status = sync_pod(ctx, pod).status
        assert all("waiting" in c["state"] for c in status["containerStatuses"])
    finally:
        kill_pod(ctx, uid, pod["metadata"]["name"], grace=0)
    assert uid not in ctx.mount_failures
