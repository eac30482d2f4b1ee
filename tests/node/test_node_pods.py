"""Pods on a standalone node, driven through the CLI the way a learner drives it."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests import leaks
from tests.node.nodeharness import TestNode, busybox_pod

pytestmark = pytest.mark.root


def running(pod) -> bool:
    return pod["status"].get("phase") == "Running" and all(
        c.get("ready") for c in pod["status"].get("containerStatuses", []))


def test_two_pods_get_their_own_netns_and_talk_over_the_bridge(node: TestNode):
    server = node.run_pod(busybox_pod(
        "server", "mkdir /www && echo hello-from-server > /www/index.html && "
                  "exec httpd -f -p 80 -h /www"))
    client = node.run_pod(busybox_pod("client", "exec sleep 1000"))
    assert running(server) and running(client)
    netns_list = subprocess.run(["ip", "netns", "list"], capture_output=True,
                                text=True).stdout
    info = {name: node.inspect(name) for name in ("server", "client")}
    for report in info.values():
        assert report["network"]["netns"] in netns_list
    links = subprocess.run(["bridge", "link"], capture_output=True, text=True).stdout
    for report in info.values():
        veth = report["network"]["host_veth"]
        assert f"{veth}@" in links and f"master {node.names.bridge}" in links
    page = node.exec("client", "wget", "-qO-", f"http://{server['status']['podIP']}/")
    assert page.stdout.strip() == "hello-from-server"
    for report in info.values():
        ping = subprocess.run(["ip", "netns", "exec", report["network"]["netns"], "ping",
                               "-c1", "-W2", node.gateway], capture_output=True, text=True)
        assert ping.returncode == 0, ping.stdout + ping.stderr


def test_the_container_is_isolated_from_the_host(node: TestNode, tmp_path):
    marker = tmp_path / "host-only-file"
    marker.write_text("secret")
    node.run_pod(busybox_pod("iso", "sleep 1000 & exec sleep 1001"))
    ps = node.exec("iso", "ps", "-o", "pid,args").stdout.splitlines()[1:]
    assert [line.split(None, 1) for line in ps] == [
        ["1", "sleep 1001"], ["2", "sleep 1000"], ["3", "ps -o pid,args"]]
    assert node.exec("iso", "ls", str(marker), check=False).returncode != 0
    mount = node.exec("iso", "mount", "-t", "tmpfs", "x", "/mnt", check=False)
    assert mount.returncode != 0
    assert node.exec("iso", "hostname").stdout.strip() == "iso"
    status = node.exec("iso", "cat", "/proc/1/status").stdout
    assert "NoNewPrivs:\t1" in status
    cap_bnd = int(next(ln for ln in status.splitlines() if ln.startswith("CapBnd")).split()[1],
                  16)
    assert not cap_bnd & (1 << 21), "CAP_SYS_ADMIN must be dropped"


def test_a_pod_past_its_memory_limit_is_oom_killed(node: TestNode):
    pod = busybox_pod(
        "hog", "a=$(head -c 100000000 /dev/zero | tr '\\0' x); echo survived",
        restartPolicy="Never",
        container={"resources": {"limits": {"memory": "20Mi"}}})
    node.run_pod(pod, wait=False)
    done = node.wait_for("hog", lambda p: p["status"].get("phase") in ("Failed", "Succeeded"))
    term = done["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["reason"] == "OOMKilled", term
    assert term["exitCode"] == 137


def test_a_fork_bomb_stops_at_the_pod_pids_limit(node: TestNode):
    # busybox sh gives up when fork fails, so the bomb dies at the limit and is restarted.
    node.run_pod(busybox_pod("bomb", "while true; do sleep 1000 & done"), wait=False)
    node.wait_for("bomb", lambda p: p["status"]["containerStatuses"][0]["restartCount"] >= 1)
    pids_dir = node.inspect("bomb")["pod_cgroup_paths"]["pids"]
    with open(os.path.join(pids_dir, "pids.max")) as f:
        assert f.read().strip() == "256"
    with open(os.path.join(pids_dir, "pids.peak")) as f:  # the most processes it ever had
        assert f.read().strip() == "256"
    log = node.cli("node", "logs", "bomb", "-p").stdout
    assert "can't fork: Resource temporarily unavailable" in log
    assert subprocess.run(["true"]).returncode == 0  # the node can still start processes
    node.cli("node", "delete", "bomb")


def test_a_busy_loop_under_a_fifth_of_a_cpu_uses_about_20_percent(node: TestNode):
    node.run_pod(busybox_pod("spin", "while :; do :; done",
                             container={"resources": {"limits": {"cpu": "200m"}}}))
    cgroup = node.inspect("spin")["containers"][0]["cgroup_paths"]["cpuacct"]

    def usage() -> int:
        with open(os.path.join(cgroup, "cpuacct.usage")) as f:
            return int(f.read())

    start_usage, start = usage(), time.monotonic()
    time.sleep(2.0)
    share = (usage() - start_usage) / ((time.monotonic() - start) * 1e9)
    assert 0.12 < share < 0.28, share


def test_init_containers_run_first_and_post_start_hooks_run(node: TestNode):
    pod = busybox_pod("ordered", "cat /proc/uptime; exec sleep 1000", container={
        "lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", "echo ok > /hook"]}}}})
    pod["spec"]["initContainers"] = [
        {"name": "first", "image": "busybox", "command": ["sh", "-c", "echo init-ran"]}]
    node.run_pod(pod)
    assert node.cli("node", "logs", "ordered", "-c", "first").stdout == "init-ran\n"
    assert node.exec("ordered", "cat", "/hook").stdout == "ok\n"
    status = node.pod("ordered")["status"]
    init = status["initContainerStatuses"][0]["state"]["terminated"]
    app = status["containerStatuses"][0]["state"]["running"]
    assert init["reason"] == "Completed" and app


def test_a_failing_init_container_keeps_the_app_from_starting(node: TestNode):
    pod = busybox_pod("blocked", "echo app-started; sleep 1000", restartPolicy="Never")
    pod["spec"]["initContainers"] = [
        {"name": "fails", "image": "busybox", "command": ["sh", "-c", "exit 3"]}]
    node.run_pod(pod, wait=False)
    done = node.wait_for("blocked", lambda p: p["status"].get("phase") == "Failed")
    assert "running" not in done["status"]["containerStatuses"][0]["state"]
    assert done["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 3
    listing = node.cli("node", "pods").stdout
    assert "Init:Error" in listing


def test_a_crashing_container_is_restarted_and_backs_off(node: TestNode):
    node.run_pod(busybox_pod("crash", "echo try; exit 1"), wait=False)
    pod = node.wait_for("crash", lambda p: p["status"]["containerStatuses"][0]
                        ["restartCount"] >= 3, timeout=30)
    c = pod["status"]["containerStatuses"][0]
    assert c["lastState"]["terminated"]["exitCode"] == 1
    node.wait_for("crash", lambda p: "CrashLoopBackOff" in str(p["status"]), timeout=10)
    assert node.cli("node", "logs", "crash", "-p").stdout == "try\n"


def test_logs_follow_and_exec_exit_codes(node: TestNode):
    node.run_pod(busybox_pod("talk", "for i in 1 2 3; do echo line $i; sleep 0.2; done; "
                                     "echo err >&2; sleep 1000"))
    follow = subprocess.Popen(
        [*node_argv(node), "node", "logs", "-f", "talk"], stdout=subprocess.PIPE, text=True)
    try:
        lines = [follow.stdout.readline() for _ in range(4)]
    finally:
        follow.kill()
        follow.wait()
    assert lines == ["line 1\n", "line 2\n", "line 3\n", "err\n"]
    assert node.exec("talk", "sh", "-c", "exit 7", check=False).returncode == 7


def node_argv(node: TestNode) -> list[str]:
    import sys
    return [sys.executable, "-m", "minikube_py", "--state-dir", node.state]


BAD_MANIFESTS = {
    "no image": ({"containers": [{"name": "a"}]}, "spec.containers[0].image"),
    "invalid name": ({"containers": [{"name": "Bad_Name", "image": "busybox"}]},
                     "spec.containers[0].name"),
    "duplicate names": ({"containers": [{"name": "a", "image": "busybox"},
                                        {"name": "a", "image": "busybox"}]},
                        "spec.containers[1].name"),
    "unknown image": ({"containers": [{"name": "a", "image": "no-such-image:1"}]},
                      "spec.containers[0].image"),
    "negative limit": ({"containers": [{"name": "a", "image": "busybox", "resources": {
        "limits": {"memory": "-1Mi"}}}]}, "spec.containers[0].resources.limits[memory]"),
}


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS))
def test_bad_manifests_are_rejected_and_nothing_is_created(node: TestNode, case: str):
    spec, field = BAD_MANIFESTS[case]
    before = leaks.snapshot()
    path = node.write("bad.yaml", {"apiVersion": "v1", "kind": "Pod",
                                   "metadata": {"name": "bad"}, "spec": spec})
    result = node.cli("node", "run", "-f", path, check=False)
    assert result.returncode != 0
    assert result.stderr.startswith("Error:") and field in result.stderr, result.stderr
    assert leaks.snapshot() == before
    assert not os.path.exists(os.path.join(node.state, "manifests", "default_bad.json"))


def test_unparsable_yaml_is_rejected_with_its_line(node: TestNode):
    path = node.write("broken.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: x\n")
    result = node.cli("node", "run", "-f", path, check=False)
    assert result.returncode != 0 and "broken.yaml" in result.stderr
    assert "line" in result.stderr


def test_delete_and_reset_leave_nothing_behind(node: TestNode):
    before = leaks.snapshot()
    node.run_pod(busybox_pod("tmp", "exec sleep 1000"))
    assert leaks.snapshot() != before
    node.cli("node", "delete", "tmp")
    assert leaks.snapshot()["netns"] == before["netns"]
    with open(os.path.join(node.state, "kubelet.pid")) as f:
        kubelet = int(f.read())
    assert leaks.snapshot()["processes"] == sorted(before["processes"] + [kubelet])  # agent
    node.cli("node", "reset")
    after = leaks.snapshot()
    assert after == {**before, "links": after["links"]} and after["links"] == []


def test_exec_with_a_terminal_gets_a_tty_inside_the_container(node: TestNode):
    node.run_pod(busybox_pod("term", "exec sleep 1000"))
    plain = node.exec("term", "tty", check=False)
    assert plain.stdout.strip() == "not a tty"
    with_tty = node.cli("node", "exec", "-t", "term", "--", "tty")
    assert with_tty.stdout.strip() == "/dev/pts/0"


def test_verbose_run_prints_the_shell_equivalent_of_each_kernel_action(node: TestNode):
    path = node.write("v.yaml", busybox_pod("loud", "exec sleep 1000"))
    result = node.cli("-v", "node", "run", "-f", path)
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("+ ")]
    assert any(ln.startswith(f"+ ip netns add {node.names.prefix}-loud-") for ln in lines)
    assert any("type veth peer name eth0" in ln for ln in lines)
    assert any(ln.startswith("+ mount -t overlay") for ln in lines)
    assert any("pivot_root" in ln for ln in lines)


def test_dry_run_prints_the_sync_pod_plan_and_creates_nothing(node: TestNode):
    before = leaks.snapshot()
    path = node.write("d.yaml", busybox_pod("plan", "exec sleep 1000"))
    out = node.cli("node", "run", "--dry-run", "-f", path).stdout
    assert "4. create the sandbox: yes" in out and "6. start containers: main" in out
    assert leaks.snapshot() == before
