"""``logs`` and ``exec``: streams between your terminal and a container, via the API server.

``logs`` is one long HTTP GET: ``/api/v1/namespaces/NS/pods/POD/log?container=C&follow=true``.
The API server passes it on to the kubelet of the pod's node, which reads the container's log
file (``/var/log/pods/<ns>_<pod>_<uid>/<container>/0.log``) and sends its lines as they come.

``exec`` opens a WebSocket to ``.../pods/POD/exec?command=sh&stdin=true&tty=true`` with the
subprotocol ``v5.channel.k8s.io``. Every binary message starts with a channel byte:

    0 stdin (to the container)   1 stdout   2 stderr   3 status (a Status, at the end)
    4 terminal resize {"Width": W, "Height": H}      255 close: "no more stdin"

The command's exit code comes back on channel 3: ``{"status": "Success"}``, or a Failure with
reason ``NonZeroExitCode`` and the code in ``details.causes[0].message``. With ``-t`` the local
terminal is put in raw mode so keys (Ctrl-C too) reach the container's terminal unchanged.
On the node, the kubelet enters the container's namespaces — the study note's "kubectl exec
switches into the target namespaces"; see them with ``ls -l /proc/<pid>/ns``.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import ssl
import sys
import termios
import threading
import tty
import urllib.parse
from typing import Any

import click

from minikube_py.api.resources import lookup
from minikube_py.cli.kube_cmds import Kube, kube_command
from minikube_py.cli.kubeconfig import Target
from minikube_py.client import Client
from minikube_py.errors import MinikubeError

STDIN, STDOUT, STDERR, STATUS, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
PROTOCOL = "v5.channel.k8s.io"


class ExecError(MinikubeError):
    """The exec stream could not be opened or broke."""


def pick_container(pod: dict[str, Any], container: str | None) -> str:
    """``-c``, else the ``kubectl.kubernetes.io/default-container`` annotation, else the
    first container (kubectl says so on stderr when there are several)."""
    names = [c.get("name", "") for c in (pod.get("spec") or {}).get("containers") or []]
    if container:
        if container not in names:
            inits = [c.get("name") for c in pod["spec"].get("initContainers") or []]
            if container not in inits:
                name = pod["metadata"]["name"]
                raise MinikubeError(f"container {container} is not valid for pod {name}")
        return container
    annotated = ((pod.get("metadata") or {}).get("annotations") or {}).get(
        "kubectl.kubernetes.io/default-container")
    if annotated in names:
        return str(annotated)
    if len(names) > 1:
        click.echo(f'Defaulted container "{names[0]}" out of: {", ".join(names)}', err=True)
    return names[0] if names else ""


def exit_code(status: dict[str, Any]) -> int:
    """The command's exit code from the channel-3 Status."""
    if status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                try:
                    return int(cause.get("message", 1))
                except ValueError:
                    return 1
    click.echo(f"error: {status.get('message') or 'command failed'}", err=True)
    return 1


def exec_url(target: Target, namespace: str, pod: str, container: str, command: list[str],
             stdin: bool, tty_: bool) -> str:
    query: list[tuple[str, str]] = [("command", c) for c in command]
    query += [("container", container), ("stdout", "true")]
    if not tty_:
        query.append(("stderr", "true"))
    if stdin:
        query.append(("stdin", "true"))
    if tty_:
        query.append(("tty", "true"))
    base = target.server.rstrip("/").replace("https://", "wss://").replace("http://", "ws://")
    return (f"{base}/api/v1/namespaces/{namespace}/pods/{pod}/exec?"
            + urllib.parse.urlencode(query))


def _ssl_context(target: Target) -> ssl.SSLContext | None:
    if not target.server.startswith("https"):
        return None
    context = ssl.create_default_context(cafile=target.ca_file)
    if target.cert_file:
        context.load_cert_chain(target.cert_file, target.key_file)
    return context


def _terminal_size() -> bytes:
    size = shutil.get_terminal_size()
    return bytes([RESIZE]) + json.dumps({"Width": size.columns, "Height": size.lines}).encode()


