"""Port-forward sessions reach servers on a real network namespace's loopback.

The kubelet's two port-forward protocols are driven here directly, without HTTP: bytes in,
bytes out. The "pod" is a netns made by the test, with TCP servers listening on *its*
127.0.0.1 only — so nothing but a socket opened inside that netns can reach them. The client
side of SPDY is played with the same codec (what kubectl sends: an error and a data stream
per connection, sharing a requestID).
"""

from __future__ import annotations

import asyncio
import socket
import struct
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

import netns
from minikube_py.kubelet import portforward, spdy
from minikube_py.kubelet.portforward import ChannelSession, SpdySession

pytestmark = pytest.mark.root

ECHO_PORT, BULK_PORT, LINE_PORT, CLOSED_PORT = 8080, 8081, 8082, 9
BULK = bytes(range(256)) * 8192  # 2 MiB: far more than one frame or one SPDY window


@dataclass
class PodServers:
    """An echo server (answers ``got:<all it read>`` after EOF) and a bulk server (sends
    :data:`BULK`), both on 127.0.0.1 inside the netns; counts connections still open."""

    netns: str
    open_connections: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    sockets: list[socket.socket] = field(default_factory=list)

    def serve(self, port: int, handle) -> None:
        with netns.enter_netns(self.netns):
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(8)
        self.sockets.append(listener)

        def loop() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                threading.Thread(target=self._run, args=(conn, handle), daemon=True).start()

        threading.Thread(target=loop, daemon=True).start()

    def _run(self, conn: socket.socket, handle) -> None:
        with self.lock:
            self.open_connections += 1
        try:
            handle(conn)
        except OSError:
            pass
        finally:
            conn.close()
            with self.lock:
                self.open_connections -= 1


def echo(conn: socket.socket) -> None:
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    conn.sendall(b"got:" + data)


def bulk(conn: socket.socket) -> None:
    conn.sendall(BULK)


def line(conn: socket.socket) -> None:
    data = b""
    while b"\n" not in data and (chunk := conn.recv(65536)):
        data += chunk
    conn.sendall(b"line:" + data)


@pytest.fixture
def pod(test_names) -> Iterator[PodServers]:
    name = f"{test_names.prefix}pf"
    path = netns.ensure_netns(name)
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    servers = PodServers(path)
    try:
        servers.serve(ECHO_PORT, echo)
        servers.serve(BULK_PORT, bulk)
        servers.serve(LINE_PORT, line)
        yield servers
    finally:
        for s in servers.sockets:
            s.close()
        netns.delete_netns(name)


def headers(stream_type: str, port: int, request_id: int) -> spdy.Headers:
    return {"streamType": [stream_type], "port": [str(port)], "requestID": [str(request_id)]}


class Kubectl:
    """The client half of a SPDY session, as kubectl drives it."""

    def __init__(self, pod: PodServers) -> None:
        self.codec = spdy.Codec()
        self.outbox: asyncio.Queue[bytes] = asyncio.Queue()
        self.session = SpdySession(pod.netns, "web", "uid-1", self._deliver)
        self.frames: list[spdy.Frame] = []
        self.next_id = 1

    async def _deliver(self, data: bytes) -> None:
        self.frames += self.codec.feed(data)

    async def send(self, data: bytes) -> None:
        await self.session.received(data)

    async def open_pair(self, port: int, request_id: int) -> tuple[int, int]:
        error_id, data_id = self.next_id, self.next_id + 2
        self.next_id += 4
        await self.send(self.codec.syn_stream(error_id, headers("error", port, request_id)))
        await self.send(self.codec.syn_stream(data_id, headers("data", port, request_id)))
        return error_id, data_id

    async def read_until_fin(self, stream_id: int, timeout: float = 10) -> bytes:
        async def wait() -> bytes:
            while not any(f.stream_id == stream_id and f.type == spdy.DATA and f.fin
                          for f in self.frames):
                await asyncio.sleep(0.01)
            return b"".join(f.data for f in self.frames
                            if f.type == spdy.DATA and f.stream_id == stream_id)
        return await asyncio.wait_for(wait(), timeout)


def test_kubectl_spdy_streams_reach_the_pods_loopback_both_ways(pod):
    async def scenario() -> None:
        kubectl = Kubectl(pod)
        error_id, data_id = await kubectl.open_pair(ECHO_PORT, 0)
        replies = [f.stream_id for f in kubectl.frames if f.type == spdy.SYN_REPLY]
        assert replies == [error_id, data_id]  # kubectl waits for these
        await kubectl.send(kubectl.codec.data(error_id, b"", fin=True))  # as kubectl does
        await kubectl.send(kubectl.codec.data(data_id, b"hello "))
        await kubectl.send(kubectl.codec.data(data_id, b"pod", fin=True))
        assert await kubectl.read_until_fin(data_id) == b"got:hello pod"
        assert await kubectl.read_until_fin(error_id) == b""  # no error
        await kubectl.session.close()

    asyncio.run(scenario())
    assert pod.open_connections == 0


