"""``port-forward``: a port on your machine that leads to a port on a pod's own loopback.

``minikube-py port-forward pod/web 8080:80`` listens on 127.0.0.1:8080. For every connection
made there it opens a WebSocket to the API server,
``/api/v1/namespaces/NS/pods/web/portforward?ports=80`` with the subprotocol
``v4.channel.k8s.io``; the API server relays it to the kubelet of the pod's node, which
connects to 127.0.0.1:80 *inside the pod's network namespace*. Every binary message starts
with a channel byte: 0 carries the connection's bytes, 1 an error message; the first message
on each channel is the port number (2 bytes, little-endian).

``kubectl port-forward`` does the same with SPDY streams instead of channels (one session
for all connections); both end in the same place (``minikube_py.kubelet.portforward``).
No Service, no nftables rule, no route: that is why port-forward works for a pod no Service
selects, and why it is a debugging tool rather than a way to publish an application.
"""

from __future__ import annotations

import asyncio
import sys
import urllib.parse
from typing import Any

import click

from minikube_py.api.resources import must
from minikube_py.cli.kube_cmds import Kube, kube_command
from minikube_py.cli.kubeconfig import Target
from minikube_py.cli.streams import _ssl_context, pod_for
from minikube_py.errors import MinikubeError

PROTOCOL = "v4.channel.k8s.io"
DATA, ERROR = 0, 1


def parse_port_pair(spec: str) -> tuple[int, int]:
    """``8080:80`` -> (8080, 80); ``80`` -> (80, 80); ``:80`` -> (0, 80): any free port."""
    local, sep, remote = spec.partition(":")
    if not sep:
        local = remote = spec
    try:
        pair = (int(local) if local else 0, int(remote))
    except ValueError:
        pair = (-1, -1)
    if not (0 <= pair[0] < 65536 and 0 < pair[1] < 65536):
        raise MinikubeError(f'invalid port "{spec}": use [LOCAL_PORT:]REMOTE_PORT, each 1-65535')
    return pair


def service_target_port(service: dict[str, Any], pod: dict[str, Any], port: int) -> int:
    """The pod port behind a Service port, as kubectl resolves ``svc/x 8080:<svc port>``."""
    for p in (service.get("spec") or {}).get("ports") or []:
        if p.get("port") != port:
            continue
        target = p.get("targetPort", port)
        if isinstance(target, int):
            return target
        for c in pod["spec"]["containers"]:
            for cp in c.get("ports") or []:
                if cp.get("name") == target:
                    return int(cp["containerPort"])
        raise MinikubeError(f"pod {pod['metadata']['name']} has no container port named "
                            f'"{target}" (targetPort of service port {port})')
    raise MinikubeError(f"service {service['metadata']['name']} has no port {port}")


async def _connection(target: Target, url: str, local: int, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> None:
    """Relay one accepted local connection over its own channel WebSocket."""
    import aiohttp

    click.echo(f"Handling connection for {local}")
    headers = {"Authorization": f"Bearer {target.token}"} if target.token else {}
    async with aiohttp.ClientSession() as session:
        try:
            ws = await session.ws_connect(url, protocols=(PROTOCOL,), headers=headers,
                                          ssl=_ssl_context(target) or False, max_msg_size=0)
        except (aiohttp.ClientError, aiohttp.WSServerHandshakeError) as e:
            click.echo(f"error: port-forward: {e}", err=True)
            writer.close()
            return

        async def upstream() -> None:  # local -> pod; the pod's side ends the connection
            while data := await reader.read(32768):
                await ws.send_bytes(bytes([DATA]) + data)

        pump = asyncio.ensure_future(upstream())
        announced: set[int] = set()  # the first message of each channel is its port number
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.BINARY or not msg.data:
                    continue
                channel, data = msg.data[0], msg.data[1:]
                if channel not in announced:
                    announced.add(channel)
                elif channel == DATA:
                    writer.write(data)
                    await writer.drain()
                elif channel == ERROR and data:
                    click.echo(f"error: {data.decode(errors='replace')}", err=True)
        except (ConnectionError, OSError):
            pass
        finally:
            pump.cancel()
            writer.close()
            await ws.close()


async def _forward(target: Target, namespace: str, pod: str, pairs: list[tuple[int, int]],
                   address: str) -> None:
    base = target.server.rstrip("/").replace("https://", "wss://").replace("http://", "ws://")
    servers = []
    for local, remote in pairs:
        url = (f"{base}/api/v1/namespaces/{namespace}/pods/{pod}/portforward?"
               + urllib.parse.urlencode({"ports": remote}))

        def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    url: str = url, local: int = local) -> Any:
            return _connection(target, url, local, reader, writer)

        server = await asyncio.start_server(handler, address, local)
        servers.append(server)
        bound = server.sockets[0].getsockname()[1]
        click.echo(f"Forwarding from {address}:{bound} -> {remote}")
    await asyncio.gather(*(s.serve_forever() for s in servers))


@click.command("port-forward")
@click.argument("ref")
@click.argument("ports", nargs=-1, required=True)
@click.option("--address", default="127.0.0.1", show_default=True,
              help="Local address to listen on.")
@kube_command
def port_forward(kube: Kube, ref: str, ports: tuple[str, ...], address: str) -> None:
    """Forward local ports to a pod: port-forward pod/NAME|deploy/NAME|svc/NAME [LOCAL:]REMOTE...

    Runs until Ctrl-C. With svc/NAME the remote port is a Service port, sent to its
    targetPort on one of the Service's pods.
    """
    pairs = [parse_port_pair(p) for p in ports]
    pod = pod_for(kube.client, kube.namespace, ref)
    if ref.partition("/")[0] in ("svc", "service", "services"):
        service = kube.client.get(must("services"), ref.partition("/")[2], kube.namespace)
        pairs = [(local, service_target_port(service, pod, remote)) for local, remote in pairs]
    phase = (pod.get("status") or {}).get("phase")
    if phase != "Running":
        raise MinikubeError(f"unable to forward port because pod is not running. Current "
                            f"status={phase}")
    try:
        asyncio.run(_forward(kube.target, kube.namespace, pod["metadata"]["name"], pairs,
                             address))
    except KeyboardInterrupt:
        sys.exit(0)
    except OSError as e:  # the local port is taken, say
        raise MinikubeError(f"unable to listen on {address}: {e.strerror or e}") from e