async def _pump_stdin(ws: Any, loop: asyncio.AbstractEventLoop) -> None:
    """Channel 0 from our stdin; 255+0 when it ends (the v5 "close stdin" signal).

    A daemon thread reads fd 0 (a terminal, pipe or file alike) so a blocked read never
    holds the process open after the command ends."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    def read() -> None:
        while True:
            try:
                data = os.read(0, 4096)
            except OSError:
                data = b""
            try:
                loop.call_soon_threadsafe(queue.put_nowait, data)
            except RuntimeError:  # the loop has ended: the command is over
                return
            if not data:
                return

    threading.Thread(target=read, name="exec-stdin", daemon=True).start()
    while True:
        data = await queue.get()
        if not data:
            await ws.send_bytes(bytes([CLOSE, STDIN]))
            return
        await ws.send_bytes(bytes([STDIN]) + data)


async def _exec(url: str, target: Target, stdin: bool, tty_: bool) -> int:
    import aiohttp

    headers = {"Authorization": f"Bearer {target.token}"} if target.token else {}
    loop = asyncio.get_running_loop()
    status: dict[str, Any] | None = None
    async with aiohttp.ClientSession() as session:
        try:
            ws = await session.ws_connect(url, protocols=(PROTOCOL,), headers=headers,
                                          ssl=_ssl_context(target) or False,
                                          max_msg_size=0, autoping=True)
        except aiohttp.WSServerHandshakeError as e:
            raise ExecError(f"failed to open exec stream: {e.status} {e.message}") from e
        except aiohttp.ClientError as e:
            raise ExecError(f"failed to open exec stream: {e}") from e
        pump = loop.create_task(_pump_stdin(ws, loop)) if stdin else None
        if tty_:
            await ws.send_bytes(_terminal_size())
            loop.add_signal_handler(signal.SIGWINCH,
                                    lambda: loop.create_task(ws.send_bytes(_terminal_size())))
        try:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.BINARY or not msg.data:
                    continue
                channel, data = msg.data[0], msg.data[1:]
                if channel in (STDOUT, STDERR):
                    out = sys.stdout.buffer if channel == STDOUT else sys.stderr.buffer
                    out.write(data)
                    out.flush()
                elif channel == STATUS:
                    status = json.loads(data)
        finally:
            if pump is not None:
                pump.cancel()
            if tty_:
                loop.remove_signal_handler(signal.SIGWINCH)
    return exit_code(status) if status is not None else 0


def run_exec(target: Target, namespace: str, pod: str, container: str, command: list[str],
             stdin: bool, tty_: bool) -> int:
    """Run ``command`` in the container over the WebSocket; the command's exit code."""
    url = exec_url(target, namespace, pod, container, command, stdin, tty_)
    raw = tty_ and stdin and os.isatty(0)
    saved = termios.tcgetattr(0) if raw else None
    try:
        if raw:
            tty.setraw(0)
        return asyncio.run(_exec(url, target, stdin, tty_))
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)


def stream_logs(client: Client, namespace: str, pod: str, container: str, follow: bool,
                previous: bool, tail: int, timestamps: bool) -> None:
    """Copy the container's log to stdout, line by line as the server sends it."""
    query: dict[str, Any] = {"container": container}
    if follow:
        query["follow"] = "true"
    if previous:
        query["previous"] = "true"
    if tail >= 0:
        query["tailLines"] = tail
    if timestamps:
        query["timestamps"] = "true"
    out = sys.stdout.buffer
    try:
        for line in client.stream_lines(f"/api/v1/namespaces/{namespace}/pods/{pod}/log",
                                        query):
            out.write(line)
            out.flush()
    except KeyboardInterrupt:
        return


def pod_for(client: Client, namespace: str, ref: str) -> dict[str, Any]:
    """``POD``, ``pod/POD``, ``deploy/NAME`` or ``svc/NAME`` (-> the first of its pods, like
    kubectl)."""
    kind, _, name = ref.rpartition("/")
    resource = lookup(kind or "pods")
    if resource is None:
        raise MinikubeError(f'the server does not have a resource type "{kind}"')
    obj: dict[str, Any] = client.get(resource, name, namespace)
    if resource.kind == "Pod":
        return obj
    labels = (obj.get("spec") or {}).get("selector") or {}
    if resource.kind != "Service":  # a Service's selector is a plain map
        labels = labels.get("matchLabels") or {}
    if not labels:
        raise MinikubeError(f"{resource.kind.lower()}/{name} has no selector: no pods to pick")
    selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    pods = client.list(lookup("pods"), namespace, selector).get("items") or []  # type: ignore[arg-type]
    if not pods:
        raise MinikubeError(f"no pods found for {resource.kind.lower()}/{name}")
    first: dict[str, Any] = sorted(pods, key=lambda x: x["metadata"].get(
        "creationTimestamp", ""))[0]
    return first


@click.command("logs")
@click.argument("ref")
@click.option("-c", "--container", default=None, help="Container name.")
@click.option("-f", "--follow", is_flag=True, help="Keep streaming new lines.")
@click.option("-p", "--previous", is_flag=True, help="The previous (crashed) instance.")
@click.option("--tail", type=int, default=-1, help="Only the last N lines (-1: all).")
@click.option("--timestamps", is_flag=True, help="Prefix each line with its time.")
@kube_command
def logs(kube: Kube, ref: str, container: str | None, follow: bool, previous: bool,
         tail: int, timestamps: bool) -> None:
    """Print a container's log (GET pods/POD/log, proxied to the node's kubelet)."""
    pod = pod_for(kube.client, kube.namespace, ref)
    name = pod["metadata"]["name"]
    stream_logs(kube.client, kube.namespace, name, pick_container(pod, container), follow,
                previous, tail, timestamps)


@click.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("ref")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("-c", "--container", default=None, help="Container name.")
@click.option("-i", "--stdin", "stdin", is_flag=True, help="Pass stdin to the command.")
@click.option("-t", "--tty", "tty_", is_flag=True, help="Allocate a terminal.")
@kube_command
def exec_(kube: Kube, ref: str, command: tuple[str, ...], container: str | None, stdin: bool,
          tty_: bool) -> None:
    """Run a command in a container: exec POD [-c C] [-i] [-t] -- CMD ARGS..."""
    pod = pod_for(kube.client, kube.namespace, ref)
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        raise MinikubeError("cannot exec into a container in a completed pod; current phase "
                            f"is {pod['status']['phase']}")
    chosen = pick_container(pod, container)
    sys.exit(run_exec(kube.target, kube.namespace, pod["metadata"]["name"], chosen,
                      list(command), stdin, tty_))
