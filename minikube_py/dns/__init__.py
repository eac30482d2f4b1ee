"""Cluster DNS: names for Services, answered at 10.96.0.10 (what CoreDNS does upstream).

- :mod:`.records` — the record table, computed from Services and Endpoints (pure);
- :mod:`.answer` — one DNS question to one reply, from that table (pure);
- :mod:`.server` — the UDP + TCP server on the node bridge's address, kept current by
  informers;
- :mod:`.kubedns` — the Service ``kube-system/kube-dns`` (10.96.0.10, no selector) and its
  hand-written Endpoints, so kube-proxy sends ``10.96.0.10:53`` to the server.

From a pod (its ``/etc/resolv.conf`` says ``nameserver 10.96.0.10``, ``search
<ns>.svc.cluster.local svc.cluster.local cluster.local``, ``options ndots:5``)::

    nslookup nginx-svc.default.svc.cluster.local
    wget -qO- http://nginx-svc:8080
"""

from minikube_py.dns.kubedns import CLUSTER_DNS_IP, ensure_kube_dns
from minikube_py.dns.records import Record, RecordTable, build_table
from minikube_py.dns.server import ClusterDNS, DNSServer, StaticSource

__all__ = ["CLUSTER_DNS_IP", "ClusterDNS", "DNSServer", "Record", "RecordTable",
           "StaticSource", "build_table", "ensure_kube_dns"]
