"""``minikube-py up | down | status | kubeconfig``: the whole cluster on this machine."""

from __future__ import annotations

import faulthandler
import os
import signal
import subprocess
import sys
import time
from typing import Any

import click

from minikube_py import node as nodelib
from minikube_py.cli.context import Context, pass_context
from minikube_py.cli.output import DURATION
from minikube_py.errors import MinikubeError

NODE_OPTIONS = [
    click.option("--bridge", default=None, help="Bridge name (default br0)."),
    click.option("--pod-cidr", default=None, help="Node pod CIDR (default 10.244.0.0/24)."),
    click.option("--prefix", default=None, help="Host object name prefix (default mk)."),
    click.option("--cgroup-parent", default=None, help="Cgroup parent (default minikube-py)."),
    click.option("--log-dir", default=None, help="Pod log directory (default /var/log/pods)."),
    click.option("--nft-table", default=None, help="nftables table (default minikube-py)."),
    click.option("--pod-pids-limit", default=None, type=int, help="Most processes per pod."),
    click.option("--image-store", default=None, help="Image store directory."),
    click.option("--docker-hub/--no-docker-hub", default=None,
                 help="Pull images named without a registry host from Docker Hub "
                      "(default yes; busybox and nginx are built here either way)."),
    click.option("--node-name", default=None, help="This node's name (default: hostname)."),
]


def node_options(f: Any) -> Any:
    for option in reversed(NODE_OPTIONS):
        f = option(f)
    return f


def _pid_path(ctx: Context) -> str:
    return os.path.join(ctx.state_dir, "up.pid")


def up_pid(ctx: Context) -> int | None:
    try:
        with open(_pid_path(ctx)) as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if b" up" not in f.read().replace(b"\0", b" ") + b" ":
                return None
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return None
        return pid
    except (OSError, ValueError, IndexError):
        return None


@click.command("up")
@click.option("--detach", "-d", is_flag=True, help="Run in the background (pid in up.pid).")
@click.option("--api-port", default=6443, show_default=True)
@click.option("--kubelet-port", default=10250, show_default=True)
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait (detach).")
@click.option("--node-monitor-grace-period", type=DURATION, default="20s", show_default=True,
              help="A node silent this long is marked Unknown, tainted, its pods evicted "
                   "(upstream 40s).")
@click.option("--insecure-http", is_flag=True,
              help="Serve plain HTTP with no authentication (debugging only).")
@node_options
@pass_context
def up(ctx: Context, detach: bool, api_port: int, kubelet_port: int, timeout: float,
       node_monitor_grace_period: float, insecure_http: bool, **overrides: Any) -> None:
    """Start the API server, controllers, scheduler and kubelet on this machine."""
    from minikube_py.cluster import Cluster, ClusterConfig

    if up_pid(ctx) is not None:
        raise MinikubeError(f"failed to start cluster: already running (pid {up_pid(ctx)}); "
                            "`minikube-py down` first")
    config = nodelib.load_config(ctx.state_dir, **overrides)
    nodelib.save_config(config)
    cluster_config = ClusterConfig(node=config, api_port=api_port, kubelet_port=kubelet_port,
                                   node_monitor_grace_period=node_monitor_grace_period,
                                   tls=not insecure_http)
    if detach:
        _detach(ctx, cluster_config, timeout)
        return
    import logging

    logging.getLogger().setLevel(logging.DEBUG if ctx.verbose else logging.INFO)
    with open(_pid_path(ctx), "w") as f:
        f.write(f"{os.getpid()}\n")
    cluster = Cluster(cluster_config)
    stopping = False

    def on_signal(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # `kill -USR1 PID` writes every thread's stack to the log (like a Go binary's SIGQUIT
    # dump, but the cluster keeps running): the first thing to look at when something hangs.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    cluster.start()
    click.echo(f"minikube-py is up: API {cluster_config.api_url}, kubeconfig "
               f"{cluster_config.kubeconfig_path}", err=True)
    try:
        while not stopping:
            time.sleep(0.2)
    finally:
        cluster.stop()
        try:
            os.unlink(_pid_path(ctx))
        except FileNotFoundError:
            pass


def _detach(ctx: Context, config: Any, timeout: float) -> None:
    from minikube_py.clusterauth import ensure_cluster_pki, make_internal_client

    log_path = os.path.join(ctx.state_dir, "minikube-py.log")
    argv = [sys.executable, "-m", "minikube_py", "--state-dir", ctx.state_dir]
    if ctx.verbose:
        argv.append("-v")
    argv += ["up", "--api-port", str(config.api_port), "--kubelet-port",
             str(config.kubelet_port), "--node-monitor-grace-period",
             str(config.node_monitor_grace_period)]
    if not config.tls:
        argv.append("--insecure-http")
    if config.tls:  # the CA exists before the child starts: both sides use the same one
        ensure_cluster_pki(config)
    client = make_internal_client(config, "up", timeout=5)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=root)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True, env=env, cwd="/")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise MinikubeError(f"failed to start cluster: see {log_path}")
        try:
            node = client.request("GET", f"/api/v1/nodes/{config.node.node_name}")
            ready = [c for c in node.get("status", {}).get("conditions", [])
                     if c["type"] == "Ready" and c["status"] == "True"]
            if ready:
                click.echo(f"minikube-py is up (pid {proc.pid}): API {config.api_url}")
                click.echo(f"  kubeconfig: {config.kubeconfig_path}")
                click.echo(f"  logs:       {log_path}")
                click.echo(f"  kubectl:    export KUBECONFIG={config.kubeconfig_path}")
                return
        except MinikubeError:
            pass
        time.sleep(0.2)
    raise MinikubeError(f"timed out waiting for the cluster to come up: see {log_path}")


