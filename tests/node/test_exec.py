"""``kubectl exec`` on real kernel objects: a new process inside a running container."""

from __future__ import annotations

import os
import subprocess

import pytest

from runtime.container import ContainerError, container_state, stop_container
from runtime.exec import exec_in_container

pytestmark = pytest.mark.root
pytest_plugins = ["tests.node.containers"]  # busybox_rootfs, pod_namespaces, containers


@pytest.fixture
def running(containers, tmp_path) -> str:
    """A running ``sleep 100`` container with /etc/hostname bind-mounted; its bundle."""
    hostname = tmp_path / "hostname"
    hostname.write_text("web-0\n")
    return containers.start(["sleep", "100"], files={"/etc/hostname": str(hostname)},
                            env=["PATH=/bin", "GREETING=hi"]).bundle_dir


def run(bundle: str, argv: list[str], **kwargs) -> tuple[int, str, str]:
    proc = exec_in_container(bundle, argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             **kwargs)
    out, err = proc.communicate(timeout=10)
    return proc.returncode, out.decode(), err.decode()


def read_all(fd: int) -> bytes:
    data = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the slave side is closed, the command is done
            return data
        if not chunk:
            return data
        data += chunk


def test_exec_runs_cat_etc_hostname_inside_and_returns_output_and_code(running):
    assert run(running, ["cat", "/etc/hostname"]) == (0, "web-0\n", "")
    assert run(running, ["sh", "-c", "exit 7"])[0] == 7


def test_exec_sees_the_containers_processes_with_the_app_as_pid_1(running):
    code, out, _ = run(running, ["ps", "-o", "pid,comm"])
    assert code == 0
    assert out.splitlines()[:2] == ["PID   COMMAND", "    1 sleep"]


def test_exec_shares_the_containers_namespaces_and_root(running):
    pid = container_state(running).pid
    script = "for n in mnt pid net ipc uts; do readlink /proc/self/ns/$n; done; ls /"
    code, out, _ = run(running, ["sh", "-c", script])
    lines = out.splitlines()
    expected = [os.readlink(f"/proc/{pid}/ns/{n}") for n in ("mnt", "pid", "net", "ipc", "uts")]
    assert code == 0 and lines[:5] == expected
    assert "proc" in lines[5:] and "home" not in lines[5:]


def test_exec_uses_the_container_env_and_the_same_capability_drop(running):
    code, out, _ = run(running, ["sh", "-c", "echo $GREETING; grep -e CapBnd -e NoNewPrivs "
                                             "/proc/self/status"])
    assert (code, out) == (0, "hi\nCapBnd:\t00000000a80425fb\nNoNewPrivs:\t1\n")
    assert run(running, ["sh", "-c", "echo $GREETING"], env=["PATH=/bin", "GREETING=yo"])[1] \
        == "yo\n"


def test_exec_of_a_missing_binary_exits_127(running):
    code, _, err = run(running, ["nope"])
    assert code == 127 and 'exec: "nope": executable file not found in $PATH' in err


def test_exec_with_a_tty_gets_the_containers_first_pty(running):
    with exec_in_container(running, ["tty"], tty=True) as proc:
        assert proc.master_fd is not None
        output = read_all(proc.master_fd)
        assert proc.wait(timeout=10) == 0
    assert output == b"/dev/pts/0\r\n"


def test_a_tty_exec_reads_what_is_typed(running):
    with exec_in_container(running, ["sh", "-c", "read line; echo got $line"],
                           tty=True) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(b"abc\n")
        assert b"got abc" in read_all(proc.stdout.fileno())
        assert proc.wait(timeout=10) == 0


def test_exec_into_a_stopped_container_is_refused(running):
    stop_container(running, 0)
    with pytest.raises(ContainerError, match="it is exited"):
        exec_in_container(running, ["true"])


@pytest.fixture
def pids_cgroup(test_names, containers):
    parent = "/sys/fs/cgroup/pids"
    if not os.path.isdir(parent):
        pytest.skip("needs the cgroup v1 pids controller")
    path = os.path.join(parent, test_names.cgroup_parent)
    os.mkdir(path)
    try:
        yield path
    finally:
        containers.delete_all()  # empty the cgroup first
        os.rmdir(path)


def test_exec_joins_the_cgroups_of_the_container_init(running, pids_cgroup, test_names):
    with open(os.path.join(pids_cgroup, "cgroup.procs"), "w") as f:
        f.write(str(container_state(running).pid))
    code, out, _ = run(running, ["grep", "pids", "/proc/self/cgroup"])
    assert code == 0 and out.strip().endswith(f":pids:/{test_names.cgroup_parent}")
