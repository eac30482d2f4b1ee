"""The kubelet's own HTTP server: logs, exec and port-forward, for the API server to proxy.

``kubectl logs`` and ``kubectl exec`` do not go to the node directly: they ask the API
server (``GET /api/v1/namespaces/<ns>/pods/<pod>/log``, ``.../exec``), which forwards to the
kubelet of the pod's node — the port it advertised in its Node's
``status.daemonEndpoints.kubeletEndpoint.Port``, on its InternalIP. Upstream's kubelet
serves these paths on port 10250:

- ``GET /containerLogs/<ns>/<pod>/<container>?follow=&tailLines=&previous=&timestamps=``
  — the log, as plain text, streamed while following;
- ``GET /exec/<ns>/<pod>/<container>?command=..&command=..&stdin=&stdout=&stderr=&tty=``
  — a WebSocket (subprotocol ``v5.channel.k8s.io``): each binary frame starts with a
  channel byte (0 stdin, 1 stdout, 2 stderr, 3 the final Status, 4 terminal resize,
  255 close stdin);
- ``GET /portForward/<ns>/<pod>`` — a WebSocket for ``kubectl port-forward`` (SPDY inside,
  subprotocol ``SPDY/3.1+portforward.k8s.io``) or for the Python client (channels,
  ``v4.channel.k8s.io``, ``?ports=80``): TCP connections to the pod's own loopback, made
  from inside its network namespace (``minikube_py.kubelet.portforward``);
- ``GET /stats/summary`` — cumulative CPU time and memory working set of the node and of
  each running pod and container (``minikube_py.kubelet.stats``), for ``kubectl top``.

Only the API server may call these: every request but ``/healthz`` must carry the bearer
token the cluster shares with its API server (``<state>/pki/kubelet-token``), since pods can
reach the node's address too. Upstream uses TLS client certificates for the same purpose.
Try it: ``curl -H "Authorization: Bearer $(cat /var/lib/minikube-py/pki/kubelet-token)"
http://10.244.0.1:10250/containerLogs/default/<pod>/<container>``.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import struct
import subprocess
import termios
import threading
from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web

from minikube_py.config import NodeConfig
from minikube_py.kubelet import stats
from minikube_py.kubelet.logs import follow_log, instance_dirs
from minikube_py.kubelet.podsandbox import find_pod_sandbox
from minikube_py.kubelet.portforward import (
    CHANNEL_PROTOCOLS,
    SPDY_PROTOCOL,
    ChannelSession,
    PortForwardError,
    SpdySession,
    parse_ports,
)
from runtime import container as rt
from runtime.cgroups import detect_driver
from runtime.exec import exec_in_container

log = logging.getLogger(__name__)

Pod = dict[str, Any]
PodLookup = Callable[[str, str], "Pod | None"]

STDIN, STDOUT, STDERR, STATUS, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255


def _bool(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes")


def _bundles(config: NodeConfig, pod: Pod, container: str) -> list[str]:
    names = [c["name"] for c in (pod["spec"].get("initContainers") or [])
             + pod["spec"]["containers"]]
    if container not in names:
        raise web.HTTPNotFound(text=f"container {container} is not valid for pod "
                                    f"{pod['metadata']['name']}")
    return instance_dirs(config, pod["metadata"]["uid"], container)


class KubeletServer:
    """Serves logs and exec for the pods ``lookup(namespace, name)`` knows."""

    def __init__(self, config: NodeConfig, lookup: PodLookup, host: str, port: int,
                 token: str | None = None) -> None:
        self.config = config
        self.token = token
        self.lookup = lookup
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @web.middleware
    async def _require_token(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path != "/healthz" and self.token is not None:
            import hmac

            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
                raise web.HTTPUnauthorized(text="Unauthorized: only the API server may call "
                                                "the kubelet")
        response: web.StreamResponse = await handler(request)
        return response

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._require_token])
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/containerLogs/{ns}/{pod}/{container}", self.logs)
        app.router.add_get("/exec/{ns}/{pod}/{container}", self.exec)
        app.router.add_post("/exec/{ns}/{pod}/{container}", self.exec)
        app.router.add_get("/portForward/{ns}/{pod}", self.port_forward)
        app.router.add_get("/stats/summary", self.stats_summary)
        return app

    async def healthz(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="ok")

    async def stats_summary(self, request: web.Request) -> web.StreamResponse:
        """Usage of the node and its running pods (see ``minikube_py.kubelet.stats``)."""
        data = await asyncio.get_running_loop().run_in_executor(
            None, stats.summary, self.config, detect_driver(), self.lookup)
        return web.json_response(data)

    def _pod(self, request: web.Request) -> Pod:
        pod = self.lookup(request.match_info["ns"], request.match_info["pod"])
        if pod is None:
            raise web.HTTPNotFound(text=f"pod {request.match_info['pod']} not found on node")
        return pod

    # -- logs ---------------------------------------------------------------------------------
    async def logs(self, request: web.Request) -> web.StreamResponse:
        pod = self._pod(request)
        bundles = _bundles(self.config, pod, request.match_info["container"])
        index = 1 if _bool(request, "previous") else 0
        if len(bundles) <= index:
            raise web.HTTPBadRequest(text=f'previous terminated container '
                                          f'"{request.match_info["container"]}" not found')
        bundle = bundles[index]
        with open(os.path.join(bundle, "labels.json")) as f:
            path = json.load(f)["log_path"]
        follow = _bool(request, "follow") and index == 0
        tail = int(request.query["tailLines"]) if "tailLines" in request.query else None
        timestamps = _bool(request, "timestamps")
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        lines = list(follow_log(path, timestamps=timestamps))
        already_read = len(lines)
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        for line in lines:
            await response.write(line.encode())
        if follow:
            await self._follow(response, path, bundle, already_read, timestamps)
        await response.write_eof()
        return response

    async def _follow(self, response: web.StreamResponse, path: str, bundle: str,
                      skip: int, timestamps: bool) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        stop = threading.Event()

        def running() -> bool:
            return not stop.is_set() and os.path.isdir(bundle) and rt.container_state(
                bundle).status in ("created", "running")

        def pump() -> None:
            for i, line in enumerate(follow_log(path, follow=True, timestamps=timestamps,
                                                still_running=running)):
                if i >= skip:
                    loop.call_soon_threadsafe(queue.put_nowait, line)
            loop.call_soon_threadsafe(queue.put_nowait, None)

        threading.Thread(target=pump, daemon=True).start()
        try:
            while (line := await queue.get()) is not None:
                await response.write(line.encode())
        finally:
            stop.set()

    # -- exec ---------------------------------------------------------------------------------
    async def exec(self, request: web.Request) -> web.StreamResponse:
        pod = self._pod(request)
        bundles = _bundles(self.config, pod, request.match_info["container"])
        if not bundles or rt.container_state(bundles[0]).status != "running":
            raise web.HTTPBadRequest(text=f"container {request.match_info['container']} is "
                                          "not running")
        argv = request.query.getall("command", [])
        if not argv:
            raise web.HTTPBadRequest(text="you must specify at least one command")
        ws = web.WebSocketResponse(protocols=("v5.channel.k8s.io", "v4.channel.k8s.io"))
        await ws.prepare(request)
        tty = _bool(request, "tty")
        want_stdin = _bool(request, "stdin")
        loop = asyncio.get_running_loop()
        if tty:
            proc = exec_in_container(bundles[0], argv, tty=True)
            master = proc.master_fd
            assert master is not None
            readers = [(master, STDOUT)]
            stdin_fd: int | None = master
        else:
            proc = exec_in_container(
                bundles[0], argv, stdin=subprocess.PIPE if want_stdin else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            assert proc.stdout is not None and proc.stderr is not None
            readers = [(proc.stdout.fileno(), STDOUT), (proc.stderr.fileno(), STDERR)]
            stdin_fd = proc.stdin.fileno() if proc.stdin is not None else None

        async def send(channel: int, data: bytes) -> None:
            if not ws.closed:
                await ws.send_bytes(bytes([channel]) + data)

        def pump(fd: int, channel: int) -> None:
            while True:
                try:
                    data = os.read(fd, 65536)
                except OSError:
                    data = b""
                if not data:
                    return
                asyncio.run_coroutine_threadsafe(send(channel, data), loop).result()

        threads = [threading.Thread(target=pump, args=r, daemon=True) for r in readers]
        for t in threads:
            t.start()
        receiver = asyncio.ensure_future(self._receive(ws, stdin_fd, tty, proc))
        code = await loop.run_in_executor(None, proc.wait)
        for t in threads:
            await loop.run_in_executor(None, t.join, 2.0)
        receiver.cancel()
        status: dict[str, Any] = {"metadata": {}, "status": "Success"}
        if code != 0:
            status = {"metadata": {}, "status": "Failure",
                      "message": f"command terminated with non-zero exit code: {code}",
                      "reason": "NonZeroExitCode",
                      "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
        await send(STATUS, json.dumps(status).encode())
        await ws.close()
        if tty and proc.stdout is not None:
            proc.stdout.close()
        return ws

    async def _receive(self, ws: web.WebSocketResponse, stdin_fd: int | None, tty: bool,
                       proc: Any) -> None:
        async for msg in ws:
            if msg.type != WSMsgType.BINARY or not msg.data:
                continue
            channel, data = msg.data[0], msg.data[1:]
            if channel == STDIN and stdin_fd is not None and data:
                try:
                    os.write(stdin_fd, data)
                except OSError:
                    pass
            elif channel == RESIZE and tty and stdin_fd is not None:
                size = json.loads(data or b"{}")
                fcntl.ioctl(stdin_fd, termios.TIOCSWINSZ,
                            struct.pack("HHHH", size.get("Height", 24), size.get("Width", 80),
                                        0, 0))
            elif channel == CLOSE and data[:1] == bytes([STDIN]) and not tty:
                if proc.stdin is not None:
                    proc.stdin.close()

    # -- port-forward -------------------------------------------------------------------------
    async def port_forward(self, request: web.Request) -> web.StreamResponse:
        pod = self._pod(request)
        name, uid = pod["metadata"]["name"], pod["metadata"]["uid"]
        sandbox = find_pod_sandbox(self.config, uid)
        if sandbox is None:
            raise web.HTTPBadRequest(text=f"pod {name} has no network namespace on this node "
                                          "(not running)")
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "")
                   .split(",")]
        spdy_wanted = SPDY_PROTOCOL in offered
        ports: list[int] = []
        if not spdy_wanted:
            try:
                ports = parse_ports(request.query.getall("ports", []))
            except PortForwardError as e:
                raise web.HTTPBadRequest(text=str(e)) from e
        ws = web.WebSocketResponse(protocols=(SPDY_PROTOCOL, *CHANNEL_PROTOCOLS))
        await ws.prepare(request)
        session: SpdySession | ChannelSession
        if spdy_wanted:
            session = SpdySession(sandbox.netns_path, name, uid, ws.send_bytes)
        else:
            session = ChannelSession(sandbox.netns_path, name, uid, ports, ws.send_bytes,
                                     ws.close)
            await session.start()
        try:
            async for msg in ws:
                if msg.type == WSMsgType.BINARY:
                    await session.received(msg.data)
        except Exception as e:  # noqa: BLE001 - a broken peer ends its own session only
            log.info("Port-forward session ended pod=%s: %s", name, e)
        finally:
            await session.close()
            await ws.close()
        return ws

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="kubelet-server")
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        runner = web.AppRunner(self.app(), access_log=None)
        try:
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, self.host, self.port).start())
        except BaseException as e:
            self._error = e
            self._ready.set()
            return
        self._runner = runner
        log.info("Kubelet server listening address=%s:%d", self.host, self.port)
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
