"""Port forwarding into a pod: what ``kubectl port-forward`` reaches on the node.

``kubectl port-forward pod/web 8080:80`` listens on 127.0.0.1:8080 on *your* machine. For
each connection made there it asks the API server, which hands it to the kubelet of the
pod's node (``/portForward/<ns>/<pod>``), to open a TCP connection to port 80 **on the pod's
own loopback** — inside the pod's network namespace, so even a server listening only on
127.0.0.1 in the pod is reachable — and copies bytes both ways. No Service, no nftables
rule, no route is involved: the kubelet enters the netns. Upstream's dockershim did it with
``nsenter -t <pid> -n socat - TCP4:localhost:80``; here a socket is opened from a thread that
has joined the netns (:func:`netns.enter_netns`); a socket belongs to the namespace it was
created in. Watch one while it is open: ``ip netns exec <pod netns> ss -tn``.

Two wire protocols reach this module, both over a WebSocket from the API server:

- **SPDY** (subprotocol ``SPDY/3.1+portforward.k8s.io``, what kubectl speaks): one session
  carries every local connection. For each, kubectl opens two SPDY streams with the headers
  ``streamType: error`` / ``streamType: data``, ``port: 80`` and the same ``requestID``. The
  data stream carries the bytes; the error stream carries, at the end, an error message
  (or nothing) and then FIN. See :mod:`minikube_py.kubelet.spdy` for the framing.
- **channels** (subprotocol ``v4.channel.k8s.io``, what the official Python client and
  ``minikube-py port-forward`` speak): ``?ports=80,443``; one connection per port, for the
  life of the WebSocket. Port number *i* (from 0) has data channel ``2i`` and error channel
  ``2i+1``; each binary message starts with its channel byte; the first message of every
  channel is the port number, 2 bytes little-endian.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import explain
from minikube_py.kubelet import spdy
from netns import enter_netns

log = logging.getLogger(__name__)

SPDY_PROTOCOL = "SPDY/3.1+portforward.k8s.io"
CHANNEL_PROTOCOLS = ("v4.channel.k8s.io", "portforward.k8s.io")

#: Largest chunk read from the pod's socket into one frame or message.
CHUNK = 32 * 1024
#: How long the first stream of a pair waits for the second (upstream's
#: streamCreationTimeout).
PAIR_TIMEOUT = 30.0

Send = Callable[[bytes], Awaitable[None]]


class PortForwardError(Exception):
    """A forwarded connection failed; the message is what the client shows."""


def parse_port(text: str | None) -> int:
    try:
        port = int(text or "")
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise PortForwardError(f'invalid port "{text}": must be 1-65535')
    return port


def parse_ports(values: list[str]) -> list[int]:
    """``?ports=80,443&ports=8080`` -> [80, 443, 8080]."""
    ports = [parse_port(p.strip()) for v in values for p in v.split(",") if p.strip()]
    if not ports:
        raise PortForwardError("at least one port must be given (?ports=80)")
    return ports


async def connect_in_pod(netns_path: str, port: int, pod: str, uid: str
                         ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP connection to 127.0.0.1:``port`` inside the pod's network namespace."""
    loop = asyncio.get_running_loop()

    def socket_in_netns() -> socket.socket:
        with enter_netns(netns_path):
            return socket.socket(socket.AF_INET, socket.SOCK_STREAM)

    explain.record(f"nsenter --net={netns_path} socat - TCP4:127.0.0.1:{port}")
    sock = await loop.run_in_executor(None, socket_in_netns)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(loop.sock_connect(sock, ("127.0.0.1", port)), 10)
        return await asyncio.open_connection(sock=sock)
    except (OSError, asyncio.TimeoutError) as e:
        sock.close()
        reason = os.strerror(e.errno) if isinstance(e, OSError) and e.errno else "timed out"
        raise PortForwardError(f"error forwarding port {port} to pod {pod}, uid {uid}: "
                               f"failed to connect to localhost:{port} inside the pod's "
                               f"network namespace: {reason}") from e
    except BaseException:  # cancelled mid-connect: the socket goes too
        sock.close()
        raise


async def close_writer(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, asyncio.CancelledError):
        await writer.wait_closed()


