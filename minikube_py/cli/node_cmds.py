"""``minikube-py node ...``: run Pods on this machine without a control plane.

    node run -f pod.yaml      validate, admit, wait until Running (``--dry-run``: the plan)
    node pods                 NAME READY STATUS RESTARTS IP AGE (``-o json`` for scripts)
    node inspect POD          every kernel object behind the pod, and how to look at it
    node logs POD             container logs (``-c``, ``-f``, ``-p``)
    node exec POD -- CMD      run a command inside a container (``-it`` for a terminal)
    node delete POD           stop and remove a pod
    node reset                remove everything the node created
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import click

from minikube_py import node as nodelib
from minikube_py.api.manifest import load_manifests
from minikube_py.cli.context import Context, pass_context
from minikube_py.cli.output import age, print_table, warn
from minikube_py.config import NodeConfig
from minikube_py.errors import MinikubeError
from minikube_py.kubelet.status import display_status


def _config(ctx: Context, **overrides: Any) -> NodeConfig:
    return nodelib.load_config(ctx.state_dir, **overrides)


@click.group()
def node() -> None:
    """Run Pods on this machine with the node runtime alone (static pods)."""


@node.command("run")
@click.option("-f", "--filename", required=True, help="Pod manifest: file, directory or -.")
@click.option("--dry-run", is_flag=True, help="Validate and print the SyncPod plan only.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait until the pod runs (or fails).")
@click.option("--timeout", default=300.0, show_default=True, help="Seconds to wait.")
@click.option("--bridge", default=None, help="Bridge name (first start only; default br0).")
@click.option("--pod-cidr", default=None, help="Node pod CIDR (first start; 10.244.0.0/24).")
@click.option("--prefix", default=None, help="Host object name prefix (first start; mk).")
@click.option("--cgroup-parent", default=None, help="Cgroup parent (first start).")
@click.option("--log-dir", default=None, help="Pod log directory (first start).")
@click.option("--nft-table", default=None, help="nftables table name (first start).")
@click.option("--pod-pids-limit", default=None, type=int,
              help="Most processes per pod (first start; 1024).")
@click.option("--image-store", default=None, help="Image store directory (first start).")
@click.option("--docker-hub/--no-docker-hub", default=None,
              help="Pull images named without a registry host from Docker Hub (first "
                   "start; yes).")
@pass_context
def run(ctx: Context, filename: str, dry_run: bool, wait: bool, timeout: float,
        **overrides: Any) -> None:
    """Run the Pod(s) in a manifest."""
    config = _config(ctx, **overrides)
    pods = []
    for source, index, obj in load_manifests(filename, warn=warn):
        try:
            pods.append(nodelib.admit_pod(config, obj))
        except MinikubeError as e:
            raise MinikubeError(f"{source}: document {index + 1}: {e}") from e
    if dry_run:
        _print_plans(config, [p for p, _ in pods])
        return
    nodelib.ensure_kubelet(config, verbose=ctx.verbose)
    for pod, created in pods:
        nodelib.submit_pod(config, pod)
        click.echo(f"pod/{pod['metadata']['name']} {'created' if created else 'configured'}")
    if wait:
        for pod, _ in pods:
            _wait_running(config, pod, timeout, ctx.verbose)


def _print_plans(config: NodeConfig, pods: list[dict[str, Any]]) -> None:
    from minikube_py.kubelet.observe import observe_pod
    from minikube_py.kubelet.plan import ObservedPod, compute_pod_actions
    from runtime.cgroups import detect_driver

    for pod in pods:
        uid = pod["metadata"]["uid"]
        observed = (observe_pod(config, uid, detect_driver())
                    if os.path.isdir(config.pod_dir(uid)) else ObservedPod())
        click.echo(f"pod/{pod['metadata']['name']} (dry run): SyncPod would")
        for line in compute_pod_actions(pod, observed, time.time()).describe().splitlines():
            click.echo(f"  {line}")


def _follow_transcript(path: str, offset: int) -> int:
    try:
        with open(path) as f:
            f.seek(offset)
            for line in f:
                if line.strip() and not line.startswith("#"):
                    click.echo(f"+ {line.rstrip()}", err=True)
            return f.tell()
    except OSError:
        return offset


def _wait_running(config: NodeConfig, pod: dict[str, Any], timeout: float,
                  verbose: bool) -> None:
    meta = pod["metadata"]
    transcript = os.path.join(config.pod_dir(meta["uid"]), "commands.sh")
    offset = 0
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if verbose:
            offset = _follow_transcript(transcript, offset)
        status = nodelib.pod_status(config, pod)
        shown = display_status(pod, status)
        if shown != last:
            last = shown
        phase = status.get("phase")
        ready = [c.get("ready") for c in status.get("containerStatuses") or []]
        if phase in ("Succeeded", "Failed") or (phase == "Running" and ready and all(ready)):
            if verbose:
                _follow_transcript(transcript, offset)
            click.echo(f"pod/{meta['name']} {shown} ip={status.get('podIP', '<none>')}")
            return
        if shown in ("CrashLoopBackOff", "Error", "ContainerCannotRun", "OOMKilled") or (
            shown.startswith("Init:") and "/" not in shown
        ):
            click.echo(f"pod/{meta['name']} {shown}", err=True)
            raise MinikubeError(f"pod {meta['name']} is {shown}: see "
                                f"`minikube-py node logs {meta['name']}` and "
                                f"`minikube-py node inspect {meta['name']}`")
        time.sleep(0.05)
    raise MinikubeError(f"timed out after {timeout:.0f}s waiting for pod {meta['name']} "
                        f"(status {last or 'Pending'})")


@node.command("pods")
@click.option("-o", "--output", type=click.Choice(["table", "wide", "json"]), default="table")
@pass_context
def pods(ctx: Context, output: str) -> None:
    """List the node's pods."""
    config = _config(ctx)
    rows = []
    items = []
    for pod in nodelib.list_pods(config):
        status = nodelib.pod_status(config, pod)
        items.append(dict(pod, status=status))
        statuses = status.get("containerStatuses") or []
        ready = sum(1 for s in statuses if s.get("ready"))
        restarts = sum(int(s.get("restartCount", 0)) for s in statuses)
        row = [pod["metadata"]["name"], f"{ready}/{len(pod['spec']['containers'])}",
               display_status(pod, status), str(restarts), status.get("podIP", "<none>"),
               age(pod["metadata"].get("creationTimestamp"))]
        if output == "wide":
            row.append(config.netns_name(pod["metadata"]["name"], pod["metadata"]["uid"]))
        rows.append(row)
    if output == "json":
        click.echo(json.dumps({"apiVersion": "v1", "kind": "PodList", "items": items},
                              indent=2))
        return
    headers = ["NAME", "READY", "STATUS", "RESTARTS", "IP", "AGE"]
    if output == "wide":
        headers.append("NETNS")
    if not rows:
        click.echo("No pods on this node.", err=True)
        return
    print_table(headers, rows)


