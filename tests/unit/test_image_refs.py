"""Image references normalise like Docker's; layer tarballs cannot escape their directory."""

from __future__ import annotations

import io
import os
import tarfile

import pytest

from runtime.images import ImageError, normalize_ref, parse_ref
from runtime.images.layers import digest_of_dir, sha256_of_stream, tar_extract

HEX = "a" * 64


@pytest.mark.parametrize(("ref", "expected"), [
    ("busybox", "busybox:latest"),
    ("busybox:1.36", "busybox:1.36"),
    ("docker.io/library/nginx:1.25", "nginx:1.25"),
    ("index.docker.io/library/nginx", "nginx:latest"),
    ("library/nginx", "nginx:latest"),
    ("docker.io/bitnami/redis:7.2", "bitnami/redis:7.2"),
    ("registry.example/x/y:tag", "registry.example/x/y:tag"),
    ("localhost:5000/app", "localhost:5000/app:latest"),
    ("localhost:5000/app:v1.2_rc-3", "localhost:5000/app:v1.2_rc-3"),
    (f"nginx@sha256:{HEX}", f"nginx@sha256:{HEX}"),
    (f"docker.io/library/nginx:1.25@sha256:{HEX}", f"nginx@sha256:{HEX}"),
    ("my_app/some__thing.x-y", "my_app/some__thing.x-y:latest"),
])
def test_references_are_normalised_like_docker(ref: str, expected: str) -> None:
    assert normalize_ref(ref) == expected


def test_a_digest_reference_is_parsed_into_name_and_digest() -> None:
    parsed = parse_ref(f"registry.example:443/team/app@sha256:{HEX}")
    assert parsed.name == "registry.example:443/team/app"
    assert parsed.tag is None
    assert parsed.digest == f"sha256:{HEX}"
    assert parsed.domain == "registry.example:443"
    assert parse_ref("nginx").domain is None


@pytest.mark.parametrize("ref", [
    "", "Nginx", "nginx:", "nginx:-bad", "nginx@sha256:xyz", "nginx@md5:" + HEX,
    "a//b", "/nginx", "nginx/", "na me", "nginx:" + "t" * 129, "-nginx",
])
def test_invalid_references_are_rejected_naming_the_reference(ref: str) -> None:
    with pytest.raises(ImageError) as info:
        parse_ref(ref)
    assert f"image reference {ref!r}" in str(info.value)


def _tar_with(path: str, members: list[tarfile.TarInfo], data: bytes = b"x") -> None:
    with tarfile.open(path, "w") as tar:
        for info in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)


def _file(name: str, data: bytes = b"x") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info


def _symlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


@pytest.mark.parametrize("members", [
    [_file("/etc/evil")],
    [_file("../evil")],
    [_file("ok/../../evil")],
    [_symlink("up", "/tmp"), _file("up/evil")],
    [_symlink("up", "../../.."), _file("up/evil")],
], ids=["absolute", "dotdot", "nested-dotdot", "through-absolute-symlink",
        "through-relative-symlink"])
def test_a_tarball_cannot_write_outside_its_target(tmp_path, members) -> None:
    tarball, dest = str(tmp_path / "bad.tar"), tmp_path / "layer" / "root"
    dest.mkdir(parents=True)
    _tar_with(tarball, members)
    with pytest.raises(ImageError, match="failed to unpack layer"):
        tar_extract(tarball, str(dest))
    assert not (tmp_path / "evil").exists() and not (tmp_path / "layer" / "evil").exists()


def test_a_hard_link_to_outside_the_target_is_rejected(tmp_path) -> None:
    link = tarfile.TarInfo("passwd")
    link.type, link.linkname = tarfile.LNKTYPE, "../../etc/passwd"
    _tar_with(str(tmp_path / "bad.tar"), [link])
    (tmp_path / "d").mkdir()
    with pytest.raises(ImageError, match="hard link"):
        tar_extract(str(tmp_path / "bad.tar"), str(tmp_path / "d"))