async def splice(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 inbox: asyncio.Queue[bytes | None], deliver: Send,
                 half_close: Callable[[], bool] = lambda: False) -> None:
    """Copy one forwarded connection both ways until the pod closes its end: the client's
    bytes from ``inbox`` into the pod (``None``: the client is done; ``half_close()`` says
    whether to pass that on as a TCP half-close), the pod's bytes to ``deliver``."""

    async def upstream() -> None:  # client -> pod
        with contextlib.suppress(OSError):  # the pod closed (or reset) its end
            while (chunk := await inbox.get()) is not None:
                writer.write(chunk)
                await writer.drain()
            if half_close() and writer.can_write_eof():
                writer.write_eof()

    up = asyncio.ensure_future(upstream())
    try:
        while chunk := await reader.read(CHUNK):  # pod -> client
            await deliver(chunk)
    except OSError:
        pass
    finally:
        up.cancel()
        await close_writer(writer)


# -- SPDY (kubectl) -------------------------------------------------------------------------
class _Pair:
    """The two streams of one forwarded connection, and what the client sent on the data one."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.error_id = 0
        self.data_id = 0
        self.inbox: asyncio.Queue[bytes | None] = asyncio.Queue()  # None = client's FIN
        self.task: asyncio.Task[None] | None = None
        self.writer: asyncio.StreamWriter | None = None  # to the pod, once connected
        self.reset = False  # the client reset the data stream


class SpdySession:
    """The server side of one ``kubectl port-forward`` SPDY session.

    Feed it the bytes that arrive (:meth:`received`); it answers through ``send``. Every
    frame is compressed and sent under one lock: the header compression context is shared,
    so frames must leave in the order they were encoded.
    """

    def __init__(self, netns_path: str, pod: str, uid: str, send: Send) -> None:
        self.netns_path, self.pod, self.uid = netns_path, pod, uid
        self._send = send
        self._codec = spdy.Codec()
        self._lock = asyncio.Lock()
        self._pairs: dict[str, _Pair] = {}       # requestID -> pair
        self._by_stream: dict[int, _Pair] = {}   # data stream id -> pair
        self._tasks: set[asyncio.Task[None]] = set()
        self._timers: list[asyncio.TimerHandle] = []

    async def send(self, encode: Callable[[spdy.Codec], bytes]) -> None:
        async with self._lock:
            await self._send(encode(self._codec))

    async def received(self, data: bytes) -> None:
        for frame in self._codec.feed(data):
            await self._handle(frame)

    async def _handle(self, frame: spdy.Frame) -> None:
        if frame.type == spdy.SYN_STREAM:
            await self._open(frame)
        elif frame.type == spdy.DATA:
            pair = self._by_stream.get(frame.stream_id)
            if pair is not None:
                if frame.data:
                    pair.inbox.put_nowait(frame.data)
                if frame.fin:
                    pair.inbox.put_nowait(None)
        elif frame.type == spdy.RST_STREAM:
            # The client gave up on this connection: drop the pod side; the copy then ends
            # and still finishes the error stream, which kubectl waits for.
            pair = self._by_stream.get(frame.stream_id)
            if pair is not None:
                pair.reset = True
                pair.inbox.put_nowait(None)
                if pair.writer is not None:
                    pair.writer.close()
        elif frame.type == spdy.PING:
            await self.send(lambda c: c.ping(frame.value))
        # SETTINGS, WINDOW_UPDATE, HEADERS, GOAWAY: nothing to do (no flow control here).

    async def _open(self, frame: spdy.Frame) -> None:
        stream_type, request_id = frame.header("streamType"), frame.header("requestID")
        try:
            port = parse_port(frame.header("port"))
            if stream_type not in ("error", "data") or not request_id:
                raise PortForwardError(f"stream {frame.stream_id}: streamType must be error or "
                                       f"data, and requestID set")
        except PortForwardError as e:
            log.info("Port-forward stream refused pod=%s: %s", self.pod, e)
            await self.send(lambda c: c.rst_stream(frame.stream_id, spdy.CANCEL))
            return
        await self.send(lambda c: c.syn_reply(frame.stream_id))
        if request_id not in self._pairs:
            self._timers = [t for t in self._timers if not t.cancelled() and
                            t.when() > asyncio.get_running_loop().time()]
            self._timers.append(asyncio.get_running_loop().call_later(
                PAIR_TIMEOUT, lambda: self._start(self._expire(request_id))))
        pair = self._pairs.setdefault(request_id, _Pair(port))
        if stream_type == "error":
            pair.error_id = frame.stream_id
        else:
            pair.data_id = frame.stream_id
            self._by_stream[frame.stream_id] = pair
        if pair.error_id and pair.data_id:
            del self._pairs[request_id]
            pair.task = self._start(self._forward(pair))

    def _start(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _expire(self, request_id: str) -> None:
        """The pair is still incomplete after :data:`PAIR_TIMEOUT`: say so and give up."""
        pair = self._pairs.pop(request_id, None)
        if pair is None:
            return
        with contextlib.suppress(ConnectionError):
            if pair.error_id:
                message = f"(request={request_id}) timed out waiting for streams".encode()
                await self.send(lambda c: c.data(pair.error_id, message, fin=True))
            if pair.data_id:
                self._by_stream.pop(pair.data_id, None)
                await self.send(lambda c: c.rst_stream(pair.data_id, spdy.CANCEL))

    async def _forward(self, pair: _Pair) -> None:
        try:
            await self._copy(pair)
        except ConnectionError as e:  # the WebSocket went away mid-copy
            log.info("Port-forward connection ended pod=%s port=%d: %s", self.pod, pair.port, e)

    async def _copy(self, pair: _Pair) -> None:
        try:
            reader, writer = await connect_in_pod(self.netns_path, pair.port, self.pod,
                                                  self.uid)
        except PortForwardError as e:
            message = str(e).encode()
            await self.send(lambda c: c.data(pair.error_id, message, fin=True))
            await self.send(lambda c: c.data(pair.data_id, b"", fin=True))
            self._by_stream.pop(pair.data_id, None)
            return
        pair.writer = writer
        if pair.reset:  # kubectl gave up while we were connecting
            writer.close()

        async def deliver(chunk: bytes) -> None:
            await self.send(lambda c: c.data(pair.data_id, chunk))

        try:
            await splice(reader, writer, pair.inbox, deliver, lambda: not pair.reset)
        finally:
            self._by_stream.pop(pair.data_id, None)
        # The pod closed its end: FIN the data stream, then an empty error stream (= no error).
        if not pair.reset:
            await self.send(lambda c: c.data(pair.data_id, b"", fin=True))
        await self.send(lambda c: c.data(pair.error_id, b"", fin=True))

    async def close(self) -> None:
        """The WebSocket is gone: drop every forwarded connection."""
        for timer in self._timers:
            timer.cancel()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task


# -- channels (Python client, minikube-py port-forward) --------------------------------------
class ChannelSession:
    """The server side of one channel WebSocket: one pod connection per port in ``ports``.

    :meth:`start` sends each channel's port number and connects; :meth:`received` takes the
    client's messages; when every connection has ended, ``done`` is called (close the
    WebSocket: the client sees end-of-stream).
    """

    def __init__(self, netns_path: str, pod: str, uid: str, ports: list[int], send: Send,
                 done: Callable[[], Awaitable[object]]) -> None:
        self.netns_path, self.pod, self.uid, self.ports = netns_path, pod, uid, ports
        self._send, self._done = send, done
        self._inboxes: list[asyncio.Queue[bytes | None]] = [asyncio.Queue() for _ in ports]
        self._tasks: list[asyncio.Task[None]] = []
        self._waiter: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for i, port in enumerate(self.ports):  # first message of each channel: its port
            await self._send(bytes([2 * i]) + struct.pack("<H", port))
            await self._send(bytes([2 * i + 1]) + struct.pack("<H", port))
        self._tasks = [asyncio.ensure_future(self._forward(i, port))
                       for i, port in enumerate(self.ports)]
        self._waiter = asyncio.ensure_future(self._wait())

    async def _wait(self) -> None:
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._done()

    async def received(self, message: bytes) -> None:
        channel = message[0] if message else 1
        if channel % 2 == 0 and channel // 2 < len(self.ports) and len(message) > 1:
            self._inboxes[channel // 2].put_nowait(message[1:])  # only data channels

    async def _forward(self, i: int, port: int) -> None:
        try:
            reader, writer = await connect_in_pod(self.netns_path, port, self.pod, self.uid)
        except PortForwardError as e:
            await self._send(bytes([2 * i + 1]) + str(e).encode())
            return

        async def deliver(chunk: bytes) -> None:
            await self._send(bytes([2 * i]) + chunk)

        await splice(reader, writer, self._inboxes[i], deliver)

    async def close(self) -> None:
        """The WebSocket is gone: drop every connection."""
        if self._waiter is not None:
            self._waiter.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
