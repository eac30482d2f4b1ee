"""Image layers: unpack a tarball safely, copy a directory, compute a layer's digest.

A container image is a stack of *layers*, each a filesystem tree stored as a tar archive. An
OCI image config lists them as ``rootfs.diff_ids``: the sha256 of each *uncompressed* layer
tar. We keep layers already unpacked (the runtime stacks them with overlayfs, bottom layer
first, as ``lowerdir=top:...:bottom``), in a directory named after that digest.

Unpacking an archive someone else wrote must not write outside the target directory. Each
member is checked before it is extracted:

* no absolute names, no ``..`` components (``tar`` itself strips them with a warning);
* the member's parent directory, resolved through symlinks already unpacked, stays inside
  the target (a ``lib -> /lib`` symlink followed by ``lib/x`` would write to the host);
* hard links point at an earlier member inside the target;
* device nodes are skipped: the container runtime mounts its own ``/dev``;
* whiteouts (``.wh.NAME``, ``.wh..wh..opq``: what a later layer deletes) become overlayfs
  whiteouts (a 0/0 character device, the ``trusted.overlay.opaque`` xattr), so the overlay
  mount hides the deleted files; :func:`write_layer_tar` turns them back for a push.

See for yourself::

    tar -tvf layer.tar | head            # what a layer holds
    sha256sum layer.tar                  # its diff_id
    tar -xpf layer.tar --numeric-owner -C DIR --exclude './dev/*'   # what unpack does
"""

from __future__ import annotations

import gzip
import hashlib
import lzma
import os
import shutil
import stat
import tarfile
import zlib
from collections.abc import Callable
from typing import Any, BinaryIO, cast

import explain
from runtime.images.refs import ImageError

CHUNK = 1 << 20
#: A layer says "this path is deleted" with an empty file named ``.wh.<name>`` next to it,
#: and "hide everything lower layers have in this directory" with ``<dir>/.wh..wh..opq``
#: (the OCI image layer spec). overlayfs says the same with a 0/0 character device and the
#: ``trusted.overlay.opaque`` xattr, which is what unpacking turns them into.
WHITEOUT_PREFIX = ".wh."
OPAQUE = ".wh..wh..opq"
OVERLAY_OPAQUE = "trusted.overlay.opaque"


def open_maybe_compressed(path: str) -> BinaryIO:
    """Open a tar file, transparently decompressing gzip or xz (by magic bytes, not name)."""
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic[:2] == b"\x1f\x8b":
        return cast(BinaryIO, gzip.open(path, "rb"))
    if magic == b"\xfd7zXZ\x00":
        return cast(BinaryIO, lzma.open(path, "rb"))
    return open(path, "rb")


def sha256_of_stream(path: str) -> str:
    """The diff_id of a layer tarball: sha256 of its uncompressed bytes, ``sha256:<hex>``."""
    h = hashlib.sha256()
    with open_maybe_compressed(path) as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


class HashingWriter:
    """A write-only file object that hashes what passes and hands it on to ``out`` (or
    drops it): a blob's digest computed while the blob is written."""

    def __init__(self, out: Any = None) -> None:
        self.out = out
        self.hash = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        return int(self.out.write(data)) if self.out is not None else len(data)

    def flush(self) -> None:
        if self.out is not None:
            self.out.flush()

    @property
    def digest(self) -> str:
        return "sha256:" + self.hash.hexdigest()


def digest_of_dir(root: str) -> str:
    """sha256 of a deterministic tar of ``root``: sorted names, numeric owners, no user names.

    This is the diff_id the directory would have if exported as a layer with
    ``tar --sort=name --numeric-owner --owner=0 ... -cf - -C root .`` style settings.
    """
    sink = HashingWriter()
    write_layer_tar(root, sink)
    return sink.digest