@click.command("down")
@click.option("--purge", is_flag=True, help="Also delete the cluster's state (the store).")
@pass_context
def down(ctx: Context, purge: bool) -> None:
    """Stop the cluster and remove what the node created (pods, bridge, cgroups...)."""
    from minikube_py.reset import reset_node

    pid = up_pid(ctx)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while up_pid(ctx) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        click.echo(f"stopped minikube-py (pid {pid})")
    keep = set() if purge else {"store.db", "store.db-wal", "store.db-shm", "kubeconfig",
                                "node.json", "minikube-py.log", "pki"}
    for line in reset_node(nodelib.load_config(ctx.state_dir), keep=keep):
        click.echo(line)


@click.command("status")
@pass_context
def status(ctx: Context) -> None:
    """Is the cluster running? Its API server, nodes and pods."""
    from minikube_py.cli.kubeconfig import find_target, make_client

    pid = up_pid(ctx)
    click.echo("minikube-py: " + (f"running (pid {pid})" if pid else "stopped"))
    if pid is None:
        return
    client = make_client(find_target(ctx.state_dir))
    try:
        healthy = client.request("GET", "/readyz", accept="*/*")
    except MinikubeError as e:
        healthy = f"unreachable ({e})"
    click.echo(f"apiserver: {str(healthy).strip()}  ({client.server})")
    for node in client.request("GET", "/api/v1/nodes").get("items", []):
        ready = next((c["status"] for c in node["status"].get("conditions", [])
                      if c["type"] == "Ready"), "Unknown")
        click.echo(f"node {node['metadata']['name']}: Ready={ready}")
    pods = client.request("GET", "/api/v1/pods").get("items", [])
    running = sum(1 for p in pods if p.get("status", {}).get("phase") == "Running")
    click.echo(f"pods: {len(pods)} ({running} running)")


@click.command("kubeconfig")
@click.option("--user", default="admin", show_default=True,
              help="admin (client certificate) or a user of pki/tokens.csv, e.g. viewer.")
@pass_context
def kubeconfig(ctx: Context, user: str) -> None:
    """Print the kubeconfig that `up` wrote (use it with kubectl)."""
    path = os.path.join(ctx.state_dir, "kubeconfig")
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError as e:
        raise MinikubeError(f"no kubeconfig at {path}: run `minikube-py up` first") from e
    if user != "admin":
        import yaml

        from minikube_py.cli.kubeconfig import parse_kubeconfig
        from minikube_py.clusterauth import user_kubeconfig

        server = parse_kubeconfig(text, path).server
        text = yaml.safe_dump(user_kubeconfig(server, ctx.state_dir, user), sort_keys=False)
    click.echo(text, nl=False)
