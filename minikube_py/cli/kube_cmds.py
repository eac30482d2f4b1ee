"""kubectl-style commands: talk to the API server, the cluster's only entry point.

    apply -f FILE|DIR|-          create or update objects (client-side apply)
    get TYPE [NAME] [-o wide|yaml|json|name] [-l SEL] [-A] [-w]
    describe TYPE NAME           key fields + the object's events
    delete TYPE NAME | -f FILE | -l SEL
    logs POD [-c C] [-f] [--previous] [--tail N]
    exec POD [-c C] [-i] [-t] -- CMD...
    port-forward POD|deploy/NAME|svc/NAME [LOCAL:]REMOTE...
    scale deploy/NAME --replicas N
    rollout status|history|undo deploy/NAME
    expose deployment/NAME --port P [--target-port T] [--type NodePort]

Each is a handful of REST calls you can watch the real kubectl make with ``-v=8`` (same
paths, same bodies); the server is found through ``<state-dir>/kubeconfig``, ``--server`` or
``MINIKUBE_PY_SERVER`` (:mod:`.kubeconfig`). Server errors print as kubectl prints them,
``Error from server (NotFound): pods "x" not found``, and exit 1. ``get`` is in
:mod:`.kube_get`, ``logs`` and ``exec`` in :mod:`.streams`, ``port-forward`` in
:mod:`.portforward`.
"""

from __future__ import annotations

import functools
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click

from minikube_py.api.manifest import load_manifests
from minikube_py.api.resources import RESOURCES, Resource, lookup
from minikube_py.cli import printers as p
from minikube_py.cli.apply import apply_object, qualified_kind, resource_of, server_error
from minikube_py.cli.context import Context, pass_context
from minikube_py.cli.kubeconfig import Target, find_target, make_client
from minikube_py.cli.output import DURATION, warn
from minikube_py.client import ApiError, Client
from minikube_py.errors import MinikubeError

F = TypeVar("F", bound=Callable[..., Any])


class Kube:
    """One command's connection: the client, its target and the namespace to use."""

    def __init__(self, ctx: Context, server: str | None, namespace: str | None) -> None:
        self.target: Target = find_target(ctx.state_dir, server)
        self.client: Client = make_client(self.target)
        self.namespace: str = namespace or self.target.namespace


def fail(message: str) -> None:
    click.echo(message, err=True)
    sys.exit(1)


def kube_command(f: F) -> F:
    """Add ``-n`` and ``--server``, build a :class:`Kube`, print server errors kubectl-style."""
    @functools.wraps(f)
    def wrapper(ctx: Context, server: str | None, namespace: str | None, **kw: Any) -> Any:
        try:
            return f(Kube(ctx, server, namespace), **kw)
        except ApiError as e:
            fail(server_error(e))
    wrapper = click.option("-n", "--namespace", default=None,
                           help="Namespace (default: the kubeconfig context's).")(wrapper)
    wrapper = click.option("--server", default=None, metavar="URL",
                           help="API server URL (or MINIKUBE_PY_SERVER; default: the "
                                "kubeconfig in the state directory).")(wrapper)
    return pass_context(wrapper)  # type: ignore[return-value]


def resource_named(text: str) -> Resource:
    resource = lookup(text)
    if resource is None:
        fail(f'error: the server doesn\'t have a resource type "{text}"')
        raise SystemExit(1)
    return resource


def parse_targets(args: tuple[str, ...]) -> list[tuple[Resource, str | None]]:
    """``pods``, ``pods a b``, ``pod/a deploy/b``, ``pods,svc``, ``all`` -> (resource, name)."""
    if not args:
        fail("error: you must specify the type of resource to get")
    if "/" in args[0]:
        out: list[tuple[Resource, str | None]] = []
        for arg in args:
            kind, _, name = arg.partition("/")
            if not name:
                fail(f"error: arguments in resource/name form must have a single resource "
                     f"and name: {arg}")
            out.append((resource_named(kind), name))
        return out
    kinds: list[Resource] = []
    for kind in args[0].split(","):
        if kind == "all":
            kinds += [r for r in RESOURCES if "all" in r.categories]
        else:
            kinds.append(resource_named(kind))
    if len(args) == 1:
        return [(r, None) for r in kinds]
    return [(r, name) for r in kinds for name in args[1:]]