def write_layer_tar(root: str, out: Any) -> None:
    """Write the layer directory ``root`` to ``out`` as an OCI layer tar (the one
    :func:`digest_of_dir` hashes): overlayfs whiteouts become ``.wh.`` entries again."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for path in _sorted_walk(root):
            rel = os.path.relpath(path, root)
            arcname = "." if rel == "." else "./" + rel
            st = os.lstat(path)
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:  # a whiteout: "deleted here"
                info = tarfile.TarInfo(_whiteout_name(arcname))
                info.mtime = int(st.st_mtime)
                tar.addfile(info)
                continue
            info = tar.gettarinfo(path, arcname=arcname)
            info.uname = info.gname = ""
            if info.isreg():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
            if info.isdir() and _is_opaque(path):  # "nothing below from lower layers"
                tar.addfile(tarfile.TarInfo(os.path.join(arcname, OPAQUE)))


def _whiteout_name(arcname: str) -> str:
    head, tail = os.path.split(arcname)
    return os.path.join(head, WHITEOUT_PREFIX + tail)


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OVERLAY_OPAQUE, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _sorted_walk(root: str) -> list[str]:
    paths = [root]
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(dirnames + filenames):
            paths.append(os.path.join(dirpath, name))
    return sorted(paths)


def _check_member(member: tarfile.TarInfo, dest: str, source: str) -> str | None:
    """Return the member's safe relative name, None to skip it; raise ImageError if hostile."""
    name = member.name
    while name.startswith("./"):
        name = name[2:]
    name = name.rstrip("/")
    if name in ("", "."):
        return "." if member.isdir() else None
    if os.path.isabs(name) or ".." in name.split("/"):
        raise ImageError(f"failed to unpack layer {source}: member {member.name!r} "
                         "escapes the target directory")
    if member.ischr() or member.isblk():
        return None
    parent = os.path.realpath(os.path.join(dest, os.path.dirname(name)))
    if parent != dest and not parent.startswith(dest + os.sep):
        raise ImageError(f"failed to unpack layer {source}: member {member.name!r} "
                         "would be written through a symlink outside the target directory")
    if member.islnk():
        target = member.linkname
        while target.startswith("./"):
            target = target[2:]
        # The whole target, not just its directory: a hard link to an unpacked symlink
        # would link (and later chown/chmod) whatever that symlink points at.
        resolved = os.path.realpath(os.path.join(dest, target))
        if (os.path.isabs(target) or ".." in target.split("/")
                or os.path.islink(os.path.join(dest, target))
                or (resolved != dest and not resolved.startswith(dest + os.sep))):
            raise ImageError(f"failed to unpack layer {source}: hard link {member.name!r} "
                             f"points outside the target directory ({member.linkname!r})")
        member.linkname = target
    return name


class _HashingReader:
    """Reads through from ``raw`` and hashes what passes (the uncompressed tar's digest)."""

    def __init__(self, raw: BinaryIO, into: Any) -> None:
        self.raw, self.into = raw, into

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.into.update(data)
        return data


def tar_extract(source: str, dest: str, hash_into: Any = None) -> int:
    """``tar -xpf SOURCE --numeric-owner -C DEST``, checking every member; returns the count.

    ``hash_into`` (a hashlib object) receives the uncompressed bytes, all of them: the layer's
    diff_id comes out of the same pass that unpacks it.
    """
    explain.record(["tar", "-xpf", source, "--numeric-owner", "--exclude", "./dev/*",
                    "-C", dest])
    dest = os.path.realpath(dest)
    count = 0
    try:
        with open_maybe_compressed(source) as raw:
            count = _extract_members(
                _HashingReader(raw, hash_into) if hash_into is not None else raw, dest, source)
            if hash_into is not None:  # the end-of-archive padding tarfile leaves unread
                while data := raw.read(CHUNK):
                    hash_into.update(data)
    except (OSError, tarfile.TarError, EOFError, lzma.LZMAError, zlib.error) as e:
        raise ImageError(f"failed to unpack layer {source}: {e}") from e
    return count


