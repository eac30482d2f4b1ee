"""kube-proxy: watch Services and Endpoints, keep the node's nftables table in step.

Kubernetes concept: kube-proxy runs on every node. It watches Services and Endpoints through
the API server and rewrites the node's packet rules whenever they change (upstream's
``pkg/proxy/nftables``). It never sees a packet itself: the kernel does the load balancing.

How a sync works here:

1. compute the table from the informers' caches (:mod:`minikube_py.proxy.rules`, pure);
   a Service whose objects did not change keeps its previous fragment;
2. nothing changed -> nothing to do;
3. write the transaction to ``<state>/kube-proxy-sync.nft`` and load it with ``nft -f``: the
   whole table the first time (``delete table`` + definitions in one transaction, which also
   removes stale rules left by an earlier run), and afterwards only the changed Services'
   chains and map elements; if that fails, the whole table again;
4. write the complete table to ``<state>/kube-proxy.nft`` (readable; ``nft -f`` reloads it).

Syncs are coalesced: changes arriving together become one sync, and two syncs are at least
``min_sync_period`` apart (upstream's BoundedFrequencyRunner, minSyncPeriod).

Kernel objects: one nftables table, ``ip <nft_table>-proxy`` (``minikube-py-proxy``), and the
sysctl ``net.bridge.bridge-nf-call-iptables=1`` (module ``br_netfilter``): a reply from one
pod to another crosses the bridge without being routed, and only with that switch does it
pass the ``ip`` hooks where conntrack undoes the DNAT. See them::

    nft list table ip minikube-py-proxy
    cat /var/lib/minikube-py/kube-proxy.nft
    sysctl net.bridge.bridge-nf-call-iptables
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Any

import explain
from minikube_py.api.resources import Resource, lookup
from minikube_py.client import Client, Informer
from minikube_py.config import NodeConfig
from minikube_py.errors import MinikubeError
from minikube_py.proxy.rules import (
    SERVICE_CIDR,
    Fragment,
    RulesConfig,
    Ruleset,
    render,
    service_fragment,
    service_key,
    update_script,
)

log = logging.getLogger(__name__)
BRIDGE_NF_SYSCTL = "/proc/sys/net/bridge/bridge-nf-call-iptables"


class ProxyError(MinikubeError):
    pass


def proxy_table(nft_table: str) -> str:
    """The proxy's table: the node's table name + ``-proxy`` (``minikube-py-proxy``; tests'
    ``minikube_py_test_<tag>-proxy``, which the leak sweep finds)."""
    return f"{nft_table}-proxy"


@dataclass(frozen=True)
class ProxyConfig:
    table: str
    cluster_cidr: str
    state_dir: str
    service_cidr: str = SERVICE_CIDR
    pod_interface: str = ""           # the node's bridge (see RulesConfig.pod_interface)
    min_sync_period: float = 0.2      # upstream: 1 s
    full_sync_period: float = 3600.0  # upstream nftables: FullSyncPeriod, 1 hour

    @classmethod
    def from_node(cls, node: NodeConfig) -> ProxyConfig:
        return cls(table=proxy_table(node.nft_table), cluster_cidr=node.pod_cidr,
                   state_dir=node.state_dir, pod_interface=node.bridge)

    @property
    def rules(self) -> RulesConfig:
        return RulesConfig(self.table, self.cluster_cidr, self.service_cidr,
                           self.pod_interface)

    @property
    def ruleset_path(self) -> str:
        return os.path.join(self.state_dir, "kube-proxy.nft")

    @property
    def sync_path(self) -> str:
        return os.path.join(self.state_dir, "kube-proxy-sync.nft")


def _nft(args: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["nft", *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ProxyError(f"failed to run nft {' '.join(args)}: {e}") from e


def nft_f(path: str, table: str) -> None:
    """``nft -f PATH``: load a script in one atomic transaction (all or nothing)."""
    explain.record(["nft", "-f", path])
    result = _nft(["-f", path])
    if result.returncode != 0:
        raise ProxyError.failed("load", "nft table", table, result.stderr.strip()[:2000])


def nft_delete_table(table: str) -> None:
    """``nft delete table ip TABLE``."""
    explain.record(["nft", "delete", "table", "ip", table])
    result = _nft(["delete", "table", "ip", table])
    if result.returncode != 0:
        raise ProxyError.failed("delete", "nft table", table, result.stderr.strip())


def find_proxy_table(table: str) -> str | None:
    """``nft list table ip TABLE``; None when there is no such table."""
    result = _nft(["list", "table", "ip", table])
    return result.stdout if result.returncode == 0 else None


def delete_proxy_table(table: str) -> bool:
    """Delete the proxy's table if it is there; True if it was."""
    if find_proxy_table(table) is None:
        return False
    nft_delete_table(table)
    return True


