"""The kubelet's main loop: pod workers, exit events and a manifest directory.

Upstream's kubelet gets pods from the API server and from a static-pod directory, hands
each pod to its own *pod worker*, and learns about container changes from the PLEG (a relist
every second, or runtime events). Ours:

- **pod source** (``sources.py``): a directory of pod manifests (static pods; ``node run``
  writes there and sends a wake-up datagram to ``<state>/kubelet.sock``), or the API server
  (``apisource.py``: the pods bound to this node).
- **pod workers**: a small thread pool; one sync at a time per pod, further requests for a
  pod that is being synced are coalesced into one more sync.
- **exit events**: every running container's pidfd (``pidfd_open(2)``) is watched with
  ``selectors``; the moment a container exits, its pod is synced — no waiting for a relist.
  A full resync every :data:`RESYNC_PERIOD` seconds is the safety net.
- **probes** (``probes.py``): a changed liveness/readiness/startup verdict syncs the pod.
- **recovery** (``recovery.py``): on start, the containers a previous kubelet left running
  are adopted as they are (their shims outlived it), and kernel objects that no pod explains
  are removed.

A pod on the node that its source no longer wants is killed — that is how deletion works,
and how orphans left by a crash are cleaned up. A pod being deleted through the API
(``deletionTimestamp`` set) is killed with its grace period, then reported removed.
"""

from __future__ import annotations

import heapq
import json
import logging
import os
import queue
import selectors
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import bridge
from minikube_py.config import NodeConfig
from minikube_py.kubelet.plan import ProbeResults
from minikube_py.kubelet.probes import ProbeManager
from minikube_py.kubelet.recovery import remove_orphans
from minikube_py.kubelet.sources import ManifestSource, PodSource
from minikube_py.kubelet.sync import NodeContext, Pod, kill_pod, read_status, sync_pod
from runtime.cgroups import Resources, detect_driver

log = logging.getLogger(__name__)

RESYNC_PERIOD = 10.0
MANIFEST_POLL = 1.0


def node_pod_uids(config: NodeConfig) -> list[str]:
    root = config.pods_dir
    return sorted(os.listdir(root)) if os.path.isdir(root) else []


def wake_kubelet(config: NodeConfig) -> bool:
    """Ask a running kubelet to look at its manifests now. False if none is listening."""
    path = os.path.join(config.state_dir, "kubelet.sock")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
            s.sendto(b"sync", path)
        return True
    except OSError:
        return False


