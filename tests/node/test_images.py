"""The local image store builds busybox and nginx, imports root filesystems, lists and deletes.

Each test uses its own store under pytest's tmp_path. Root is needed for owners, device
nodes, chroot and mmdebstrap; the not-found test runs anywhere.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import tarfile
import threading
import time

import pytest

import explain
from runtime.images import (
    DEFAULT_PATH,
    ImageConfig,
    ImageError,
    ImageNotFound,
    ImageStore,
    builders,
)

root = pytest.mark.root


def _mounts_under(path: str) -> list[str]:
    with open("/proc/self/mounts") as f:
        return [line.split()[1] for line in f if line.split()[1].startswith(str(path))]


@root
def test_busybox_is_built_from_the_host_binary_quickly_and_then_cached(tmp_path) -> None:
    store = ImageStore(str(tmp_path))
    started = time.monotonic()
    image = store.ensure_image("busybox")
    elapsed = time.monotonic() - started
    print(f"busybox build took {elapsed * 1000:.0f} ms")
    assert elapsed < 2.0
    assert image.ref == "busybox:latest" and image.id.startswith("sha256:")
    [layer] = image.layers
    assert os.readlink(f"{layer}/bin/sh") == "busybox"
    assert os.readlink(f"{layer}/bin/wget") == "busybox"
    assert os.access(f"{layer}/bin/busybox", os.X_OK)
    assert "root:x:0:0:" in open(f"{layer}/etc/passwd").read()
    assert "nobody:x:65534:" in open(f"{layer}/etc/group").read()
    assert stat.S_IMODE(os.stat(f"{layer}/tmp").st_mode) == 0o1777
    for mount_point in ("proc", "sys", "dev", "etc", "root", "var", "home"):
        assert os.path.isdir(f"{layer}/{mount_point}")
    assert image.config.cmd == ["sh"] and image.config.env == [DEFAULT_PATH]
    with explain.capture() as lines:
        again = store.ensure_image("docker.io/library/busybox:latest")
    assert again == image and lines == []  # cached: nothing done


@root
def test_the_busybox_layer_runs_a_shell_when_used_as_a_root(tmp_path) -> None:
    image = ImageStore(str(tmp_path)).ensure_image("busybox")
    out = subprocess.run(["chroot", image.layers[0], "/bin/sh", "-c", "echo hi from $0; id -un"],
                         capture_output=True, text=True, timeout=10, check=True).stdout
    assert out.split() == ["hi", "from", "/bin/sh", "root"]


@root
def test_images_are_found_listed_and_deleted_with_unused_layers(tmp_path) -> None:
    store = ImageStore(str(tmp_path))
    latest = store.ensure_image("busybox")
    other = store.ensure_image("busybox:1.36")
    assert other.id == latest.id and other.layers == latest.layers  # one layer, two tags
    assert [i.ref for i in store.list_images()] == ["busybox:1.36", "busybox:latest"]
    assert store.find_image(f"busybox@{latest.id}") is not None
    assert open(tmp_path / "refs" / "busybox" / "latest").read().strip() == latest.id

    store.delete_image("busybox")
    assert store.find_image("busybox") is None
    assert os.path.isdir(latest.layers[0])  # still used by busybox:1.36
    store.delete_image("busybox:1.36")
    store.delete_image("busybox:1.36")  # twice is fine
    assert store.list_images() == []
    assert os.listdir(tmp_path / "layers") == [] and os.listdir(tmp_path / "configs") == []
    assert os.listdir(tmp_path / "tmp") == []


@root
def test_a_directory_is_imported_with_modes_owners_and_symlinks_but_no_devices(tmp_path) -> None:
    src = tmp_path / "src"
    (src / "bin").mkdir(parents=True)
    (src / "bin" / "app").write_text("#!/bin/sh\necho app\n")
    os.chown(src / "bin" / "app", 1234, 5678)
    os.chmod(src / "bin" / "app", 0o4755)
    os.symlink("/bin/app", src / "app-link")
    (src / "dev").mkdir()
    os.mknod(src / "dev" / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    store = ImageStore(str(tmp_path / "store"))
    image = store.import_rootfs("example.local/tools:v1", str(src))
    assert image.ref == "example.local/tools:v1"
    [layer] = image.layers
    st = os.stat(f"{layer}/bin/app")
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o4755, 1234, 5678)
    assert os.readlink(f"{layer}/app-link") == "/bin/app"
    assert os.path.isdir(f"{layer}/dev") and not os.path.lexists(f"{layer}/dev/null")
    assert image.config == ImageConfig()
    assert store.find_image("example.local/tools:v1") == image


@root
def test_a_tar_gz_is_imported_with_its_config(tmp_path) -> None:
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "motd").write_text("hello\n")
    tarball = str(tmp_path / "rootfs.tar.gz")
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(str(rootfs), arcname=".")
    config = ImageConfig(entrypoint=["/bin/hello"], cmd=["--loud"], env=["A=1", DEFAULT_PATH],
                         working_dir="/srv", user="1000:1000", exposed_ports=["8080/tcp"])
    store = ImageStore(str(tmp_path / "store"))
    image = store.import_rootfs("hello:1", tarball, config)
    assert open(f"{image.layers[0]}/etc/motd").read() == "hello\n"
    assert store.find_image("hello:1") == image and image.config == config
    doc = json.load(open(tmp_path / "store" / "configs" / (image.id[7:] + ".json")))
    assert doc["config"]["Entrypoint"] == ["/bin/hello"] and doc["os"] == "linux"
    assert doc["rootfs"] == {"type": "layers",
                             "diff_ids": ["sha256:" + os.path.basename(image.layers[0])]}


def test_an_unknown_image_is_not_found_with_a_hint(tmp_path) -> None:
    store = ImageStore(str(tmp_path))
    with pytest.raises(ImageNotFound) as info:
        store.ensure_image("docker.io/library/redis:7")
    message = str(info.value)
    assert message.startswith("failed to pull image redis:7: not found in the local store")
    assert "busybox" in message and "nginx" in message and "minikube-py image import" in message
    assert store.find_image("registry.example/x/busybox:latest") is None
    with pytest.raises(ImageNotFound):  # only Docker Hub's busybox is built in
        store.ensure_image("registry.example/x/busybox")


@root
def test_two_threads_ensuring_the_same_image_build_it_once(tmp_path) -> None:
    store = ImageStore(str(tmp_path))
    builds: list[str] = []
    results: list[str] = []

    def ensure() -> None:
        results.append(store.ensure_image("busybox", progress=builds.append).id)

    threads = [threading.Thread(target=ensure) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(results) == 2 and results[0] == results[1]
    assert len(builds) == 1  # the second thread found the first one's image
    assert len(os.listdir(tmp_path / "layers")) == 1 and os.listdir(tmp_path / "tmp") == []


@root
def test_a_failed_build_leaves_no_work_files_and_no_image(tmp_path, monkeypatch) -> None:
    def broken(root: str, epoch: int) -> None:
        raise OSError("injected failure")

    monkeypatch.setattr(builders, "touch_h", broken)
    store = ImageStore(str(tmp_path))
    with pytest.raises(ImageError, match="failed to build image busybox:latest: injected"):
        store.ensure_image("busybox")
    assert os.listdir(tmp_path / "tmp") == [] and os.listdir(tmp_path / "layers") == []
    assert store.list_images() == []


@pytest.fixture(scope="module")
def nginx_build(tmp_path_factory):
    store_root = tmp_path_factory.mktemp("nginx-store")
    progress: list[str] = []
    started = time.monotonic()
    image = ImageStore(str(store_root)).ensure_image("nginx:stable", progress=progress.append)
    print(f"nginx build took {time.monotonic() - started:.1f} s")
    return store_root, image, progress


@root
def test_nginx_is_built_with_mmdebstrap_and_logs_to_stdout(nginx_build) -> None:
    store_root, image, progress = nginx_build
    base, top = image.layers
    assert os.access(f"{base}/usr/sbin/nginx", os.X_OK)
    welcome = open(f"{base}/var/www/html/index.nginx-debian.html").read()
    assert "<title>Welcome to nginx!</title>" in welcome
    assert "index.nginx-debian.html" in open(f"{base}/etc/nginx/sites-available/default").read()
    assert os.readlink(f"{top}/var/log/nginx/access.log") == "/dev/stdout"
    assert os.readlink(f"{top}/var/log/nginx/error.log") == "/dev/stderr"
    assert os.stat(f"{top}/var/log/nginx").st_gid == os.stat(f"{base}/var/log/nginx").st_gid
    assert image.config.cmd == ["nginx", "-g", "daemon off;"] and image.config.entrypoint == []
    assert image.config.exposed_ports == ["80/tcp"] and image.config.env == [DEFAULT_PATH]
    assert any(line.startswith("I: ") for line in progress)  # mmdebstrap's own lines
    version = subprocess.run(["chroot", base, "nginx", "-v"], capture_output=True, text=True,
                             timeout=10)
    assert version.returncode == 0 and "nginx/" in version.stderr
    assert os.listdir(store_root / "tmp") == [] and _mounts_under(str(store_root)) == []


@root
def test_a_failed_mmdebstrap_build_reports_its_output_and_cleans_up(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(builders, "NGINX_PACKAGES", ["nginx-light", "no-such-package-mkpy"])
    store = ImageStore(str(tmp_path))
    with pytest.raises(ImageError) as info:
        store.ensure_image("nginx")
    assert str(info.value).startswith("failed to build image nginx:latest: mmdebstrap exited")
    assert os.listdir(tmp_path / "tmp") == [] and store.list_images() == []
    assert _mounts_under(str(tmp_path)) == []