def test_a_large_download_and_two_connections_at_once_arrive_intact(pod):
    async def scenario() -> None:
        kubectl = Kubectl(pod)
        _, bulk_data = await kubectl.open_pair(BULK_PORT, 1)
        _, echo_data = await kubectl.open_pair(ECHO_PORT, 2)
        await kubectl.send(kubectl.codec.data(echo_data, b"second", fin=True))
        got_bulk, got_echo = await asyncio.gather(kubectl.read_until_fin(bulk_data),
                                                  kubectl.read_until_fin(echo_data))
        assert got_bulk == BULK
        assert got_echo == b"got:second"
        await kubectl.session.close()

    asyncio.run(scenario())


def test_a_closed_port_is_reported_on_the_error_stream_like_the_kubelet(pod):
    async def scenario() -> None:
        kubectl = Kubectl(pod)
        error_id, data_id = await kubectl.open_pair(CLOSED_PORT, 7)
        message = (await kubectl.read_until_fin(error_id)).decode()
        assert message.startswith(f"error forwarding port {CLOSED_PORT} to pod web, uid uid-1:")
        assert "Connection refused" in message
        assert await kubectl.read_until_fin(data_id) == b""
        await kubectl.session.close()

    asyncio.run(scenario())


def test_pings_are_answered_and_a_bad_port_header_resets_the_stream(pod):
    async def scenario() -> None:
        kubectl = Kubectl(pod)
        await kubectl.send(kubectl.codec.ping(1))
        assert [(f.type, f.value) for f in kubectl.frames] == [(spdy.PING, 1)]
        await kubectl.send(kubectl.codec.syn_stream(1, headers("data", 0, 3)))
        assert kubectl.frames[-1].type == spdy.RST_STREAM
        assert kubectl.frames[-1].stream_id == 1
        assert kubectl.frames[-1].value == spdy.CANCEL  # as the kubelet: no reply, a reset
        await kubectl.session.close()

    asyncio.run(scenario())


def test_a_reset_from_the_client_drops_the_pod_side_and_still_ends_the_error_stream(pod):
    async def scenario() -> None:
        kubectl = Kubectl(pod)
        error_id, data_id = await kubectl.open_pair(ECHO_PORT, 0)
        await kubectl.send(kubectl.codec.data(data_id, b"half a request"))
        for _ in range(200):
            if pod.open_connections:
                break
            await asyncio.sleep(0.01)
        await kubectl.send(kubectl.codec.rst_stream(data_id, spdy.CANCEL))  # local side died
        assert await kubectl.read_until_fin(error_id) == b""  # kubectl waits for this
        assert not [f for f in kubectl.frames if f.stream_id == data_id and f.fin]
        await kubectl.session.close()

    asyncio.run(scenario())
    for _ in range(200):
        if not pod.open_connections:
            break
        threading.Event().wait(0.01)
    assert pod.open_connections == 0


def test_half_a_pair_times_out_with_the_kubelets_message(pod, monkeypatch):
    monkeypatch.setattr(portforward, "PAIR_TIMEOUT", 0.2)

    async def scenario() -> None:
        kubectl = Kubectl(pod)
        await kubectl.send(kubectl.codec.syn_stream(1, headers("error", ECHO_PORT, 5)))
        message = await kubectl.read_until_fin(1)
        assert message == b"(request=5) timed out waiting for streams"
        await kubectl.send(kubectl.codec.syn_stream(3, headers("data", ECHO_PORT, 6)))
        await asyncio.sleep(0.5)
        assert (kubectl.frames[-1].type, kubectl.frames[-1].stream_id) == (spdy.RST_STREAM, 3)
        assert pod.open_connections == 0  # nothing was ever connected
        await kubectl.session.close()

    asyncio.run(scenario())


def test_closing_the_session_drops_the_connections_into_the_pod(pod):
    async def scenario() -> None:
        kubectl = Kubectl(pod)
        await kubectl.open_pair(ECHO_PORT, 0)  # open, never finished by the client
        for _ in range(200):
            if pod.open_connections:
                break
            await asyncio.sleep(0.01)
        assert pod.open_connections == 1
        await kubectl.session.close()

    asyncio.run(scenario())
    for _ in range(200):  # the echo server sees EOF once the kubelet's socket is closed
        if not pod.open_connections:
            break
        threading.Event().wait(0.01)
    assert pod.open_connections == 0


def test_channel_protocol_announces_ports_then_carries_each_on_its_channel(pod):
    async def scenario() -> None:
        messages: list[bytes] = []
        finished = asyncio.Event()

        async def done() -> None:
            finished.set()

        async def collect(data: bytes) -> None:
            messages.append(data)

        ports = [BULK_PORT, CLOSED_PORT, LINE_PORT]
        session = ChannelSession(pod.netns, "web", "uid-1", ports, collect, done)
        await session.start()
        assert messages[:6] == [bytes([channel]) + struct.pack("<H", port)
                                for i, port in enumerate(ports)
                                for channel in (2 * i, 2 * i + 1)]
        await session.received(bytes([4]) + b"hello ")
        await session.received(bytes([4]) + b"line\n")
        await asyncio.wait_for(finished.wait(), 10)  # all three connections ended
        by_channel: dict[int, bytes] = {}
        for m in messages[6:]:
            by_channel[m[0]] = by_channel.get(m[0], b"") + m[1:]
        assert by_channel.pop(0) == BULK
        assert b"error forwarding port 9 to pod web" in by_channel.pop(3)
        assert by_channel == {4: b"line:hello line\n"}  # nothing else on any channel
        await session.close()

    asyncio.run(scenario())
