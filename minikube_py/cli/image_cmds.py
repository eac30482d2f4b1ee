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


def _credentials(ref: str, creds: str | None) -> dict[str, tuple[str, str]] | None:
    """``--creds USER:PASSWORD`` for the registry REF names (``docker login``'s effect)."""
    if not creds:
        return None
    if ":" not in creds:
        raise click.BadParameter("want USER:PASSWORD", param_hint="--creds")
    from runtime.images import parse_ref
    from runtime.images.registry import DOCKER_HUB, registry_for

    user, _, password = creds.partition(":")
    host = registry_for(parse_ref(ref))[0].split("://", 1)[1]
    return {("index.docker.io" if host == DOCKER_HUB else host): (user, password)}


CREDS = click.option("--creds", metavar="USER:PASSWORD",
                     help="Log in to the registry with this user name and password.")


@image.command("pull")
@click.argument("ref")
@CREDS
@pass_context
def pull(ctx: Context, ref: str, creds: str | None) -> None:
    """Get an image into the store: a built-in recipe (busybox, nginx), else a registry.

    REF names its registry (localhost:5000/lab/app:1) or is a Docker Hub name (redis:7).
    """
    img = _store(ctx).ensure_image(ref, progress=lambda line: click.echo(f"  {line}", err=True),
                                   credentials=_credentials(ref, creds))
    click.echo(f"{img.ref} {img.id}")


@image.command("push")
@click.argument("ref")
@click.argument("destination", required=False)
@CREDS
@pass_context
def push(ctx: Context, ref: str, destination: str | None, creds: str | None) -> None:
    """Push image REF to a registry, as DESTINATION (default: REF itself).

    For example: minikube-py image push busybox localhost:5000/lab/busybox:1
    """
    digest = _store(ctx).push(ref, destination or ref,
                              progress=lambda line: click.echo(f"  {line}", err=True),
                              credentials=_credentials(destination or ref, creds))
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
