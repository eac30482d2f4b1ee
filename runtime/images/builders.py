"""Built-in image recipes: busybox and nginx, made on this machine instead of pulled.

A kubelet asks the runtime to *pull* each container's image (``ErrImagePull`` when that
fails). Before it asks a registry, :meth:`ImageStore.ensure_image` looks for one of two
recipes that build the images the seed's examples use, from what Debian gives us:

* ``busybox`` (any tag): one layer holding the host's static ``/bin/busybox`` (Debian's
  busybox-static), a symlink per applet in ``/bin`` (what ``busybox --install -s`` does),
  ``/etc/passwd`` and ``/etc/group`` with root and nobody, ``/tmp`` (1777) and the usual
  mount points. Default command ``sh``. It takes milliseconds.
* ``nginx`` (any tag): layer 1 is a minimal Debian bookworm with ``nginx-light`` made by
  ``mmdebstrap`` from the host's apt sources (~15-30 s, ~190 MB); layer 2 points nginx's log
  files at ``/dev/stdout`` / ``/dev/stderr``, as the official nginx image does, so that
  ``kubectl logs`` shows the access log. Default command ``nginx -g 'daemon off;'``; the
  default site serves Debian's "Welcome to nginx!" page at ``/``.

Every step is recorded with :func:`explain.record` as the shell command that does the same,
so ``minikube-py -v`` shows a build you can replay by hand.
"""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
from collections.abc import Callable

import explain
from runtime.images.layers import digest_of_dir, sha256_of_stream, tar_extract
from runtime.images.model import ImageConfig, PendingLayer
from runtime.images.refs import ImageError

Progress = Callable[[str], None]
Recipe = Callable[[str, Progress], tuple[list[PendingLayer], ImageConfig]]

HOST_BUSYBOX = "/bin/busybox"
BUSYBOX_DIRS = ["bin", "dev", "etc", "home", "proc", "root", "sys", "tmp", "usr/bin",
                "usr/sbin", "var/spool/mail", "var/www"]
PASSWD = ["root:x:0:0:root:/root:/bin/sh", "nobody:x:65534:65534:nobody:/home:/bin/false"]
GROUP = ["root:x:0:", "nobody:x:65534:"]
NGINX_SUITE = "bookworm"
NGINX_PACKAGES = ["nginx-light"]
WELCOME_PAGE = "var/www/html/index.nginx-debian.html"


# -- one small function per shell command ---------------------------------------------------
def mkdir_p(root: str, dirs: list[str]) -> None:
    explain.record(["mkdir", "-p"] + [os.path.join(root, d) for d in dirs])
    for d in dirs:
        os.makedirs(os.path.join(root, d), exist_ok=True)


def chmod(mode: int, path: str) -> None:
    explain.record(["chmod", f"{mode:o}", path])
    os.chmod(path, mode)


def cp(source: str, dest: str) -> None:
    explain.record(["cp", "-p", source, dest])
    shutil.copy2(source, dest)


def write_lines(path: str, lines: list[str]) -> None:
    explain.record(explain.shell_join(["printf", r"%s\n", *lines]) + " > " + path)
    with open(path, "w") as f:
        f.write("".join(line + "\n" for line in lines))


def ln_sf(target: str, link: str) -> None:
    explain.record(["ln", "-sf", target, link])
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink(target, link)


def busybox_install_s(busybox: str, bindir: str) -> int:
    """``busybox --install -s BINDIR``: one symlink per applet (ours are relative)."""
    explain.record([busybox, "--install", "-s", bindir])
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True,
                             check=True).stdout.split()
    for applet in applets:
        if applet != "busybox" and not os.path.lexists(os.path.join(bindir, applet)):
            os.symlink("busybox", os.path.join(bindir, applet))
    return len(applets)


def touch_h(root: str, epoch: int) -> None:
    """``find ROOT -exec touch -h -d @EPOCH {} +``: fixed times make the digest repeatable."""
    explain.record(f"find {root} -exec touch -h -d @{epoch} {{}} +")
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.utime(os.path.join(dirpath, name), (epoch, epoch), follow_symlinks=False)
    os.utime(root, (epoch, epoch))


def mmdebstrap(suite: str, packages: list[str], out: str, tmpdir: str,
               progress: Progress) -> None:
    """``mmdebstrap --variant=minbase --include=PKGS SUITE OUT.tar`` with the host's apt sources.

    Its temporary directory (and any mounts it makes there) lives under ``tmpdir``, which
    the caller removes, so a failed or interrupted build leaves nothing behind.
    """
    argv = ["mmdebstrap", "--variant=minbase", "--include=" + ",".join(packages), suite, out]
    explain.record(argv)
    tail: collections.deque[str] = collections.deque(maxlen=15)
    env = dict(os.environ, TMPDIR=tmpdir)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            tail.append(line.rstrip())
            progress(line.rstrip())
        code = proc.wait()
    finally:
        if proc.poll() is None:  # interrupted: stop it before its directory goes
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    if code != 0:
        raise ImageError(f"mmdebstrap exited with status {code}: " + " | ".join(tail))