class Kubelet:
    """Keeps the pods of the manifest directory running. ``run()`` until ``stop()``."""

    def __init__(self, config: NodeConfig, source: PodSource | None = None,
                 workers: int = 4) -> None:
        self.config = config
        self.source: PodSource = source or ManifestSource(config)
        self.ctx = NodeContext(
            config=config,
            images=config.open_image_store(),
            cgroups=detect_driver(),
            events=lambda pod, kind, reason, msg: self.source.record_event(pod, kind, reason,
                                                                           msg),
        )
        self.prober = ProbeManager(self.request_sync, self.ctx.events)
        self.ctx.probe_results = self.prober.results
        self.ctx.services = getattr(self.source, "services", None)  # ApiSource: an informer
        requester = getattr(self.source, "token_requester", None)  # ApiSource only
        self.ctx.tokens = requester() if requester is not None else None
        self.ctx.ca_file = getattr(self.source, "ca_file", None)
        self.ctx.config_maps = getattr(self.source, "config_map", None)  # ApiSource only
        self.ctx.secrets = getattr(self.source, "secret", None)
        self.ctx.service_accounts = getattr(self.source, "service_account", None)
        self.ctx.claims = getattr(self.source, "claimed_volume", None)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="podworker")
        self._lock = threading.Lock()
        self._busy: set[str] = set()
        self._dirty: set[str] = set()
        self._desired: dict[str, Pod] = {}
        self._watch_queue: queue.Queue[tuple[str, list[int], float | None]] = queue.Queue()
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self._watched: dict[int, tuple[str, int]] = {}  # pidfd -> (uid, pid)
        self._timers: list[tuple[float, str]] = []
        self._source_changed = threading.Event()

    # -- set-up ---------------------------------------------------------------------------
    def prepare_node(self) -> None:
        """Node-level objects every pod needs: the bridge, the cgroup parent, directories."""
        for d in (self.config.pods_dir, self.config.manifests_dir, self.config.images_dir):
            os.makedirs(d, exist_ok=True)
        # Pods' files (volumes, secrets, container configs with their variables) are for
        # root only, as upstream's /var/lib/kubelet/pods.
        os.chmod(self.config.pods_dir, 0o750)
        bridge.ensure_bridge(self.config.network)
        self.ctx.host_ip = self.config.network.gateway
        self.ctx.cgroups.ensure(self.config.cgroup_parent, Resources())

    # -- pod workers ----------------------------------------------------------------------
    def request_sync(self, uid: str) -> None:
        with self._lock:
            if uid in self._busy:
                self._dirty.add(uid)
                return
            self._busy.add(uid)
        self._pool.submit(self._work, uid)

    def _work(self, uid: str) -> None:
        while True:
            pod = self._desired.get(uid)
            try:
                if pod is None or pod["metadata"].get("deletionTimestamp"):
                    self._remove(uid, pod)
                else:
                    result = sync_pod(self.ctx, pod)
                    self.prober.update_pod(pod, result.running, result.pod_ip)
                    self.source.report_status(pod, result.status)
                    self._watch_queue.put((uid, result.running_pids, result.resync_after))
                    os.write(self._wake_w, b"w")
            except Exception:
                log.exception("Failed to sync pod uid=%s", uid)
                self._watch_queue.put((uid, [], 1.0))
                os.write(self._wake_w, b"w")
            with self._lock:
                if uid in self._dirty:
                    self._dirty.discard(uid)
                    continue
                self._busy.discard(uid)
                return

    def _remove(self, uid: str, deleting: Pod | None) -> None:
        pod = deleting
        if pod is None:
            try:
                with open(os.path.join(self.config.pod_dir(uid), "pod.json")) as f:
                    pod = json.load(f)
            except (OSError, ValueError):
                pod = None
        if pod is None:
            pod = {"metadata": {"name": "unknown", "namespace": "default", "uid": uid},
                   "spec": {}}
        meta = pod["metadata"]
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = pod.get("spec", {}).get("terminationGracePeriodSeconds", 30)
        self.prober.remove_pod(uid)
        if os.path.isdir(self.config.pod_dir(uid)):
            if deleting is not None:
                self.ctx.events(pod, "Normal", "Killing", "Stopping pod (deleted)")
            kill_pod(self.ctx, uid, meta["name"], float(grace), meta.get("namespace", "default"),
                     pod if pod.get("spec") else None)
        if deleting is not None:
            self.source.removed(pod)

    # -- the desired state --------------------------------------------------------------------
    def reconcile(self) -> None:
        """Compare the manifests with the pods on the node; sync what differs."""
        desired = self.source.desired()
        for uid, pod in desired.items():
            pod_json = os.path.join(self.config.pod_dir(uid), "pod.json")
            old = self._desired.get(uid)
            self._desired[uid] = pod
            if old is None:
                self._seed_probes(uid)
            if old != pod:
                if not pod["metadata"].get("deletionTimestamp"):
                    os.makedirs(self.config.pod_dir(uid), exist_ok=True)
                    with open(pod_json, "w") as f:
                        json.dump(pod, f, indent=2)
                self.request_sync(uid)
        for uid in list(self._desired):
            if uid not in desired:
                del self._desired[uid]
        for uid in node_pod_uids(self.config):
            if uid not in desired:
                self.request_sync(uid)

    def _seed_probes(self, uid: str) -> None:
        """A pod first seen by this kubelet may have been running under a previous one: its
        last reported readiness stands until the probes say otherwise."""
        for c in (read_status(self.config, uid) or {}).get("containerStatuses") or []:
            if "running" in (c.get("state") or {}):
                self.prober.seed((uid, c["name"], int(c.get("restartCount", 0))), ProbeResults(
                    readiness="success" if c.get("ready") else None,
                    startup="success" if c.get("started") else None))

    def resync_all(self) -> None:
        for uid in list(self._desired):
            self.request_sync(uid)

    # -- the event loop ---------------------------------------------------------------------
    def stop(self) -> None:
        self._stopping.set()
        os.write(self._wake_w, b"s")

    def wake(self) -> None:
        """Look at the pod source again soon (callable from any thread)."""
        self._source_changed.set()
        os.write(self._wake_w, b"r")

    def run(self) -> None:
        """Prepare the node, then react to manifests, exits and timers until stopped."""
        self.prepare_node()
        sock_path = os.path.join(self.config.state_dir, "kubelet.sock")
        if os.path.exists(sock_path):
            os.unlink(sock_path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(sock_path)
        sock.setblocking(False)
        sel = selectors.DefaultSelector()
        sel.register(sock, selectors.EVENT_READ, "sock")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        log.info("Started kubelet state=%s bridge=%s podCIDR=%s", self.config.state_dir,
                 self.config.bridge, self.config.pod_cidr)
        remove_orphans(self.config, self.ctx.cgroups)
        self.prober.start()
        self.source.start(self.wake)
        self.reconcile()
        next_poll = time.monotonic() + MANIFEST_POLL
        next_resync = time.monotonic() + RESYNC_PERIOD
        try:
            while not self._stopping.is_set():
                now = time.monotonic()
                deadline = min(next_poll, next_resync, self._timers[0][0] if self._timers else
                               next_poll)
                for key, _ in sel.select(max(0.0, deadline - now)):
                    if key.data == "sock":
                        self._drain(sock)
                        self.reconcile()
                    elif key.data == "wake":
                        os.read(self._wake_r, 4096)
                    else:
                        self._on_exit(sel, key.fd)
                self._apply_watch_queue(sel)
                if self._source_changed.is_set():
                    self._source_changed.clear()
                    self.reconcile()
                now = time.monotonic()
                while self._timers and self._timers[0][0] <= now:
                    _, uid = heapq.heappop(self._timers)
                    self.request_sync(uid)
                if now >= next_poll:
                    self.reconcile()
                    next_poll = now + MANIFEST_POLL
                if now >= next_resync:
                    self.resync_all()
                    next_resync = now + RESYNC_PERIOD
        finally:
            self.source.stop()
            self.prober.stop()
            sel.close()
            sock.close()
            os.unlink(sock_path)
            for fd in self._watched:
                os.close(fd)
            self._pool.shutdown(wait=True)
            log.info("Stopped kubelet")

    @staticmethod
    def _drain(sock: socket.socket) -> None:
        try:
            while sock.recv(64):
                pass
        except BlockingIOError:
            pass

    def _apply_watch_queue(self, sel: selectors.BaseSelector) -> None:
        watched_pids = {pid for _uid, pid in self._watched.values()}
        while True:
            try:
                uid, pids, resync = self._watch_queue.get_nowait()
            except queue.Empty:
                return
            for pid in pids:
                if pid in watched_pids:
                    continue
                try:
                    fd = os.pidfd_open(pid)
                except OSError:
                    self.request_sync(uid)
                    continue
                self._watched[fd] = (uid, pid)
                watched_pids.add(pid)
                sel.register(fd, selectors.EVENT_READ, "exit")
            if resync is not None:
                heapq.heappush(self._timers, (time.monotonic() + resync, uid))

    def _on_exit(self, sel: selectors.BaseSelector, fd: int) -> None:
        uid, pid = self._watched.pop(fd)
        sel.unregister(fd)
        os.close(fd)
        log.info("Observed container exit uid=%s pid=%d", uid, pid)
        self.request_sync(uid)