def no_resources(resource: Resource, namespace: str | None) -> None:
    where = f" in {namespace} namespace" if namespace and resource.namespaced else ""
    click.echo(f"No resources found{where}.", err=True)


def list_query(label_selector: str | None, field_selector: str | None) -> dict[str, Any]:
    return {"labelSelector": label_selector, "fieldSelector": field_selector}


# -- apply ----------------------------------------------------------------------------------
@click.command("apply")
@click.option("-f", "--filename", "filenames", multiple=True, required=True,
              help="Manifest: a file, a directory or - (stdin). Repeatable.")
@click.option("--validate", type=click.Choice(["strict", "warn", "ignore", "true", "false"]),
              default="warn", show_default=True,
              help="Unknown fields: strict = reject (kubectl's default), warn = apply and "
                   "print a warning with where the field belongs, ignore = drop.")
@kube_command
def apply(kube: Kube, filenames: tuple[str, ...], validate: str) -> None:
    """Create or update the objects of manifests (client-side apply, like kubectl)."""
    validation = {"strict": "Strict", "true": "Strict", "warn": "Warn", "ignore": "Ignore",
                  "false": "Ignore"}[validate]
    failed = False
    for filename in filenames:
        for source, _, obj in load_manifests(filename, warn=warn):
            try:
                outcome = apply_object(kube.client, obj, kube.namespace, source, validation)
            except MinikubeError as e:
                click.echo(f"error: {e}", err=True)
                failed = True
                continue
            for warning in outcome.warnings:
                click.echo(f"Warning: {warning}", err=True)
            if outcome.error:
                click.echo(outcome.error, err=True)
                failed = True
            else:
                click.echo(f"{outcome.ref} {outcome.action}")
    if failed:
        sys.exit(1)


# -- delete ---------------------------------------------------------------------------------
@click.command("delete")
@click.argument("args", nargs=-1)
@click.option("-f", "--filename", "filenames", multiple=True, help="Delete what a manifest "
              "names.")
@click.option("-l", "--selector", default=None, help="Delete the objects with these labels.")
@click.option("--all", "all_", is_flag=True, help="Delete every object of the type.")
@click.option("--wait", type=click.BOOL, default=True, show_default=True,
              help="Wait until the objects are gone (--wait=false to return at once).")
@click.option("--grace-period", type=int, default=-1, help="Seconds a pod gets to stop "
              "(-1: the pod's own; 0 with --force: at once).")
@click.option("--force", is_flag=True, help="With --grace-period=0: do not wait.")
@click.option("--timeout", type=DURATION, default=0,
              help="How long to wait, e.g. 30s or 5m (0: no limit).")
@click.option("--ignore-not-found", is_flag=True, help="Missing objects are not an error.")
@kube_command
def delete(kube: Kube, args: tuple[str, ...], filenames: tuple[str, ...],
           selector: str | None, all_: bool, wait: bool, grace_period: int, force: bool,
           timeout: float, ignore_not_found: bool) -> None:
    """Delete objects by name, by manifest or by label (background cascading)."""
    todo: list[tuple[Resource, str, str | None, str]] = []  # resource, name, ns, source
    for filename in filenames:
        for source, _, obj in load_manifests(filename, warn=warn):
            resource = resource_of(obj)
            meta = obj.get("metadata") or {}
            ns = (meta.get("namespace") or kube.namespace) if resource.namespaced else None
            todo.append((resource, str(meta.get("name")), ns, source))
    if args:
        for resource, name in parse_targets(args):
            ns = kube.namespace if resource.namespaced else None
            if name:
                todo.append((resource, name, ns, ""))
            elif selector or all_:
                items = kube.client.list(resource, ns, selector).get("items") or []
                todo += [(resource, i["metadata"]["name"], ns, "") for i in items]
                if not items:
                    no_resources(resource, ns)
            else:
                fail("error: resource(s) were provided, but no name was specified")
    elif not filenames:
        fail("error: You must provide one or more resources by argument or filename.")
    grace = 0 if (force and grace_period <= 0) else (None if grace_period < 0 else grace_period)
    failed = False
    gone: list[tuple[Resource, str, str | None]] = []
    for resource, name, ns, source in todo:
        try:
            kube.client.delete(resource, name, ns, propagation_policy="Background",
                               grace_period_seconds=grace)
            click.echo(f'{qualified_kind(resource)} "{name}" deleted')
            gone.append((resource, name, ns))
        except ApiError as e:
            if e.code == 404 and ignore_not_found:
                continue
            click.echo(server_error(e, f'error when deleting "{source}": ' if source else ""),
                       err=True)
            failed = True
    if wait and not (force and grace == 0):
        deadline = time.monotonic() + timeout if timeout > 0 else None
        for resource, name, ns in gone:
            while kube.client.find(resource, name, ns) is not None:
                if deadline is not None and time.monotonic() > deadline:
                    fail(f'error: timed out waiting for {qualified_kind(resource)} "{name}" '
                         f"to be deleted")
                time.sleep(0.2)
    if failed:
        sys.exit(1)