# -- recipes -------------------------------------------------------------------------------
def build_busybox(work: str, progress: Progress) -> tuple[list[PendingLayer],
                                                                    ImageConfig]:
    """One layer from the host's static busybox; see the module docstring."""
    if not os.path.isfile(HOST_BUSYBOX):
        raise ImageError(f"{HOST_BUSYBOX} is missing "
                         "(apt-get install busybox-static)")
    layer = os.path.join(work, "busybox")
    os.mkdir(layer)
    chmod(0o755, layer)
    mkdir_p(layer, BUSYBOX_DIRS)
    cp(HOST_BUSYBOX, os.path.join(layer, "bin/busybox"))
    count = busybox_install_s(HOST_BUSYBOX, os.path.join(layer, "bin"))
    write_lines(os.path.join(layer, "etc/passwd"), PASSWD)
    write_lines(os.path.join(layer, "etc/group"), GROUP)
    chmod(0o1777, os.path.join(layer, "tmp"))
    chmod(0o700, os.path.join(layer, "root"))
    touch_h(layer, int(os.stat(HOST_BUSYBOX).st_mtime))
    progress(f"built busybox layer from {HOST_BUSYBOX} with {count} applets")
    pending = PendingLayer(digest_of_dir(layer), layer,
                           f"cp {HOST_BUSYBOX} /bin/busybox && busybox --install -s /bin")
    return [pending], ImageConfig(cmd=["sh"])


def build_nginx(work: str, progress: Progress) -> tuple[list[PendingLayer],
                                                                  ImageConfig]:
    """Debian + nginx-light from mmdebstrap, plus a small layer sending logs to stdout."""
    if shutil.which("mmdebstrap") is None:
        raise ImageError("mmdebstrap is not installed "
                         "(apt-get install mmdebstrap)")
    # Layer 1: the Debian root filesystem, as a tarball, then unpacked.
    tarball = os.path.join(work, "rootfs.tar")
    mmdebstrap(NGINX_SUITE, NGINX_PACKAGES, tarball, work, progress)
    progress(f"unpacking {tarball}")
    base = os.path.join(work, "debian")
    os.mkdir(base)
    base_id = sha256_of_stream(tarball)
    tar_extract(tarball, base)
    os.unlink(tarball)
    if not os.path.isfile(os.path.join(base, WELCOME_PAGE)):
        raise ImageError("nginx-light did not install "
                         f"/{WELCOME_PAGE}")
    # Layer 2: logs to the container's stdout/stderr, like the official image.
    top = os.path.join(work, "nginx-logs")
    os.mkdir(top)
    for rel in ("var", "var/log", "var/log/nginx"):  # same owner/mode as below, or
        _mirror_dir(base, top, rel)                   # overlayfs would show ours
    ln_sf("/dev/stdout", os.path.join(top, "var/log/nginx/access.log"))
    ln_sf("/dev/stderr", os.path.join(top, "var/log/nginx/error.log"))
    _mirror_dir(base, top, ".")
    layers = [
        PendingLayer(base_id, base, explain.shell_join(
            ["mmdebstrap", "--variant=minbase", "--include=" + ",".join(NGINX_PACKAGES),
             NGINX_SUITE, "rootfs.tar"])),
        PendingLayer(digest_of_dir(top), top,
                     "ln -sf /dev/stdout /var/log/nginx/access.log && "
                     "ln -sf /dev/stderr /var/log/nginx/error.log"),
    ]
    config = ImageConfig(cmd=["nginx", "-g", "daemon off;"], exposed_ports=["80/tcp"],
                         stop_signal="SIGQUIT")
    return layers, config


def _mirror_dir(lower: str, upper: str, rel: str) -> None:
    """``install -d -m MODE -o UID -g GID upper/rel``, copying the owner and mode of lower/rel."""
    st = os.stat(os.path.join(lower, rel))
    path = os.path.normpath(os.path.join(upper, rel))
    explain.record(["install", "-d", "-m", f"{st.st_mode & 0o7777:o}", "-o", str(st.st_uid),
                    "-g", str(st.st_gid), path])
    os.makedirs(path, exist_ok=True)
    if os.geteuid() == 0:
        os.chown(path, st.st_uid, st.st_gid)
    os.chmod(path, st.st_mode & 0o7777)


RECIPES: dict[str, Recipe] = {"busybox": build_busybox, "nginx": build_nginx}


def recipe_for(name: str) -> Recipe | None:
    """The built-in recipe for a normalised image name (``busybox``, ``nginx``), or None."""
    return RECIPES.get(name)


def not_found_message(ref: str, pulls_off: str = "all") -> str:
    """Why ``ref`` cannot be had, and the ways there are to get it."""
    why = ("pulls from Docker Hub are off (`--docker-hub`)" if pulls_off == "docker_hub"
           else "this image store does not pull from registries")
    return (f"failed to pull image {ref}: not found in the local store, no built-in recipe, "
            f"and {why}. Built-in images (any tag): busybox (from the host's /bin/busybox) "
            "and nginx (Debian's nginx-light, built with mmdebstrap). Import others with "
            "`minikube-py image import REF <directory or .tar/.tar.gz/.tar.xz>`, e.g. a rootfs "
            "from `docker export` or `mmdebstrap`, or push them to a registry and name it: "
            "`localhost:5000/NAME:TAG`")
