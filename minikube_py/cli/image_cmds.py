"""``minikube-py image ...``: the node's local image store."""

from __future__ import annotations

import click

from minikube_py.cli.context import Context, pass_context
from minikube_py.cli.output import print_table
from minikube_py.node import load_config
from runtime.images import ImageStore


def _store(ctx: Context) -> ImageStore:
    return load_config(ctx.state_dir).open_image_store()


@click.group()
def image() -> None:
    """List, build and import container images."""


@image.command("ls")
@pass_context
def ls(ctx: Context) -> None:
    """List the images in the store."""
    rows = [[img.ref, img.id[:19], str(len(img.layers))] for img in _store(ctx).list_images()]
    print_table(["IMAGE", "ID", "LAYERS"], rows)


@image.command("pull")
@click.argument("ref")
@pass_context
def pull(ctx: Context, ref: str) -> None:
    """Get an image into the store: a built-in recipe (busybox, nginx), else a registry.

    REF names its registry (localhost:5000/lab/app:1) or is a Docker Hub name (redis:7).
    """
    img = _store(ctx).ensure_image(ref, progress=lambda line: click.echo(f"  {line}", err=True))
    click.echo(f"{img.ref} {img.id}")


@image.command("push")
@click.argument("ref")
@click.argument("destination", required=False)
@pass_context
def push(ctx: Context, ref: str, destination: str | None) -> None:
    """Push image REF to a registry, as DESTINATION (default: REF itself).

    For example: minikube-py image push busybox localhost:5000/lab/busybox:1
    """
    digest = _store(ctx).push(ref, destination or ref,
                              progress=lambda line: click.echo(f"  {line}", err=True))
    click.echo(f"{destination or ref} {digest}")


@image.command("import")
@click.argument("ref")
@click.argument("source", type=click.Path(exists=True))
@click.option("--cmd", default=None, help="Default command, e.g. 'sh -c \"...\"'.")
@pass_context
def import_(ctx: Context, ref: str, source: str, cmd: str | None) -> None:
    """Import a root filesystem (directory or tarball) as image REF."""
    import shlex

    from runtime.images import ImageConfig

    config = None
    if cmd:
        config = ImageConfig(entrypoint=[], cmd=shlex.split(cmd),
                             env=["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                                  "/sbin:/bin"], working_dir="/", user="")
    img = _store(ctx).import_rootfs(ref, source, config)
    click.echo(f"{img.ref} {img.id}")


@image.command("rm")
@click.argument("ref")
@pass_context
def rm(ctx: Context, ref: str) -> None:
    """Remove an image from the store."""
    _store(ctx).delete_image(ref)
    click.echo(f"deleted {ref}")