# -- scale and expose -----------------------------------------------------------------------
@click.command("scale")
@click.argument("args", nargs=-1, required=True)
@click.option("--replicas", type=int, required=True, help="The new number of replicas.")
@kube_command
def scale(kube: Kube, args: tuple[str, ...], replicas: int) -> None:
    """Set the replicas of a Deployment or ReplicaSet (PATCH .../scale)."""
    for resource, name in parse_targets(args):
        if not name or "scale" not in resource.subresources:
            fail(f"error: cannot scale {qualified_kind(resource)} {name or ''}".rstrip())
        kube.client.get(resource, str(name), kube.namespace)
        kube.client.patch(resource, str(name), {"spec": {"replicas": replicas}}, "merge",
                          kube.namespace, subresource="scale")
        click.echo(f"{qualified_kind(resource)}/{name} scaled")


@click.command("expose")
@click.argument("args", nargs=-1, required=True)
@click.option("--port", type=int, default=None, help="The Service's port.")
@click.option("--target-port", default=None, help="The container port (number or name).")
@click.option("--type", "type_", default=None,
              type=click.Choice(["ClusterIP", "NodePort", "LoadBalancer"]),
              help="Service type (default ClusterIP).")
@click.option("--name", default=None, help="Service name (default: the object's).")
@click.option("--protocol", default="TCP", show_default=True, help="TCP, UDP or SCTP.")
@kube_command
def expose(kube: Kube, args: tuple[str, ...], port: int | None, target_port: str | None,
           type_: str | None, name: str | None, protocol: str) -> None:
    """Make a Service for a Deployment, ReplicaSet or Pod (selector from its labels)."""
    resource, obj_name = parse_targets(args)[0]
    obj = kube.client.get(resource, str(obj_name), kube.namespace)
    service = service_for(obj, port, target_port, type_, name, protocol)
    created = kube.client.create(resource_named("services"), service, kube.namespace)
    click.echo(f"service/{created['metadata']['name']} exposed")


def service_for(obj: dict[str, Any], port: int | None, target_port: str | None,
                type_: str | None, name: str | None, protocol: str) -> dict[str, Any]:
    """kubectl expose's Service: the object's selector (or a pod's labels), its labels, and
    the port (default: the first container port)."""
    meta, spec = obj["metadata"], obj.get("spec") or {}
    if obj.get("kind") == "Pod":
        selector, pod_spec = meta.get("labels") or {}, spec
    else:
        selector = (spec.get("selector") or {}).get("matchLabels") or spec.get("selector")
        pod_spec = (spec.get("template") or {}).get("spec") or {}
    if not selector:
        raise MinikubeError(f"couldn't retrieve selectors via --selector flag or introspection:"
                            f" {obj.get('kind')} {meta['name']} has no labels")
    if port is None:
        ports = [p for c in pod_spec.get("containers") or [] for p in c.get("ports") or []]
        if not ports:
            raise MinikubeError("couldn't find port via --port flag or introspection")
        port = int(ports[0]["containerPort"])
    entry: dict[str, Any] = {"port": port, "protocol": protocol}
    target: Any = target_port if target_port is not None else port
    entry["targetPort"] = int(target) if str(target).isdigit() else target
    service: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name or meta["name"], "labels": meta.get("labels") or {}},
        "spec": {"ports": [entry], "selector": dict(selector)}}
    if type_:
        service["spec"]["type"] = type_
    return service