def sysctl_bridge_nf_call_iptables() -> None:
    """``modprobe br_netfilter; sysctl -w net.bridge.bridge-nf-call-iptables=1``, each
    skipped when already done (it is on Debian 12 once anything loaded br_netfilter)."""
    if not os.path.exists(BRIDGE_NF_SYSCTL):
        explain.record(["modprobe", "br_netfilter"])
        subprocess.run(["modprobe", "br_netfilter"], capture_output=True, timeout=30)
    try:
        with open(BRIDGE_NF_SYSCTL) as f:
            if f.read().strip() == "1":
                return
        explain.record(["sysctl", "-w", "net.bridge.bridge-nf-call-iptables=1"])
        with open(BRIDGE_NF_SYSCTL, "w") as f:
            f.write("1\n")
    except OSError as e:
        raise ProxyError.failed("set", "sysctl", "net.bridge.bridge-nf-call-iptables",
                                str(e)) from e


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class RuleSyncer:
    """Holds the last applied table and brings the kernel to a new one, cheaply."""

    def __init__(self, config: ProxyConfig) -> None:
        self.config = config
        self.applied: Ruleset | None = None
        self._last = ""
        self._unwritten = False
        self._cache: dict[str, tuple[Any, Any, Fragment]] = {}

    def build(self, services: list[dict[str, Any]],
              endpoints: list[dict[str, Any]]) -> Ruleset:
        """Step 1: the table; unchanged Services reuse their previous fragment object."""
        by_key = {service_key(e): e for e in endpoints}
        cache, fragments = {}, {}
        for svc in services:
            key = service_key(svc)
            eps = by_key.get(key)
            hit = self._cache.get(key)
            if hit is not None and hit[0] == svc and hit[1] == eps:
                frag = hit[2]
            else:
                frag = service_fragment(svc, eps, self.config.rules)
            cache[key] = (svc, eps, frag)
            fragments[key] = frag
        self._cache = cache
        return Ruleset(self.config.rules, fragments)

    def sync(self, services: list[dict[str, Any]], endpoints: list[dict[str, Any]],
             full: bool = False, write: bool = True) -> str:
        """Steps 1-4 of the module docstring; returns "full", "partial" or "unchanged".
        ``write=False`` leaves step 4 to a later :meth:`write_ruleset`."""
        new = self.build(services, endpoints)
        old = self.applied
        script = None if full or old is None else update_script(old, new)
        if script == "":
            return "unchanged"
        mode = "partial"
        if script is not None:
            try:
                self._load(script)
            except ProxyError as e:
                log.warning("Partial sync failed, reloading the whole table err=%s", e)
                script = None
        if script is None:
            mode = "full"
            self.applied = None
            self._load(render(new))
        self.applied = new
        self._unwritten = mode == "partial"
        if mode == "full":
            _write(self.config.ruleset_path, self._last)
        if write:
            self.write_ruleset()
        return mode

    def write_ruleset(self) -> None:
        """Step 4 after a partial sync: the whole table, readable, in ``kube-proxy.nft``."""
        if self._unwritten and self.applied is not None:
            _write(self.config.ruleset_path, render(self.applied))
            self._unwritten = False

    def _load(self, text: str) -> None:
        self._last = text
        _write(self.config.sync_path, text)
        nft_f(self.config.sync_path, self.config.table)

    def delete(self) -> None:
        delete_proxy_table(self.config.table)
        self.applied = None
        self._cache = {}


def _resource(plural: str) -> Resource:
    found = lookup(plural)
    if found is None:  # pragma: no cover - the resource table is fixed
        raise ProxyError(f"failed to find resource {plural}: not in the resource table")
    return found


class Proxier:
    """kube-proxy: informers on services and endpoints, and a coalescing sync loop."""

    def __init__(self, client: Client, config: ProxyConfig) -> None:
        self.config = config
        self.syncer = RuleSyncer(config)
        self.services = Informer(client, _resource("services"))
        self.endpoints = Informer(client, _resource("endpoints"))
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.syncs = 0

    def start(self) -> None:
        sysctl_bridge_nf_call_iptables()
        for informer in (self.services, self.endpoints):
            informer.add_handler(lambda *_: self._dirty.set())
            informer.start()
        for informer in (self.services, self.endpoints):
            informer.wait_synced()
        self._thread = threading.Thread(target=self._run, name="kube-proxy", daemon=True)
        self._thread.start()
        log.info("Started kube-proxy table=%s ruleset=%s", self.config.table,
                 self.config.ruleset_path)

    def stop(self) -> None:
        """Stop watching; the table stays (as when a real kube-proxy stops)."""
        self._stopping.set()
        self._dirty.set()
        for informer in (self.services, self.endpoints):
            informer.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def sync_once(self, full: bool = False) -> str:
        mode = self.syncer.sync(self.services.list(), self.endpoints.list(), full=full)
        self.syncs += 1
        return mode

    def _run(self) -> None:
        full, last, last_full, delay = True, 0.0, 0.0, 0.0
        while not self._stopping.is_set():
            wait = self.config.full_sync_period - (time.monotonic() - last_full)
            self._dirty.wait(timeout=max(0.0, min(wait, 60.0)))
            if self._stopping.is_set():
                return
            pause = max(self.config.min_sync_period - (time.monotonic() - last), delay)
            if pause > 0:
                self._stopping.wait(pause)  # coalesce: more changes may arrive meanwhile
            self._dirty.clear()
            full = full or time.monotonic() - last_full >= self.config.full_sync_period
            started = time.monotonic()
            try:
                mode = self.sync_once(full=full)
            except MinikubeError as e:
                log.error("Failed to sync proxy rules err=%s", e)
                full, delay = True, min(max(delay * 2, 0.5), 30.0)
                self._dirty.set()
                continue
            last, delay = time.monotonic(), 0.0
            if full:
                full, last_full = False, last
            if mode != "unchanged":
                log.info("Synced proxy rules mode=%s services=%d duration=%.3fs", mode,
                         len(self.syncer.applied.fragments) if self.syncer.applied else 0,
                         last - started)
