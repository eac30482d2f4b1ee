"""The cluster DNS server (the part of a cluster that CoreDNS plays): UDP and TCP on port 53.

Upstream runs CoreDNS in pods behind the Service ``kube-system/kube-dns`` (ClusterIP
10.96.0.10). Ours runs inside ``minikube-py up`` and listens on the node bridge's own address;
the Service has no selector and a hand-written Endpoints object pointing at that address, so
kube-proxy DNATs ``10.96.0.10:53`` to it exactly as it would to a CoreDNS pod. The kubelet
writes ``nameserver 10.96.0.10`` into every pod's ``/etc/resolv.conf``.

How it stays current: two informers (list + watch through the API server, like every other
component) keep Services and Endpoints in memory; a change marks the record table stale and
the next query rebuilds it (one rebuild per burst of changes, not one per event).

Wire format: dnslib parses queries and packs replies. UDP replies larger than 512 bytes (or
the client's EDNS buffer size) are sent truncated (flag ``tc``), so the client asks again over
TCP, where each message is preceded by its 2-byte length (RFC 1035 §4.2.2).

Try it against a running cluster (the bridge address is the node's gateway)::

    dig @10.244.0.1 kubernetes.default.svc.cluster.local
    dig @10.244.0.1 +tcp -t srv _dns._udp.kube-dns.kube-system.svc.cluster.local
    dig @10.244.0.1 -x 10.96.0.10
"""

from __future__ import annotations

import logging
import socket
import socketserver
import struct
import threading
from typing import Any

from dnslib import RCODE, DNSError, DNSHeader, DNSRecord

from minikube_py.api.resources import must
from minikube_py.client import Client, Informer
from minikube_py.dns.answer import answer, reply_to, truncated, udp_limit
from minikube_py.dns.records import RecordTable, build_table
from minikube_py.errors import MinikubeError

log = logging.getLogger(__name__)

TCP_IDLE_TIMEOUT = 5.0
FORWARD_TIMEOUT = 2.0
UDP_RECEIVE_BUFFER = 1 << 20


class DNSServerError(MinikubeError):
    pass