def _extract_members(stream: Any, dest: str, source: str) -> int:
    """Unpack each checked member of the tar stream into ``dest``; the count."""
    count = 0
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        directories: list[tarfile.TarInfo] = []
        for member in tar:
            name = _check_member(member, dest, source)
            if name is None:
                continue
            member.name = name
            if name == ".":  # the layer's root: only its mode and owner matter
                directories.append(member)
                continue
            path = os.path.join(dest, name)
            if os.path.basename(name).startswith(WHITEOUT_PREFIX):
                _make_whiteout(member, dest, path)
                count += 1
                continue
            if os.path.lexists(path) and (not member.isdir() or os.path.islink(path)):
                _remove(path)  # later members win, as with tar
            # Directories get their mode and owner at the end (a 0555 directory must
            # still accept its children); the rest right away.
            tar.extract(member, dest, set_attrs=not member.isdir(), numeric_owner=True)
            if member.isdir():
                directories.append(member)
            count += 1
        for member in sorted(directories, key=lambda m: m.name, reverse=True):
            path = os.path.join(dest, member.name)
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                continue  # replaced by a later member (a symlink, say): not ours to set
            tar.chown(member, path, numeric_owner=True)
            tar.chmod(member, path)
            tar.utime(member, path)
    return count


def _make_whiteout(member: tarfile.TarInfo, dest: str, path: str) -> None:
    """``.wh..wh..opq`` -> the opaque xattr on its directory; ``.wh.NAME`` -> a 0/0 character
    device named NAME (``mknod NAME c 0 0``), overlayfs's own marks for the same things."""
    parent, base = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    if base == OPAQUE:
        explain.record(["setfattr", "-n", OVERLAY_OPAQUE, "-v", "y", parent])
        os.setxattr(parent, OVERLAY_OPAQUE, b"y")
        return
    hidden = base[len(WHITEOUT_PREFIX):]
    if hidden in ("", ".", "..") or "/" in hidden:
        raise ImageError(f"failed to unpack layer: whiteout {member.name!r} names no file")
    target = os.path.join(parent, hidden)
    if os.path.lexists(target):
        _remove(target)
    explain.record(["mknod", target, "c", "0", "0"])
    os.mknod(target, stat.S_IFCHR | 0o000, os.makedev(0, 0))


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def cp_archive(source: str, dest: str) -> None:
    """``cp -a SOURCE/. DEST``: copy a tree keeping modes, owners, times and symlinks.

    Device nodes are skipped (like tar extraction above); hard links become separate files.
    """
    explain.record(["cp", "-a", "--no-dereference", source.rstrip("/") + "/.", dest])
    is_root = os.geteuid() == 0

    def copy_one(src: str, dst: str) -> None:
        st = os.lstat(src)
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(src), dst)
        elif stat.S_ISREG(st.st_mode):
            shutil.copy2(src, dst, follow_symlinks=False)
        elif stat.S_ISFIFO(st.st_mode):
            os.mkfifo(dst, stat.S_IMODE(st.st_mode))
        else:
            return  # devices and sockets are not image content
        if is_root:
            os.lchown(dst, st.st_uid, st.st_gid)
            if not stat.S_ISLNK(st.st_mode):  # chown cleared any setuid/setgid bit
                os.chmod(dst, stat.S_IMODE(st.st_mode))

    _copy_tree(source, dest, copy_one, is_root)


def _copy_tree(source: str, dest: str, copy_one: Callable[[str, str], None],
               is_root: bool) -> None:
    for dirpath, dirnames, filenames in os.walk(source):
        rel = os.path.relpath(dirpath, source)
        target = dest if rel == "." else os.path.join(dest, rel)
        os.makedirs(target, exist_ok=True)
        for name in list(dirnames):
            if os.path.islink(os.path.join(dirpath, name)):
                dirnames.remove(name)  # os.walk lists symlinks to dirs as dirs
                filenames.append(name)
        for name in filenames:
            copy_one(os.path.join(dirpath, name), os.path.join(target, name))
    # Directory metadata last, deepest first, so copying into them was still allowed.
    for dirpath, _dirs, _files in sorted(os.walk(source), key=lambda t: -len(t[0])):
        rel = os.path.relpath(dirpath, source)
        target = dest if rel == "." else os.path.join(dest, rel)
        st = os.stat(dirpath)
        if is_root:
            os.chown(target, st.st_uid, st.st_gid)
        os.chmod(target, stat.S_IMODE(st.st_mode))
        os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))