# -- describe and rollout -------------------------------------------------------------------
@click.command("describe")
@click.argument("args", nargs=-1, required=True)
@click.option("-l", "--selector", default=None, help="Describe the objects with these labels.")
@kube_command
def describe(kube: Kube, args: tuple[str, ...], selector: str | None) -> None:
    """Show an object's details and its events (pods, deployments, services, nodes...)."""
    from minikube_py.cli.describe import describe as describe_text

    texts: list[str] = []
    for resource, name in parse_targets(args):
        ns = kube.namespace if resource.namespaced else None
        if name:
            objects = [kube.client.get(resource, name, ns)]
        else:
            objects = kube.client.list(resource, ns, selector).get("items") or []
            if not objects:
                no_resources(resource, ns)
        texts += [describe_text(kube.client, resource, o) for o in objects]
    click.echo("\n\n\n".join(texts))


@click.group("rollout")
def rollout() -> None:
    """Follow, list and revert a Deployment's rollouts."""


def _deployment(args: tuple[str, ...]) -> str:
    targets = parse_targets(args)
    resource, name = targets[0]
    if resource.kind != "Deployment" or not name:
        fail(f"error: no rollout support for {qualified_kind(resource)} here "
             f"(deployments only)")
    return str(name)


@rollout.command("status")
@click.argument("args", nargs=-1, required=True)
@click.option("--timeout", type=DURATION, default=0,
              help="How long to wait, e.g. 30s or 5m (0: no limit).")
@click.option("-w", "--watch", type=click.BOOL, default=True, show_default=True,
              help="Wait for the rollout to finish (--watch=false: print once).")
@kube_command
def rollout_status(kube: Kube, args: tuple[str, ...], timeout: float, watch: bool) -> None:
    """Wait until a Deployment's rollout is complete."""
    from minikube_py.cli.rollout import RolloutError, watch_rollout

    try:
        watch_rollout(kube.client, kube.namespace, _deployment(args), timeout, click.echo,
                      watch)
    except RolloutError as e:
        fail(f"error: {e}")


@rollout.command("history")
@click.argument("args", nargs=-1, required=True)
@click.option("--revision", type=int, default=0, help="Show this revision's pod template.")
@kube_command
def rollout_history(kube: Kube, args: tuple[str, ...], revision: int) -> None:
    """List a Deployment's revisions (its ReplicaSets) with their change causes."""
    from minikube_py.cli import rollout as r
    from minikube_py.cli.describe import pod_template

    name = _deployment(args)
    assert r.DEPLOYMENTS is not None
    deployment = kube.client.get(r.DEPLOYMENTS, name, kube.namespace)
    templates = r.history(r.owned_replicasets(kube.client, deployment))
    if not templates:
        click.echo(f"deployment.apps/{name} \nNo rollout history found.")
        return
    if revision:
        if revision not in templates:
            fail("error: unable to find the specified revision")
        lines: list[str] = []
        pod_template(lines, templates[revision])
        click.echo(f"deployment.apps/{name} with revision #{revision}")
        click.echo("\n".join(p.tabwrite(lines)) + "\n")
        return
    click.echo(f"deployment.apps/{name} ")
    click.echo("\n".join(p.tabwrite(r.history_table(templates))) + "\n")


@rollout.command("undo")
@click.argument("args", nargs=-1, required=True)
@click.option("--to-revision", type=int, default=0, help="Revision to go back to "
              "(0: the previous one).")
@kube_command
def rollout_undo(kube: Kube, args: tuple[str, ...], to_revision: int) -> None:
    """Put a previous revision's pod template back into the Deployment."""
    from minikube_py.cli.rollout import RolloutError, undo

    name = _deployment(args)
    try:
        result = undo(kube.client, kube.namespace, name, to_revision)
    except RolloutError as e:
        fail(f"error: {e}")
        return
    click.echo(f"deployment.apps/{name} {result}")


def register(group: click.Group) -> None:
    """Add every kubectl-style command to the ``minikube-py`` group."""
    from minikube_py.cli.kube_get import get
    from minikube_py.cli.portforward import port_forward
    from minikube_py.cli.streams import exec_, logs

    for command in (apply, get, describe, delete, logs, exec_, port_forward, scale, rollout,
                    expose):
        group.add_command(command)