class RecordSource:
    """A record table kept current by informers on Services and Endpoints."""

    def __init__(self, client: Client, zone: str = "cluster.local") -> None:
        self.zone = zone
        self.services = Informer(client, must("services"))
        self.endpoints = Informer(client, must("endpoints"))
        self._lock = threading.Lock()
        self._stale = True
        self._table = RecordTable(zone + ".")
        self.serial = 0
        for informer in (self.services, self.endpoints):
            informer.add_handler(self._changed)

    def _changed(self, kind: str, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        self._stale = True

    def start(self, timeout: float = 10.0) -> None:
        for informer in (self.services, self.endpoints):
            informer.start()
        for informer in (self.services, self.endpoints):
            informer.wait_synced(timeout)

    def stop(self) -> None:
        for informer in (self.services, self.endpoints):
            informer.stop()

    def table(self) -> tuple[RecordTable, int]:
        """The current table and its serial (rebuilt first if anything changed)."""
        with self._lock:
            if self._stale:
                self._stale = False
                self._table = build_table(self.services.list(), self.endpoints.list(),
                                          self.zone)
                self.serial += 1
                log.debug("Rebuilt DNS records records=%d serial=%d", len(self._table),
                          self.serial)
            return self._table, self.serial


class StaticSource:
    """A fixed table (tests, and ``dig`` practice without a cluster)."""

    def __init__(self, table: RecordTable) -> None:
        self._table = table

    def table(self) -> tuple[RecordTable, int]:
        return self._table, 1


def forward_udp(request: DNSRecord, upstream: tuple[str, int],
                timeout: float = FORWARD_TIMEOUT) -> DNSRecord | None:
    """Ask the upstream resolver (only when one is configured explicitly); None on failure."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(request.pack(), upstream)
            while True:
                data, _ = sock.recvfrom(65535)
                reply = DNSRecord.parse(data)
                if reply.header.id == request.header.id:
                    return reply
        except (OSError, DNSError) as e:
            log.warning("Failed to forward DNS query upstream=%s:%d err=%s", *upstream, e)
            return None


class DNSServer:
    """Answers DNS over UDP and TCP on ``host:port`` (port 0: a free port, the same for both)
    from ``source.table()``."""

    def __init__(self, source: Any, host: str, port: int = 53,
                 upstream: tuple[str, int] | None = None,
                 forward_timeout: float = FORWARD_TIMEOUT) -> None:
        self.source = source
        self.forward_timeout = forward_timeout
        self.host = host
        self.port = port
        self.upstream = upstream
        self._servers: list[socketserver.BaseServer] = []
        self._threads: list[threading.Thread] = []

    def handle(self, data: bytes, udp: bool) -> bytes | None:
        """The reply to one message (None: drop it). Never raises on bad input."""
        try:
            request = DNSRecord.parse(data)
        except Exception as e:  # untrusted bytes: any parse failure means "malformed"
            log.debug("Dropped malformed DNS message bytes=%d err=%r", len(data), e)
            return _formerr(data)
        if request.header.qr:
            return None  # a response, not a query: never answer those (no loops)
        table, serial = self.source.table()
        forward = None
        if self.upstream is not None:
            upstream, timeout = self.upstream, self.forward_timeout

            def forward(req: DNSRecord) -> DNSRecord | None:
                return forward_udp(req, upstream, timeout)
        try:
            reply = answer(request, table, serial, forward)
        except Exception:
            log.exception("Failed to answer DNS query id=%d", request.header.id)
            reply = reply_to(request, RCODE.SERVFAIL)
        packed = reply.pack()
        if udp and len(packed) > udp_limit(request):
            packed = truncated(reply).pack()
        return packed

    def start(self) -> None:
        """Bind UDP and TCP (same port), then serve each in a thread."""
        for _ in range(20):
            try:
                udp = _UDPServer((self.host, self.port), _UDPHandler)
            except OSError as e:
                raise DNSServerError(f"failed to bind DNS server {self.host}:{self.port}/udp: "
                                     f"{e}") from e
            port = udp.server_address[1]
            try:
                tcp = _TCPServer((self.host, port), _TCPHandler)
            except OSError as e:
                udp.server_close()
                if self.port != 0:
                    raise DNSServerError(f"failed to bind DNS server {self.host}:{port}/tcp: "
                                         f"{e}") from e
                continue
            break
        else:  # pragma: no cover - twenty ports taken in a row
            raise DNSServerError(f"failed to bind DNS server {self.host}: no free port")
        self.port = int(port)
        for server in (udp, tcp):
            server.dns = self
            thread = threading.Thread(target=server.serve_forever, daemon=True,
                                      kwargs={"poll_interval": 0.05},
                                      name=f"dns-{type(server).__name__}")
            thread.start()
            self._servers.append(server)
            self._threads.append(thread)
        log.info("Started cluster DNS server addr=%s:%d upstream=%s", self.host, self.port,
                 f"{self.upstream[0]}:{self.upstream[1]}" if self.upstream else "none")

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers.clear()
        self._threads.clear()


def _formerr(data: bytes) -> bytes | None:
    """FORMERR with the query's id, if at least a header arrived and it is not a response."""
    if len(data) < 12 or data[2] & 0x80:
        return None
    header = DNSHeader(id=struct.unpack("!H", data[:2])[0], qr=1, rcode=RCODE.FORMERR)
    return DNSRecord(header).pack()


class _LoggingErrors:
    def handle_error(self, request: Any, client_address: Any) -> None:
        log.warning("Failed to serve DNS client client=%s", client_address, exc_info=True)


class _UDPServer(_LoggingErrors, socketserver.ThreadingUDPServer):
    dns: DNSServer
    allow_reuse_address = False  # on UDP, SO_REUSEADDR would let two servers share a port
    daemon_threads = True

    def server_bind(self) -> None:
        """A larger receive buffer (1 MiB, within ``net.core.rmem_max``): a burst of queries
        waits instead of being dropped by the kernel."""
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)
        super().server_bind()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Answer in the serving thread (fast: the table is in memory); only a server that
        may wait for an upstream resolver starts a thread per query."""
        if self.dns.upstream is not None:
            super().process_request(request, client_address)
            return
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)


class _TCPServer(_LoggingErrors, socketserver.ThreadingTCPServer):
    dns: DNSServer
    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False


class _UDPHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        data, sock = self.request
        reply = self.server.dns.handle(data, udp=True)  # type: ignore[attr-defined]
        if reply is not None:
            sock.sendto(reply, self.client_address)


class _TCPHandler(socketserver.BaseRequestHandler):
    """Length-prefixed messages until the client closes or stays idle."""

    def handle(self) -> None:
        conn: socket.socket = self.request
        conn.settimeout(TCP_IDLE_TIMEOUT)
        try:
            while True:
                size = _recv_exact(conn, 2)
                if size is None:
                    return
                data = _recv_exact(conn, struct.unpack("!H", size)[0])
                if data is None:
                    return
                reply = self.server.dns.handle(data, udp=False)  # type: ignore[attr-defined]
                if reply is None:
                    return
                conn.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            return


def _recv_exact(conn: socket.socket, size: int) -> bytes | None:
    chunks, remaining = [], size
    while remaining:
        chunk = conn.recv(remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


class ClusterDNS:
    """Informers + server: what ``minikube-py up`` starts as "cluster DNS"."""

    def __init__(self, client: Client, host: str, port: int = 53,
                 zone: str = "cluster.local", upstream: tuple[str, int] | None = None) -> None:
        self.source = RecordSource(client, zone)
        self.server = DNSServer(self.source, host, port, upstream)

    @property
    def port(self) -> int:
        return self.server.port

    def start(self) -> None:
        self.source.start()
        try:
            self.server.start()
        except Exception:
            self.source.stop()
            raise

    def stop(self) -> None:
        self.server.stop()
        self.source.stop()
