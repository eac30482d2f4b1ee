"""The real kubectl against ``minikube-py up``: issue 6's acceptance test.

Every command runs ``/usr/bin/kubectl`` (the dispatcher, which picks ``kubectl.1.32`` from the
server's ``/version``) with ``KUBECONFIG=<state>/kubeconfig`` — whatever ``up`` wrote there,
plain http or TLS with client certificates — and ``HOME`` set to a fresh directory, so each
test starts with a cold discovery cache (``~/.kube/cache``) as a new user would.

The checks read kubectl's *output* — tables, YAML, log lines, exit codes — the way a learner
reads them. Busybox deployments are used where nginx is not the point (busybox is one layer
copied from the host; nginx is built once per session with mmdebstrap, ~20 s).
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.clusterharness import ROOT, TestCluster

KUBECTL = shutil.which("kubectl")
pytestmark = [pytest.mark.root, pytest.mark.e2e,
              pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")]
SEED_MANIFEST = Path(ROOT) / "examples" / "nginx-deployment.yml"


class Kubectl:
    """``kubectl ARGS`` with the cluster's kubeconfig and a HOME of its own."""

    def __init__(self, cluster: TestCluster, home: Path) -> None:
        home.mkdir(exist_ok=True)
        self.home = home
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
                    "KUBECONFIG": os.path.join(cluster.state, "kubeconfig")}
        self.cluster = cluster

    def __call__(self, *args: str, check: bool = True, input: str | None = None,
                 timeout: float = 90) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(KUBECTL), *args], env=self.env, capture_output=True,
                              text=True, input=input, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({done.returncode}):\n"
                                 f"{done.stdout}\n{done.stderr}\n--- log tail:\n"
                                 + self.cluster.log_tail())
        return done

    def popen(self, *args: str) -> LineReader:
        proc = subprocess.Popen([str(KUBECTL), *args], env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        return LineReader(proc)


class LineReader:
    """A running command whose output lines (stdout and stderr) are collected by threads."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: queue.Queue[str] = queue.Queue()
        self.errors: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(proc.stdout, self.lines), daemon=True).start()
        threading.Thread(target=self._pump, args=(proc.stderr, self.errors), daemon=True).start()

    @staticmethod
    def _pump(stream: Any, into: queue.Queue[str]) -> None:
        if stream is not None:
            for line in stream:
                into.put(line)

    def line_matching(self, pattern: str, seconds: float = 60.0,
                      unless: Callable[[re.Match[str]], bool] = lambda m: False,
                      stream: str = "stdout") -> re.Match[str]:
        """The next line matching ``pattern`` (skipping those the ``unless`` test rejects)."""
        lines = self.lines if stream == "stdout" else self.errors
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            self.seen.append(line)
            found = re.search(pattern, line)
            if found and not unless(found):
                return found
        raise AssertionError(f"no line matching {pattern!r} in {self.seen!r}")

    def stderr_matching(self, pattern: str, seconds: float = 60.0) -> re.Match[str]:
        return self.line_matching(pattern, seconds, stream="stderr")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def kubectl(cluster: TestCluster, tmp_path: Path) -> Kubectl:
    return Kubectl(cluster, tmp_path / "home")


def deployment(name: str, image: str = "busybox", replicas: int = 2,
               script: str = "echo started; i=0; while true; i=$((i+1)); do echo tick $i; "
                             "sleep 0.3; done",
               resources: dict[str, Any] | None = None) -> str:
    container: dict[str, Any] = {"name": "main", "image": image,
                                 "command": ["sh", "-c", script]}
    if resources:
        container["resources"] = resources
    return yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": {
                     "terminationGracePeriodSeconds": 1, "containers": [container]}}}})


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def rows(output: str) -> list[list[str]]:
    """A kubectl table as split rows, header first."""
    return [line.split() for line in output.splitlines() if line.strip()]


def pod_names(cluster: TestCluster, selector: str, count: int) -> list[str]:
    return sorted(p["metadata"]["name"] for p in cluster.running_pods(selector, count))


# -- discovery ----------------------------------------------------------------------------
def test_version_and_api_resources_with_a_cold_discovery_cache(kubectl: Kubectl) -> None:
    assert not (kubectl.home / ".kube" / "cache" / "discovery").exists()
    version = kubectl("version").stdout
    assert re.search(r"^Server Version: v1\.32\.\d+$", version, re.M), version
    assert "Client Version: v1.32" in version
    table = rows(kubectl("api-resources").stdout)
    assert table[0] == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    by_kind = {r[-1]: r for r in table[1:]}
    assert by_kind["Deployment"] == ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    assert by_kind["Pod"] == ["pods", "po", "v1", "true", "Pod"]
    assert by_kind["Service"] == ["services", "svc", "v1", "true", "Service"]
    assert by_kind["PodMetrics"] == ["pods", "metrics.k8s.io/v1beta1", "true", "PodMetrics"]
    assert by_kind["NodeMetrics"] == ["nodes", "metrics.k8s.io/v1beta1", "false",
                                      "NodeMetrics"]
    assert (kubectl.home / ".kube" / "cache" / "discovery").is_dir()


# -- the study note's manifest ------------------------------------------------------------
def test_the_study_notes_manifest_strict_rejects_the_service_warn_creates_it(
        cluster: TestCluster, kubectl: Kubectl, tmp_path: Path) -> None:
    # examples/nginx-deployment.yml is indented with no-break spaces (U+00A0), copied from
    # the note; YAML does not accept them as indentation, so neither kubectl nor a real
    # Kubernetes can read it. The same manifest with plain spaces is what a learner fixes
    # it to, and it behaves as on Kubernetes:
    path = write(tmp_path, "nginx-deployment.yml",
                 SEED_MANIFEST.read_text().replace("\u00a0", " "))
    strict = kubectl("apply", "-f", path, check=False)
    assert strict.returncode == 1
    assert strict.stdout == "deployment.apps/nginx-deployment created\n"
    assert "Error from server (BadRequest)" in strict.stderr
    assert 'unknown field "spec.ports[0].type"' in strict.stderr
    missing = kubectl("get", "service", "nginx-svc", check=False)
    assert 'services "nginx-svc" not found' in missing.stderr

    warn = kubectl("apply", "--validate=warn", "-f", path)
    assert warn.stdout == ("deployment.apps/nginx-deployment unchanged\n"
                           "service/nginx-svc created\n")
    assert 'Warning: unknown field "spec.ports[0].type"' in warn.stderr
    services = rows(kubectl("get", "svc", "nginx-svc").stdout)
    assert services[0][:4] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP"]
    assert services[1][0] == "nginx-svc" and "8080/TCP" in services[1]

    status = kubectl("rollout", "status", "deploy/nginx-deployment", "--timeout=240s",
                     timeout=260)
    assert status.stdout.endswith('deployment "nginx-deployment" successfully rolled out\n')
    version = kubectl("exec", "deploy/nginx-deployment", "--", "nginx", "-v")
    assert version.stderr.startswith("nginx version: nginx/")
    deleted = kubectl("delete", "-f", path)
    assert deleted.stdout == ('deployment.apps "nginx-deployment" deleted\n'
                              'service "nginx-svc" deleted\n')


# -- a deployment's life ------------------------------------------------------------------
def test_apply_get_describe_events_and_delete(cluster: TestCluster, kubectl: Kubectl,
                                              tmp_path: Path) -> None:
    path = write(tmp_path, "bb.yaml", deployment("bb"))
    assert kubectl("apply", "-f", path).stdout == "deployment.apps/bb created\n"
    names = pod_names(cluster, "app=bb", 2)

    pods = rows(kubectl("get", "pods").stdout)
    assert pods[0] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert sorted(r[0] for r in pods[1:]) == names
    assert all(r[1:4] == ["1/1", "Running", "0"] for r in pods[1:])
    assert rows(kubectl("get", "pods", "-l", "app=bb", "-o", "name").stdout) == \
        [[f"pod/{n}"] for n in names]
    assert "No resources found in default namespace." in \
        kubectl("get", "pods", "-l", "app=other").stderr

    wide = rows(kubectl("get", "deploy", "-o", "wide").stdout)
    assert wide[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS",
                       "IMAGES", "SELECTOR"]
    assert wide[1][:4] == ["bb", "2/2", "2", "2"] and wide[1][5:] == ["main", "busybox",
                                                                     "app=bb"]
    live = yaml.safe_load(kubectl("get", "deploy", "bb", "-o", "yaml").stdout)
    assert live["kind"] == "Deployment" and live["spec"]["replicas"] == 2
    assert "kubectl.kubernetes.io/last-applied-configuration" in \
        live["metadata"]["annotations"]
    assert live["status"]["availableReplicas"] == 2

    described = kubectl("describe", "pod", names[0]).stdout
    assert re.search(rf"^Name:\s+{names[0]}$", described, re.M)
    assert re.search(r"^Status:\s+Running$", described, re.M)
    assert re.search(r"^Controlled By:\s+ReplicaSet/bb-", described, re.M)
    assert re.search(rf"Normal\s+Scheduled\s+.*Successfully assigned default/{names[0]}",
                     described)
    assert f"default/{names[1]}" not in described  # events are filtered by involvedObject
    described = kubectl("describe", "deploy", "bb").stdout
    assert re.search(r"^Replicas:\s+2 desired \| 2 updated \| 2 total \| 2 available",
                     described, re.M)
    assert re.search(r"ScalingReplicaSet\s+.*Scaled up replica set bb-\w+ to 2", described)

    events = rows(kubectl("get", "events").stdout)
    assert events[0] == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
    reasons = {(r[2], r[3]) for r in events[1:]}
    assert ("Scheduled", f"pod/{names[0]}") in reasons
    assert ("Started", f"pod/{names[0]}") in reasons
    assert ("ScalingReplicaSet", "deployment/bb") in reasons

    assert kubectl("delete", "-f", path).stdout == 'deployment.apps "bb" deleted\n'
    assert "No resources found" in kubectl("get", "deploy").stderr
    cluster.wait("the pods to go", lambda: not cluster.pods("app=bb"))


def test_logs_exec_and_top(cluster: TestCluster, kubectl: Kubectl, tmp_path: Path) -> None:
    busy = {"limits": {"cpu": "100m"}}  # a busy loop held to a tenth of a core by CFS
    kubectl("apply", "-f", write(tmp_path, "busy.yaml", deployment(
        "busy", replicas=1, script="echo started; while :; do :; done", resources=busy)))
    kubectl("apply", "-f", write(tmp_path, "ticker.yaml", deployment("ticker", replicas=1)))
    (ticker,) = pod_names(cluster, "app=ticker", 1)
    (spinner,) = pod_names(cluster, "app=busy", 1)

    logs = kubectl("logs", ticker).stdout.splitlines()
    assert logs[:2] == ["started", "tick 1"]
    follow = kubectl.popen("logs", "-f", ticker, "--tail=1")
    try:
        first = int(follow.line_matching(r"^tick (\d+)$", 20).group(1))
        later = int(follow.line_matching(r"^tick (\d+)$", 20).group(1))
        assert later == first + 1  # new lines arrive while kubectl follows
    finally:
        follow.stop()
    assert kubectl("logs", "deploy/busy").stdout == "started\n"

    assert kubectl("exec", ticker, "--", "hostname").stdout == f"{ticker}\n"
    failed = kubectl("exec", ticker, "--", "sh", "-c", "echo out; echo err >&2; exit 3",
                     check=False)
    assert failed.returncode == 3
    assert failed.stdout == "out\n"
    assert "err\n" in failed.stderr and "command terminated with exit code 3" in failed.stderr
    echoed = kubectl("exec", "-i", ticker, "--", "tr", "a-z", "A-Z", input="hello\n")
    assert echoed.stdout == "HELLO\n"

    top = rows(kubectl("top", "pods").stdout)
    assert top[0] == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    usage = {r[0]: r[1:] for r in top[1:]}
    assert set(usage) == {ticker, spinner}
    assert all(re.fullmatch(r"\d+m", cpu) and re.fullmatch(r"\d+Mi", mem)
               for cpu, mem in usage.values())
    assert 50 <= int(usage[spinner][0][:-1]) <= 130, usage  # the CFS quota shows
    assert int(usage[ticker][0][:-1]) < 50
    assert [r[0] for r in rows(kubectl("top", "pod", "-l", "app=busy").stdout)[1:]] == \
        [spinner]
    nodes = rows(kubectl("top", "nodes").stdout)
    assert nodes[0] == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    assert nodes[1][0] == cluster.node_name
    assert re.fullmatch(r"\d+m", nodes[1][1]) and re.fullmatch(r"\d+%", nodes[1][2])
    assert int(nodes[1][3][:-2]) > 0


def test_scale_watch_and_roll_out_an_edit_then_undo_it(cluster: TestCluster,
                                                        kubectl: Kubectl,
                                                        tmp_path: Path) -> None:
    path = write(tmp_path, "bb.yaml", deployment("bb"))
    kubectl("apply", "-f", path)
    status = kubectl("rollout", "status", "deploy/bb", "--timeout=60s")
    assert status.stdout.endswith('deployment "bb" successfully rolled out\n')
    before = pod_names(cluster, "app=bb", 2)

    watch = kubectl.popen("get", "pods", "-l", "app=bb", "-w")
    try:
        watch.line_matching(rf"^{before[0]}\s+1/1\s+Running", 20)  # the initial list
        time.sleep(0.5)  # let kubectl open its watch after the list
        assert kubectl("scale", "deploy/bb", "--replicas=3").stdout == \
            "deployment.apps/bb scaled\n"
        added = watch.line_matching(r"^(bb-\S+)\s+0/1\s+(Pending|ContainerCreating)", 30,
                                    unless=lambda m: m.group(1) in before)
        watch.line_matching(rf"^{added.group(1)}\s+1/1\s+Running", 30)
        assert watch.proc.poll() is None  # the watch stays open
    finally:
        watch.stop()
    status = kubectl("rollout", "status", "deploy/bb", "--timeout=60s")
    assert status.stdout.endswith('deployment "bb" successfully rolled out\n')
    assert len(pod_names(cluster, "app=bb", 3)) == 3

    write(tmp_path, "bb.yaml", deployment("bb", image="busybox:1.36", replicas=3))
    assert kubectl("apply", "-f", path).stdout == "deployment.apps/bb configured\n"
    status = kubectl("rollout", "status", "deploy/bb", "--timeout=90s", timeout=100)
    assert status.stdout.endswith('deployment "bb" successfully rolled out\n')
    assert {p["spec"]["containers"][0]["image"] for p in cluster.running_pods("app=bb", 3)} \
        == {"busybox:1.36"}
    history = kubectl("rollout", "history", "deploy/bb").stdout
    assert rows(history)[1:] == [["REVISION", "CHANGE-CAUSE"], ["1", "<none>"],
                                 ["2", "<none>"]]

    assert kubectl("rollout", "undo", "deploy/bb").stdout == "deployment.apps/bb rolled back\n"
    kubectl("rollout", "status", "deploy/bb", "--timeout=90s", timeout=100)
    image = kubectl("get", "deploy", "bb", "-o",
                    "jsonpath={.spec.template.spec.containers[0].image}").stdout
    assert image == "busybox"
    history = kubectl("rollout", "history", "deploy/bb").stdout
    assert [r[0] for r in rows(history)[2:]] == ["2", "3"]  # revision 1 came back as 3
    assert kubectl("delete", "-f", path).stdout == 'deployment.apps "bb" deleted\n'


# -- imperative generators (protobuf bodies) ----------------------------------------------
def test_create_generators_send_protobuf_and_work(cluster: TestCluster, kubectl: Kubectl
                                                  ) -> None:
    """``kubectl create deployment|namespace|configmap|service|role|rolebinding`` send their
    objects as protobuf (``-v=9`` shows ``Content-Type: application/vnd.kubernetes.protobuf``);
    the API server decodes them into the same objects ``--dry-run=client -o json`` prints."""
    verbose = kubectl("create", "deployment", "gen", "--image=busybox", "--replicas=2",
                      "-v=8", "--", "sleep", "1000")
    assert "deployment.apps/gen created" in verbose.stdout
    assert "Content-Type: application/vnd.kubernetes.protobuf" in verbose.stderr
    assert len(pod_names(cluster, "app=gen", 2)) == 2
    deployment = cluster.get("deployment", "gen")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["template"]["spec"]["containers"][0]["command"] == \
        ["sleep", "1000"]

    assert kubectl("create", "namespace", "lab").stdout == "namespace/lab created\n"
    assert kubectl("create", "configmap", "settings", "-n", "lab", "--from-literal=mode=learn",
                   "--from-literal=level=2").stdout == "configmap/settings created\n"
    data = kubectl("get", "configmap", "settings", "-n", "lab", "-o",
                   "jsonpath={.data}").stdout
    assert yaml.safe_load(data) == {"level": "2", "mode": "learn"}
    assert kubectl("create", "service", "nodeport", "gen", "--tcp=80:8080").stdout == \
        "service/gen created\n"
    service = cluster.get("service", "gen")
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["ports"][0]["targetPort"] == 8080
    assert service["spec"]["selector"] == {"app": "gen"}
    assert kubectl("create", "role", "reader", "--verb=get,list", "--resource=pods").stdout \
        == "role.rbac.authorization.k8s.io/reader created\n"
    assert kubectl("create", "rolebinding", "reader", "--role=reader", "--user=alice").stdout \
        == "rolebinding.rbac.authorization.k8s.io/reader created\n"

    # A kind the server does not serve: a clean 404, as from any API server without it.
    job = kubectl("create", "job", "once", "--image=busybox", check=False)
    assert job.returncode == 1
    assert job.stderr == "error: failed to create job: the server could not find the " \
        "requested resource\n"


# -- waiting reasons ------------------------------------------------------------------------
def test_pods_that_cannot_start_show_upstreams_waiting_reasons(
        cluster: TestCluster, kubectl: Kubectl, tmp_path: Path) -> None:
    """A missing image: ErrImagePull, then ImagePullBackOff; an image that runs as root under
    ``runAsNonRoot``: CreateContainerConfigError. ``get pods`` and ``describe`` show them."""
    missing = yaml.safe_load(deployment("typo", image="busybx", replicas=1))
    rootless = yaml.safe_load(deployment("rootless", replicas=1))
    rootless["spec"]["template"]["spec"]["securityContext"] = {"runAsNonRoot": True}
    kubectl("apply", "-f", write(tmp_path, "bad.yaml", yaml.safe_dump_all([missing, rootless])))

    def reasons() -> dict[str, str]:
        table = rows(kubectl("get", "pods").stdout)
        return {r[0].rsplit("-", 2)[0]: r[2] for r in table[1:]}

    seen: set[str] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (
            {"ErrImagePull", "ImagePullBackOff"} <= seen
            and reasons().get("rootless") == "CreateContainerConfigError"):
        seen.add(reasons().get("typo", ""))
        time.sleep(0.2)
    assert {"ErrImagePull", "ImagePullBackOff"} <= seen, seen
    assert reasons()["rootless"] == "CreateContainerConfigError"
    (typo,) = [p["metadata"]["name"] for p in cluster.pods("app=typo")]
    described = kubectl("describe", "pod", typo).stdout
    assert 'Failed to pull image "busybx"' in described
    (rootless_pod,) = cluster.pods("app=rootless")
    message = rootless_pod["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
    assert message.startswith("container has runAsNonRoot and image will run as root")
