"""Probes: the kubelet asks each container "are you alive? ready? started yet?".

Kubernetes concept (upstream ``pkg/kubelet/prober``): a container may declare three probes,

- **startupProbe** — until it succeeds, the other two do not run; after ``failureThreshold``
  failures in a row the container is killed and restarted (slow starters get time);
- **livenessProbe** — after ``failureThreshold`` failures in a row the container is killed
  (event ``Killing``: "Container x failed liveness probe, will be restarted") and restarted
  per ``restartPolicy``;
- **readinessProbe** — decides the container's ``ready``, hence the pod's Ready condition and
  whether a Service sends it traffic (its Endpoints); a failing one never kills.

Each probe is one of three checks, run with ``timeoutSeconds``:

- ``exec``: run a command inside the container (:func:`runtime.exec.exec_in_container`, the
  same way as ``kubectl exec``); exit 0 = success;
- ``httpGet``: ``GET http://<pod IP>:<port><path>`` from the node; 200-399 = success;
- ``tcpSocket``: open a TCP connection to ``<pod IP>:<port>``; connected = success.

Timing: nothing runs before ``initialDelaySeconds`` after the container started; then every
``periodSeconds``. A verdict changes only after ``successThreshold`` (readiness) or
``failureThreshold`` results in a row agree. Every failed probe records a Warning event
``Unhealthy`` ("Readiness probe failed: HTTP probe failed with statuscode: 500").

Ours: one :class:`Worker` per (container instance, probe), driven by a timer heap in one
thread; the checks run on a small thread pool. Verdicts live in memory, keyed by the
instance (pod UID, container name, attempt), and a changed verdict asks for a pod sync, which
reads them (``plan.compute_pod_actions`` kills, ``status.pod_status`` sets ``ready``).
See them: ``minikube-py describe pod NAME`` (READY, events), ``node pods``.
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import logging
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from minikube_py.kubelet.plan import NO_RESULTS, ProbeResults
from runtime.exec import exec_in_container

log = logging.getLogger(__name__)

Pod = dict[str, Any]
#: (pod UID, container name, attempt): one container instance.
InstanceKey = tuple[str, str, int]
KINDS = {"startup": "startupProbe", "liveness": "livenessProbe", "readiness": "readinessProbe"}
MAX_OUTPUT = 1024


# -- the checks -------------------------------------------------------------------------------
def resolve_port(port: Any, container: dict[str, Any]) -> int:
    """A probe's ``port``: a number, or the name of one of the container's ``ports``."""
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"port {port!r} not found in the container's ports")


def exec_check(bundle: str, command: list[str], timeout: float) -> tuple[bool, str]:
    """Run ``command`` in the container; success = exit 0. Output is the event's message."""
    proc = exec_in_container(bundle, command, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return False, f"command {command!r} timed out"
    text = out.decode(errors="replace")[:MAX_OUTPUT]
    return proc.returncode == 0, text


def http_check(host: str, port: int, path: str, headers: dict[str, str], timeout: float,
               scheme: str = "HTTP") -> tuple[bool, str]:
    """``GET`` the URL; success = a status from 200 to 399 (redirects are not followed)."""
    url = f"{scheme.lower()}://{host}:{port}{path}"
    conn: http.client.HTTPConnection
    if scheme == "HTTPS":  # upstream skips certificate verification for probes
        import ssl

        context = ssl._create_unverified_context()
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "kube-probe/1.32", **headers})
        response = conn.getresponse()
        response.read(MAX_OUTPUT)
        if 200 <= response.status < 400:
            return True, ""
        return False, f"HTTP probe failed with statuscode: {response.status}"
    except (OSError, http.client.HTTPException) as e:
        return False, f'Get "{url}": {_dial_error(host, port, e)}'
    finally:
        conn.close()