@node.command("delete")
@click.argument("names", nargs=-1, required=True)
@click.option("-n", "--namespace", default="default")
@click.option("--wait/--no-wait", default=True, show_default=True)
@click.option("--timeout", default=120.0)
@pass_context
def delete(ctx: Context, names: tuple[str, ...], namespace: str, wait: bool,
           timeout: float) -> None:
    """Stop and remove pods (SIGTERM, grace period, SIGKILL; then the sandbox)."""
    config = _config(ctx)
    targets = [nodelib.get_pod(config, n, namespace) for n in names]
    for pod in targets:
        nodelib.remove_pod(config, pod)
    deadline = time.monotonic() + timeout
    for pod in targets:
        pod_dir = config.pod_dir(pod["metadata"]["uid"])
        if wait:
            if nodelib.kubelet_pid(config) is None:
                nodelib.ensure_kubelet(config)
            while os.path.exists(pod_dir):
                if time.monotonic() > deadline:
                    raise MinikubeError(f"timed out waiting for pod {pod['metadata']['name']}"
                                        " to be removed")
                time.sleep(0.05)
        click.echo(f'pod "{pod["metadata"]["name"]}" deleted')


@node.command("reset")
@click.option("--images", is_flag=True, help="Also remove the image store.")
@pass_context
def reset(ctx: Context, images: bool) -> None:
    """Remove everything the node created: pods, bridge, nft table, cgroups, state."""
    from minikube_py.reset import reset_node

    for line in reset_node(_config(ctx), remove_images=images):
        click.echo(line)


