"""``minikube-py``: the entry point, global options, and error handling.

Global options choose the node's state directory (``--state-dir``, or ``MINIKUBE_PY_STATE``)
and ``-v``, which prints the shell equivalent of every kernel action as ``+ command``, the
way ``bash -x`` prints what it runs. Any ``MinikubeError`` ends the command with
``Error: <message>`` on stderr and exit code 1.
"""

from __future__ import annotations

import logging
import sys

import click

import explain
from minikube_py.cli.context import Context
from minikube_py.config import DEFAULT_STATE_DIR
from minikube_py.errors import MinikubeError


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except MinikubeError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="minikube-py")
@click.option("--state-dir", envvar="MINIKUBE_PY_STATE", default=DEFAULT_STATE_DIR,
              show_default=True, help="Where the node keeps its state.")
@click.option("-v", "--verbose", is_flag=True,
              help="Print the shell equivalent of each kernel action (+ command).")
@click.pass_context
def cli(ctx: click.Context, state_dir: str, verbose: bool) -> None:
    """minikube-py: a small Kubernetes built from real Linux primitives."""
    ctx.obj = Context(state_dir, verbose)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname).1s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if verbose:
        logging.getLogger("explain").setLevel(logging.WARNING)  # printed by the listener
        explain.add_listener(lambda line: click.echo(f"+ {line}", err=True))


def _register() -> None:
    from minikube_py.cli import cluster_cmds, image_cmds, node_cmds

    for command in (cluster_cmds.up, cluster_cmds.down, cluster_cmds.status,
                    cluster_cmds.kubeconfig):
        cli.add_command(command)

    cli.add_command(node_cmds.node)
    cli.add_command(node_cmds.kubelet)
    cli.add_command(image_cmds.image)
    __import__("minikube_py.cli.kube_cmds", fromlist=["register"]).register(cli)


_register()


def main() -> None:
    cli(prog_name="minikube-py")