def tcp_check(host: str, port: int, timeout: float) -> tuple[bool, str]:
    """Open a TCP connection; success = it connected."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True, ""
    except OSError as e:
        return False, _dial_error(host, port, e)


def _dial_error(host: str, port: int, e: BaseException) -> str:
    if isinstance(e, ConnectionRefusedError):
        return f"dial tcp {host}:{port}: connect: connection refused"
    if isinstance(e, socket.timeout | TimeoutError):
        return f"dial tcp {host}:{port}: i/o timeout"
    return f"dial tcp {host}:{port}: {getattr(e, 'strerror', None) or e}"


def run_handler(handler: dict[str, Any], container: dict[str, Any], bundle: str, pod_ip: str,
                timeout: float) -> tuple[bool, str]:
    """Run a probe or lifecycle handler: exec, httpGet or tcpSocket. (ok, message)."""
    try:
        if "exec" in handler:
            return exec_check(bundle, list(handler["exec"].get("command") or []), timeout)
        if "httpGet" in handler:
            get = handler["httpGet"]
            headers = {h["name"]: h["value"] for h in get.get("httpHeaders") or []}
            return http_check(get.get("host") or pod_ip, resolve_port(get["port"], container),
                              get.get("path") or "/", headers, timeout,
                              get.get("scheme") or "HTTP")
        if "tcpSocket" in handler:
            sock = handler["tcpSocket"]
            return tcp_check(sock.get("host") or pod_ip, resolve_port(sock["port"], container),
                             timeout)
    except Exception as e:  # a broken check is a failed check, not a dead prober
        return False, str(e)
    return False, f"unsupported probe handler {sorted(handler)} (exec, httpGet, tcpSocket)"


# -- one probe of one container instance ------------------------------------------------------
@dataclass
class Worker:
    """The state of one probe of one container instance (upstream: ``worker``)."""

    kind: str  # "startup" | "liveness" | "readiness"
    probe: dict[str, Any]
    key: InstanceKey
    pod: Pod
    container: dict[str, Any]
    bundle: str
    pod_ip: str
    started_at: float  # time.time() the container started
    last: bool | None = None  # the last raw result
    run: int = 0  # how many raw results in a row equal ``last``
    on_hold: bool = False  # liveness/startup failed, or startup done: probe no more
    stopped: bool = False
    generation: int = 0  # timer entries of an older generation are ignored

    def threshold(self, ok: bool) -> int:
        name = "successThreshold" if ok else "failureThreshold"
        return int(self.probe.get(name) or (1 if ok else 3))

    def record(self, ok: bool) -> str | None:
        """Count one raw result; the new verdict once the threshold is reached, else None."""
        if self.last == ok:
            self.run += 1
        else:
            self.last, self.run = ok, 1
        if self.run < self.threshold(ok):
            return None
        verdict = "success" if ok else "failure"
        if not ok and self.kind in ("liveness", "startup"):
            self.on_hold, self.run = True, 0
        if ok and self.kind == "startup":
            self.on_hold = True  # started once is started for good
        return verdict

    def first_due(self) -> float:
        """Monotonic time of the first probe: ``initialDelaySeconds`` after the start."""
        delay = float(self.probe.get("initialDelaySeconds") or 0)
        return time.monotonic() + max(0.0, self.started_at + delay - time.time())

    @property
    def period(self) -> float:
        return float(self.probe.get("periodSeconds") or 10)

    @property
    def timeout(self) -> float:
        return float(self.probe.get("timeoutSeconds") or 1)


# -- all probes of the node -------------------------------------------------------------------
@dataclass
class _Instance:
    workers: dict[str, Worker] = field(default_factory=dict)
    results: dict[str, str] = field(default_factory=dict)
    watched: bool = False  # its workers exist (a seeded instance has results only)


class ProbeManager:
    """Runs every probe of every running container; keeps the verdicts in memory.

    ``on_change(uid)`` is called when a verdict changes (the kubelet syncs the pod);
    ``event(pod, type, reason, message)`` records ``Unhealthy`` events.
    """

    def __init__(self, on_change: Callable[[str], None],
                 event: Callable[[Pod, str, str, str], None], workers: int = 4) -> None:
        self._on_change = on_change
        self._event = event
        self._lock = threading.Condition()
        self._instances: dict[InstanceKey, _Instance] = {}
        self._heap: list[tuple[float, int, int, Worker]] = []
        self._seq = itertools.count()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prober")
        self._thread: threading.Thread | None = None
        self._stopping = False

    # -- what to probe ----------------------------------------------------------------------
    def update_pod(self, pod: Pod, running: list[tuple[str, int, str, float]],
                   pod_ip: str) -> None:
        """The pod's running instances (name, attempt, bundle, started_at): start workers
        for new ones, forget those that stopped."""
        uid = pod["metadata"]["uid"]
        specs = {c["name"]: c for c in pod["spec"]["containers"]}
        alive = set()
        with self._lock:
            for name, attempt, bundle, started_at in running:
                key = (uid, name, attempt)
                alive.add(key)
                container = specs.get(name)
                instance = self._instances.setdefault(key, _Instance())
                if container is None or instance.watched:
                    continue
                instance.watched = True
                for kind, field_name in KINDS.items():
                    if container.get(field_name):
                        worker = Worker(kind, container[field_name], key, pod, container,
                                        bundle, pod_ip, started_at)
                        instance.workers[kind] = worker
                        self._push(worker.first_due(), worker)
            for key in [k for k in self._instances if k[0] == uid and k not in alive]:
                self._forget(key)

    def seed(self, key: InstanceKey, results: ProbeResults) -> None:
        """Start an instance from known verdicts instead of "none yet": a restarted kubelet
        passes what its predecessor reported, so a ready pod does not blink out of its
        Service's endpoints while the first probes run."""
        with self._lock:
            instance = self._instances.setdefault(key, _Instance())
            for kind in KINDS:
                verdict = getattr(results, kind)
                if verdict is not None:
                    instance.results.setdefault(kind, verdict)

    def remove_pod(self, uid: str) -> None:
        with self._lock:
            for key in [k for k in self._instances if k[0] == uid]:
                self._forget(key)

    def results(self, uid: str, name: str, attempt: int) -> ProbeResults:
        with self._lock:
            instance = self._instances.get((uid, name, attempt))
            if instance is None:
                return NO_RESULTS
            r = instance.results
            return ProbeResults(liveness=r.get("liveness"), readiness=r.get("readiness"),
                                startup=r.get("startup"))

    def _forget(self, key: InstanceKey) -> None:
        for worker in self._instances.pop(key).workers.values():
            worker.stopped = True

    def _push(self, due: float, worker: Worker) -> None:
        """(Re)schedule ``worker``; an earlier timer entry of it becomes stale."""
        worker.generation += 1
        heapq.heappush(self._heap, (due, next(self._seq), worker.generation, worker))
        self._lock.notify()

    # -- the timer loop -----------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="prober", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            self._lock.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _loop(self) -> None:
        with self._lock:
            while not self._stopping:
                now = time.monotonic()
                if self._heap and self._heap[0][0] <= now:
                    _, _, generation, worker = heapq.heappop(self._heap)
                    if not worker.stopped and generation == worker.generation:
                        self._pool.submit(self._probe, worker)
                    continue
                self._lock.wait(self._heap[0][0] - now if self._heap else None)

    def _probe(self, worker: Worker) -> None:
        """One probe: gate on startup, check, count, maybe change the verdict; reschedule."""
        started = time.monotonic()
        changed = False
        try:
            changed = self._probe_once(worker)
        except Exception:
            log.exception("Failed to probe container key=%s probe=%s", worker.key, worker.kind)
        with self._lock:
            if not worker.stopped and not worker.on_hold and not self._stopping:
                self._push(started + worker.period, worker)
        if changed:
            self._on_change(worker.key[0])

    def _probe_once(self, worker: Worker) -> bool:
        with self._lock:
            instance = self._instances.get(worker.key)
            if instance is None or worker.stopped:
                return False
            startup = instance.results.get("startup")
        if worker.kind != "startup" and "startup" in instance.workers and startup != "success":
            return False  # gated: liveness and readiness wait for the startup probe
        if os.path.exists(os.path.join(worker.bundle, "exit.json")):
            return False  # the container has exited: nothing to probe
        ok, output = run_handler(worker.probe, worker.container, worker.bundle, worker.pod_ip,
                                 worker.timeout)
        if worker.stopped:
            return False
        if not ok:
            self._event(worker.pod, "Warning", "Unhealthy",
                        f"{worker.kind.capitalize()} probe failed: {output.strip()}")
        verdict = worker.record(ok)
        with self._lock:
            if verdict is None or instance.results.get(worker.kind) == verdict:
                return False
            instance.results[worker.kind] = verdict
            if worker.kind == "startup" and verdict == "success":
                for other in instance.workers.values():  # ungated: probe them now
                    if other is not worker:
                        self._push(time.monotonic(), other)
        log.info("Changed probe result pod=%s container=%s probe=%s result=%s",
                 worker.pod["metadata"]["name"], worker.key[1], worker.kind, verdict)
        return True