@node.command("logs")
@click.argument("name")
@click.option("-c", "--container", default=None)
@click.option("-n", "--namespace", default="default")
@click.option("-f", "--follow", is_flag=True)
@click.option("-p", "--previous", is_flag=True, help="The previous instance's log.")
@click.option("--timestamps", is_flag=True)
@pass_context
def logs(ctx: Context, name: str, container: str | None, namespace: str, follow: bool,
         previous: bool, timestamps: bool) -> None:
    """Print a container's log (CRI format files under /var/log/pods)."""
    from minikube_py.kubelet.logs import follow_log, log_path_for
    from runtime.container import container_state

    config = _config(ctx)
    pod = nodelib.get_pod(config, name, namespace)
    path, bundle = log_path_for(config, pod, container, previous)

    def running() -> bool:
        return os.path.isdir(bundle) and container_state(bundle).status in ("created",
                                                                            "running")

    for line in follow_log(path, follow=follow, timestamps=timestamps, still_running=running):
        sys.stdout.write(line)
        sys.stdout.flush()


@node.command("exec", context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option("-c", "--container", default=None)
@click.option("-n", "--namespace", default="default")
@click.option("-i", "--stdin", "interactive", is_flag=True, help="Pass stdin to the command.")
@click.option("-t", "--tty", is_flag=True, help="Allocate a terminal.")
@pass_context
def exec_(ctx: Context, name: str, command: tuple[str, ...], container: str | None,
          namespace: str, interactive: bool, tty: bool) -> None:
    """Run COMMAND in a container: its namespaces, cgroup and root (like nsenter)."""
    from minikube_py.kubelet.execute import exec_command

    config = _config(ctx)
    pod = nodelib.get_pod(config, name, namespace)
    sys.exit(exec_command(config, pod, container, list(command), interactive, tty))


@node.command("inspect")
@click.argument("name")
@click.option("-n", "--namespace", default="default")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text")
@pass_context
def inspect(ctx: Context, name: str, namespace: str, output: str) -> None:
    """Show every kernel object behind a pod, with the commands to see it yourself."""
    from minikube_py.kubelet.inspect import inspect_pod, render_inspection

    config = _config(ctx)
    report = inspect_pod(config, nodelib.get_pod(config, name, namespace))
    if output == "json":
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(render_inspection(report))


@click.command("kubelet")
@pass_context
def kubelet(ctx: Context) -> None:
    """Run the kubelet in the foreground (``node run`` starts it in the background)."""
    import logging
    import signal

    from minikube_py.kubelet.kubelet import Kubelet

    logging.getLogger().setLevel(logging.DEBUG if ctx.verbose else logging.INFO)
    config = _config(ctx)
    nodelib.save_config(config)
    agent = Kubelet(config)
    signal.signal(signal.SIGTERM, lambda *_: agent.stop())
    signal.signal(signal.SIGINT, lambda *_: agent.stop())
    with open(os.path.join(config.state_dir, "kubelet.pid"), "w") as f:
        f.write(f"{os.getpid()}\n")
    agent.run()
