"""pods/log, exec and portforward are proxied to the kubelet named by the pod's Node object.

A small stand-in kubelet (aiohttp on 127.0.0.1) serves ``/containerLogs`` and ``/exec`` the
way the real kubelet's server does; the API server must find it from the Node's
``status.addresses`` and ``daemonEndpoints`` and relay bytes unchanged.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from minikube_py.api.resources import must
from minikube_py.apiserver.server import APIServer
from minikube_py.client import ApiError, Client
from tests.unit import standin_kubelet

PODS, NODES = must("pods"), must("nodes")


async def container_logs(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/plain"})
    await response.prepare(request)
    info = request.match_info
    await response.write(f"{info['ns']}/{info['pod']}/{info['ctr']}\n".encode())
    await response.write(f"tailLines={request.query.get('tailLines')}\n".encode())
    await response.write(b"last line\n")
    return response


async def exec_ws(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(protocols=("v5.channel.k8s.io",))
    await ws.prepare(request)
    command = " ".join(request.query.getall("command"))
    await ws.send_bytes(b"\x01" + f"ran {command}\n".encode())
    if request.query.get("stdin") == "true":
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.BINARY or msg.data[:1] == b"\xff":
                break
            await ws.send_bytes(b"\x01" + msg.data[1:])
    code = 3 if command.endswith("fail") else 0
    status: dict[str, Any] = {"metadata": {}, "status": "Success"}
    if code:
        status = {"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                  "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
    await ws.send_bytes(b"\x03" + json.dumps(status).encode())
    await ws.close()
    return ws


async def portforward_ws(request: web.Request) -> web.WebSocketResponse:
    """Echoes every binary message, prefixed with the path and the subprotocol chosen."""
    ws = web.WebSocketResponse(protocols=("SPDY/3.1+portforward.k8s.io", "v4.channel.k8s.io"))
    await ws.prepare(request)
    async for msg in ws:
        if msg.type != aiohttp.WSMsgType.BINARY:
            break
        await ws.send_bytes(f"{request.path} {ws.ws_protocol} ".encode() + msg.data)
    return ws


class StandInKubelet(standin_kubelet.StandInKubelet):
    def routes(self, app: web.Application) -> None:
        app.router.add_get("/containerLogs/{ns}/{pod}/{ctr}", container_logs)
        app.router.add_get("/exec/{ns}/{pod}/{ctr}", exec_ws)
        app.router.add_get("/portForward/{ns}/{pod}", portforward_ws)


@pytest.fixture()
def api(tmp_path: Path) -> Iterator[Client]:
    kubelet = StandInKubelet()
    kubelet.start()
    server = APIServer(str(tmp_path / "store.db"), port=0)
    server.start()
    client = Client(server.url)
    client.create(NODES, {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"},
                          "status": {"addresses": [{"type": "InternalIP",
                                                    "address": "127.0.0.1"}],
                                     "daemonEndpoints": {"kubeletEndpoint":
                                                         {"Port": kubelet.port}}}})
    client.create(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
                         "spec": {"nodeName": "node-1",
                                  "containers": [{"name": "nginx", "image": "nginx"}]}},
                  "default")
    try:
        yield client
    finally:
        server.stop()
        kubelet.stop()


def test_logs_are_streamed_from_the_pods_kubelet(api: Client) -> None:
    lines = list(api.stream_lines("/api/v1/namespaces/default/pods/web/log",
                                  {"follow": "true", "tailLines": "10"}))
    assert lines == [b"default/web/nginx\n", b"tailLines=10\n", b"last line\n"]


def test_logs_of_an_unscheduled_pod_are_a_bad_request(api: Client) -> None:
    api.create(PODS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "waiting"},
                      "spec": {"containers": [{"name": "c", "image": "busybox"}]}}, "default")
    with pytest.raises(ApiError) as e:
        list(api.stream_lines("/api/v1/namespaces/default/pods/waiting/log"))
    assert e.value.code == 400 and "does not have a host assigned" in str(e.value)


def test_exec_relays_websocket_frames_and_echoes_the_subprotocol(api: Client) -> None:
    async def run() -> tuple[str | None, list[bytes]]:
        url = (api.server.replace("http", "ws") + "/api/v1/namespaces/default/pods/web/exec"
               "?command=echo&command=hi&stdin=true&stdout=true&stderr=true")
        frames = []
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url, protocols=("v5.channel.k8s.io",)) as ws:
                await ws.send_bytes(b"\x00typed\n")
                await ws.send_bytes(b"\xff\x00")
                async for msg in ws:
                    frames.append(msg.data)
                return ws.protocol, frames

    protocol, frames = asyncio.run(run())
    assert protocol == "v5.channel.k8s.io"
    assert frames[0] == b"\x01ran echo hi\n" and frames[1] == b"\x01typed\n"
    assert json.loads(frames[2][1:])["status"] == "Success"


def portforward_session(api: Client, protocol: str, message: bytes) -> tuple[str | None, bytes]:
    async def run() -> tuple[str | None, bytes]:
        url = api.server.replace("http", "ws") + "/api/v1/namespaces/default/pods/web/portforward"
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(url, protocols=(protocol,)) as ws:
                await ws.send_bytes(message)
                reply = await ws.receive_bytes(timeout=10)
                return ws.protocol, reply

    return asyncio.run(run())


def test_portforward_relays_both_protocols_once_the_pod_runs(api: Client) -> None:
    url = "/api/v1/namespaces/default/pods/web/portforward"
    with pytest.raises(ApiError) as e:
        api.request("GET", url)  # no Upgrade header
    assert e.value.code == 400 and "Upgrade request required" in str(e.value)
    with pytest.raises(aiohttp.WSServerHandshakeError) as handshake:
        portforward_session(api, "v4.channel.k8s.io", b"\x00x")  # still Pending
    assert handshake.value.status == 400

    api.patch(PODS, "web", {"status": {"phase": "Running"}}, namespace="default",
              subresource="status")
    spdy = "SPDY/3.1+portforward.k8s.io"
    assert portforward_session(api, spdy, b"\x80\x03\x00\x06") == \
        (spdy, f"/portForward/default/web {spdy} ".encode() + b"\x80\x03\x00\x06")
    protocol, reply = portforward_session(api, "v4.channel.k8s.io", b"\x00GET /")
    assert protocol == "v4.channel.k8s.io" and reply.endswith(b"v4.channel.k8s.io \x00GET /")


KUBECTL = shutil.which("kubectl")


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_real_kubectl_logs_and_exec_through_the_proxy(api: Client, tmp_path: Path) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: t\nclusters:\n- name: t\n  cluster:\n"
        f"    server: {api.server}\ncontexts:\n- name: t\n  context:\n    cluster: t\n"
        "    user: t\nusers:\n- name: t\n  user: {}\n")
    env = {"PATH": os.environ.get("PATH", "/usr/bin"), "HOME": str(tmp_path),
           "KUBECONFIG": str(config)}

    def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(KUBECTL), *args], env=env, capture_output=True, text=True,
                              timeout=60)

    logs = kubectl("logs", "web", "--tail=5")
    assert logs.returncode == 0 and "default/web/nginx" in logs.stdout
    assert "tailLines=5" in logs.stdout
    done = kubectl("exec", "web", "--", "echo", "hello")
    assert done.returncode == 0 and done.stdout == "ran echo hello\n"
    failed = kubectl("exec", "web", "--", "sh", "fail")
    assert failed.returncode == 3
