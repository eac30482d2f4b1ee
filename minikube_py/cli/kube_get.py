"""``minikube-py get``: objects as kubectl prints them, or as YAML, JSON or names.

    get pods                      GET /api/v1/namespaces/default/pods  (as a Table)
    get pod/web deploy/api        one GET per name
    get pods,svc -l app=web -A    GET /api/v1/pods?labelSelector=app%3Dweb, then services
    get pods -w                   the list, then a watch from its resourceVersion
    get deploy web -o yaml        the whole object (plain JSON from the server)

The table is the server's: the request says ``Accept: application/json;as=Table;v=v1;
g=meta.k8s.io`` and the API server sends the columns and cells (see
``minikube_py/apiserver/tables.py``), which we only lay out. ``-o yaml|json|name`` asks
for plain objects instead and fills in ``apiVersion``/``kind``, which list items come
without. Watch the real kubectl do the same with ``kubectl get pods -v=8``.
"""

from __future__ import annotations

from typing import Any

import click

from minikube_py.api.resources import Resource
from minikube_py.cli import printers as p
from minikube_py.cli.apply import qualified_kind
from minikube_py.cli.kube_cmds import Kube, kube_command, list_query, no_resources, parse_targets


@click.command("get")
@click.argument("args", nargs=-1)
@click.option("-o", "--output", type=click.Choice(["wide", "yaml", "json", "name"]),
              default=None, help="Output format.")
@click.option("-l", "--selector", default=None, help="Label selector (app=nginx,tier!=db).")
@click.option("--field-selector", default=None, help="Field selector (status.phase=Running).")
@click.option("-A", "--all-namespaces", is_flag=True, help="List across all namespaces.")
@click.option("-w", "--watch", is_flag=True, help="After listing, watch for changes.")
@click.option("--show-labels", is_flag=True, help="Add a LABELS column.")
@click.option("--no-headers", is_flag=True, help="Leave out the header line.")
@kube_command
def get(kube: Kube, args: tuple[str, ...], output: str | None, selector: str | None,
        field_selector: str | None, all_namespaces: bool, watch: bool, show_labels: bool,
        no_headers: bool) -> None:
    """Show objects as kubectl's table, or as YAML, JSON or names."""
    targets = parse_targets(args)
    namespace = None if all_namespaces else kube.namespace
    if output in ("yaml", "json", "name"):
        _get_objects(kube, targets, namespace, output, selector, field_selector, watch)
        return
    kinds = list(dict.fromkeys(r for r, _ in targets))
    prefix_kind = len(kinds) > 1 or args[0] == "all"
    printed = False
    for resource in kinds:
        names = [n for r, n in targets if r == resource and n]
        tables = _tables(kube, resource, names, namespace, selector, field_selector)
        rows = sum(len(t.get("rows") or []) for t in tables)
        if not rows:
            continue
        if printed:
            click.echo()
        table = {**tables[0], "rows": [row for t in tables for row in t.get("rows") or []]}
        widths = p.print_table(table, wide=output == "wide",
                               namespace_column=all_namespaces and resource.namespaced,
                               labels_column=show_labels, no_headers=no_headers,
                               name_prefix=f"{qualified_kind(resource)}/" if prefix_kind
                               else "")
        printed = True
        if watch:
            query = {**list_query(selector, field_selector),
                     "resourceVersion": (table.get("metadata") or {}).get("resourceVersion")}
            if names:
                query["fieldSelector"] = f"metadata.name={names[0]}"
            p.watch_table(kube.client, resource.path(namespace), query, widths,
                          wide=output == "wide",
                          namespace_column=all_namespaces and resource.namespaced,
                          labels_column=show_labels)
            return
    if not printed and not any(n for _, n in targets):
        no_resources(kinds[0], namespace)


def _tables(kube: Kube, resource: Resource, names: list[str], namespace: str | None,
            selector: str | None, field_selector: str | None) -> list[dict[str, Any]]:
    accept = p.TABLE_ACCEPT
    if not names:
        return [kube.client.request("GET", resource.path(namespace),
                                    list_query(selector, field_selector), accept=accept)]
    return [kube.client.request("GET", resource.path(namespace or kube.namespace, name),
                                accept=accept) for name in names]


def _get_objects(kube: Kube, targets: list[tuple[Resource, str | None]],
                 namespace: str | None, output: str, selector: str | None,
                 field_selector: str | None, watch: bool) -> None:
    objects: list[tuple[Resource, dict[str, Any]]] = []
    single = len(targets) == 1 and targets[0][1] is not None
    for resource, name in targets:
        if name:
            objects.append((resource, kube.client.get(resource, name,
                                                      namespace or kube.namespace)))
        else:
            found = kube.client.list(resource, namespace, selector, field_selector)
            objects += [(resource, _with_type(resource, o)) for o in found.get("items") or []]
    if output == "name":
        for resource, obj in objects:
            click.echo(p.object_name(obj, qualified_kind(resource)))
    elif single:
        click.echo(p.dump(objects[0][1], output))
    else:
        click.echo(p.dump(p.as_list([o for _, o in objects]), output))
    if watch and targets:
        resource = targets[0][0]
        for _, obj in kube.client.watch(resource, namespace, resource_version="0",
                                        label_selector=selector):
            click.echo(p.object_name(obj, qualified_kind(resource)) if output == "name"
                       else p.dump(obj, output) + ("\n---" if output == "yaml" else ""))


def _with_type(resource: Resource, obj: dict[str, Any]) -> dict[str, Any]:
    """List items come without apiVersion/kind; kubectl fills them in."""
    return {"apiVersion": resource.group_version, "kind": resource.kind, **obj}