def test_a_hard_link_to_an_unpacked_symlink_is_rejected(tmp_path) -> None:
    """``evil -> outside`` then a hard link ``x -> evil``: the link (and the chown/chmod
    tar applies to it) would land on the file the symlink points at."""
    outside = tmp_path / "outside"
    outside.write_text("host file")
    os.chmod(outside, 0o600)
    link = tarfile.TarInfo("x")
    link.type, link.linkname, link.mode = tarfile.LNKTYPE, "evil", 0o777
    _tar_with(str(tmp_path / "bad.tar"), [_symlink("evil", str(outside)), link])
    (tmp_path / "d").mkdir()
    with pytest.raises(ImageError, match="hard link"):
        tar_extract(str(tmp_path / "bad.tar"), str(tmp_path / "d"))
    assert os.stat(outside).st_mode & 0o777 == 0o600


def test_a_directory_replaced_by_a_symlink_keeps_its_mode_off_the_symlinks_target(
        tmp_path) -> None:
    """A directory ``d`` (mode 0777, applied at the end), then a symlink ``d -> outside``:
    the directory's mode must not be applied through the symlink."""
    outside = tmp_path / "outside"
    outside.mkdir()
    os.chmod(outside, 0o700)
    directory = tarfile.TarInfo("d")
    directory.type, directory.mode = tarfile.DIRTYPE, 0o777
    _tar_with(str(tmp_path / "bad.tar"), [directory, _symlink("d", str(outside))])
    (tmp_path / "out").mkdir()
    tar_extract(str(tmp_path / "bad.tar"), str(tmp_path / "out"))
    assert os.stat(outside).st_mode & 0o777 == 0o700
    assert os.readlink(tmp_path / "out" / "d") == str(outside)


@pytest.mark.parametrize("name", [".wh..", ".wh...", "sub/.wh..", ".wh."])
def test_a_whiteout_that_names_no_file_is_refused(tmp_path, name: str) -> None:
    keep = tmp_path / "layer" / "keep"
    (tmp_path / "layer" / "root").mkdir(parents=True)
    keep.write_text("still here")
    _tar_with(str(tmp_path / "bad.tar"), [_file("sub/f"), _file(name, b"")])
    with pytest.raises(ImageError, match="whiteout"):
        tar_extract(str(tmp_path / "bad.tar"), str(tmp_path / "layer" / "root"))
    assert keep.read_text() == "still here"


def test_a_normal_tarball_unpacks_with_symlinks_and_without_devices(tmp_path) -> None:
    device = tarfile.TarInfo("dev/null")
    device.type, device.devmajor, device.devminor = tarfile.CHRTYPE, 1, 3
    locked = tarfile.TarInfo("ro")
    locked.type, locked.mode = tarfile.DIRTYPE, 0o555
    tarball = str(tmp_path / "ok.tar.gz")
    with tarfile.open(tarball, "w:gz") as tar:
        for info in [locked, _file("ro/inside", b"hello"), device,
                     _symlink("etc/localtime", "/usr/share/zoneinfo/UTC")]:
            tar.addfile(info, io.BytesIO(b"hello") if info.isreg() else None)
    dest = tmp_path / "out"
    dest.mkdir()
    assert tar_extract(tarball, str(dest)) == 3
    assert (dest / "ro" / "inside").read_text() == "hello"
    assert os.stat(dest / "ro").st_mode & 0o777 == 0o555
    assert os.readlink(dest / "etc" / "localtime") == "/usr/share/zoneinfo/UTC"
    assert not os.path.lexists(dest / "dev" / "null")
    assert sha256_of_stream(tarball).startswith("sha256:")  # of the uncompressed bytes
    os.chmod(dest / "ro", 0o755)  # let pytest clean up


def test_the_digest_of_a_directory_depends_on_content_only(tmp_path) -> None:
    for name in ("a", "b"):
        (tmp_path / name / "sub").mkdir(parents=True)
        (tmp_path / name / "sub" / "f").write_text("same")
        os.utime(tmp_path / name / "sub" / "f", (1, 1))
        os.utime(tmp_path / name / "sub", (1, 1))
        os.utime(tmp_path / name, (1, 1))
    assert digest_of_dir(str(tmp_path / "a")) == digest_of_dir(str(tmp_path / "b"))
    (tmp_path / "b" / "sub" / "f").write_text("diff")
    os.utime(tmp_path / "b" / "sub" / "f", (1, 1))
    assert digest_of_dir(str(tmp_path / "a")) != digest_of_dir(str(tmp_path / "b"))
