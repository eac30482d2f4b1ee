"""Containers on real kernel objects: create/start split, rootfs, capabilities, logs, stop."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time

import pytest

import explain
from runtime.container import (
    ContainerError,
    ContainerNotFound,
    container_state,
    create_container,
    delete_container,
    exit_fd,
    start_container,
    stop_container,
)
from tests import leaks

pytestmark = pytest.mark.root
pytest_plugins = ["tests.node.containers"]  # busybox_rootfs, pod_namespaces, containers


def stdout_of(lines) -> list[bytes]:
    return [content for stream, _tag, content in lines if stream == "stdout"]


def process_alive(pid: int | None) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_echo_hello_writes_a_cri_log_line_and_exits_zero(containers):
    state, lines = containers.run(["echo", "hello"])
    assert state.status == "exited" and state.exit_code == 0 and state.signal is None
    assert lines == [("stdout", "F", b"hello")]
    assert state.finished_at >= state.started_at >= state.created_at


def test_stderr_lines_are_tagged_stderr(containers):
    _, lines = containers.run(["sh", "-c", "echo out; echo err >&2"])
    assert sorted(lines) == [("stderr", "F", b"err"), ("stdout", "F", b"out")]


def test_exit_code_three_is_reported(containers):
    state, _ = containers.run(["sh", "-c", "exit 3"])
    assert (state.status, state.exit_code) == ("exited", 3)


def test_a_missing_binary_exits_127_with_a_runc_style_message(containers):
    state, lines = containers.run(["no-such-program"])
    message = 'exec: "no-such-program": executable file not found in $PATH'
    assert (state.exit_code, state.reason) == (127, message)
    assert ("stderr", "F", message.encode()) in lines


def proc_state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def test_create_leaves_the_init_blocked_until_start(containers):
    cfg = containers.config(["sh", "-c", "echo started; sleep 100"])
    state = create_container(cfg)
    assert state.status == "created" and process_alive(state.pid)
    deadline = time.monotonic() + 5  # "created" is sent just before it blocks on the fifo
    while proc_state(state.pid) != "S" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc_state(state.pid) == "S"  # asleep, on the fifo read
    with open(f"/proc/{state.pid}/cmdline", "rb") as f:
        assert b"runtime.shim" in f.read()  # still the forked shim, waiting on the fifo
    time.sleep(0.2)
    assert containers.log_lines(cfg.log_path) == []  # it has not run the command
    assert start_container(cfg.bundle_dir).status == "running"
    containers.wait_for_log(cfg.log_path, b"started")
    with open(f"/proc/{state.pid}/cmdline", "rb") as f:
        assert b"sleep" in f.read()
    with pytest.raises(ContainerError, match="it is running"):
        start_container(cfg.bundle_dir)


def test_ps_inside_shows_only_the_containers_processes(containers):
    _, lines = containers.run(["ps", "-o", "pid,comm"])
    assert stdout_of(lines) == [b"PID   COMMAND", b"    1 ps"]


def test_the_root_is_the_image_not_the_host(containers, tmp_path):
    secret = tmp_path / "host-secret"
    secret.write_text("host only\n")
    state, lines = containers.run(["sh", "-c", f"ls /; cat {secret}"])
    assert stdout_of(lines) == [b"bin", b"dev", b"etc", b"mnt", b"proc", b"root", b"sys",
                                b"tmp"]
    assert state.exit_code == 1 and b"host only" not in b"".join(c for *_, c in lines)


def test_mounting_tmpfs_fails_without_cap_sys_admin(containers):
    state, lines = containers.run(["mount", "-t", "tmpfs", "x", "/mnt"])
    assert state.exit_code != 0
    assert any(b"permission denied" in c for s, _t, c in lines if s == "stderr")


def test_the_bounding_set_is_the_default_and_no_new_privs_is_set(containers):
    _, lines = containers.run(["grep", "-e", "CapBnd", "-e", "NoNewPrivs", "/proc/1/status"])
    assert stdout_of(lines) == [b"CapBnd:\t00000000a80425fb", b"NoNewPrivs:\t1"]


def test_the_container_joins_the_pods_uts_net_and_ipc_namespaces(containers, test_names):
    _, lines = containers.run(["sh", "-c", "hostname; readlink /proc/self/ns/net; "
                                           "readlink /proc/self/ns/ipc; "
                                           "readlink /proc/self/ns/uts"])
    ns = containers.namespaces
    expected = [f"{test_names.prefix}-pod".encode()] + [
        f"{kind}:[{os.stat(ns[key]).st_ino}]".encode()
        for kind, key in (("net", "net"), ("ipc", "ipc"), ("uts", "uts"))]
    assert stdout_of(lines) == expected


def test_an_image_symlink_cannot_lead_a_mount_onto_the_host(containers, tmp_path, test_names):
    """Debian images have ``/var/run -> /run``: a volume mounted at /var/run/x must land in
    the container's own /run, never in the host's."""
    top = tmp_path / "top-layer"
    (top / "var").mkdir(parents=True)
    (top / "var" / "run").symlink_to("/run")
    volume = tmp_path / "volume"
    volume.mkdir()
    (volume / "note").write_text("from the volume\n")
    probe = f"{test_names.prefix}-probe"
    state, lines = containers.run(
        ["cat", f"/run/{probe}/note"], layers=[str(top), containers.layer],
        volumes=[(f"/var/run/{probe}", str(volume), True)])
    assert stdout_of(lines) == [b"from the volume"] and state.exit_code == 0
    assert not os.path.exists(f"/run/{probe}")  # nothing appeared on the host


def test_bind_mounted_files_are_visible_and_read_only(containers, tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("10.250.7.9 web\n")
    state, lines = containers.run(["sh", "-c", "cat /etc/hosts; echo x > /etc/hosts"],
                                  files={"/etc/hosts": str(hosts)})
    assert stdout_of(lines) == [b"10.250.7.9 web"]
    assert state.exit_code != 0 and hosts.read_text() == "10.250.7.9 web\n"


def test_stop_lets_a_term_handler_exit_cleanly_within_grace(containers):
    cfg = containers.start(["sh", "-c", "trap 'echo bye; exit 0' TERM; echo ready; "
                                        "while true; do sleep 0.1; done"])
    containers.wait_for_log(cfg.log_path, b"ready")
    began = time.monotonic()
    state = stop_container(cfg.bundle_dir, 10)
    assert (state.status, state.exit_code, state.signal) == ("exited", 0, None)
    assert time.monotonic() - began < 5
    assert ("stdout", "F", b"bye") in containers.log_lines(cfg.log_path)


def test_stop_sends_the_images_stop_signal_first(containers):
    cfg = containers.start(["sh", "-c", "trap 'echo got QUIT; exit 0' QUIT; echo ready; "
                                        "while true; do sleep 0.1; done"], stop_signal="SIGQUIT")
    containers.wait_for_log(cfg.log_path, b"ready")
    state = stop_container(cfg.bundle_dir, 10)
    assert (state.status, state.exit_code) == ("exited", 0)
    assert ("stdout", "F", b"got QUIT") in containers.log_lines(cfg.log_path)
    with pytest.raises(ContainerError, match="unknown stop signal 'SIGNOPE'"):
        containers.start(["true"], stop_signal="SIGNOPE")


def test_stop_kills_a_program_without_a_handler_after_the_grace_period(containers):
    cfg = containers.start(["sleep", "100"])
    began = time.monotonic()
    state = stop_container(cfg.bundle_dir, 0.5)
    elapsed = time.monotonic() - began
    assert (state.status, state.signal, state.exit_code) == ("exited", 9, 137)
    assert 0.5 <= elapsed < 5


def test_exit_fd_becomes_readable_when_the_container_exits(containers):
    cfg = containers.start(["sh", "-c", "sleep 0.3; exit 5"])
    fd = exit_fd(container_state(cfg.bundle_dir))
    try:
        assert not select.select([fd], [], [], 0)[0]
        assert select.select([fd], [], [], 10)[0]
    finally:
        os.close(fd)
    assert container_state(cfg.bundle_dir).exit_code == 5


def test_a_killed_shim_is_not_reported_running(containers):
    cfg = containers.start(["sleep", "100"])
    state = container_state(cfg.bundle_dir)
    assert state.shim_pid is not None
    os.kill(state.shim_pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while process_alive(state.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    after = container_state(cfg.bundle_dir)
    assert after.status == "exited" and after.exit_code == 255
    assert "without recording an exit status" in after.reason


def test_delete_leaves_no_process_mount_or_bundle(containers):
    before = leaks.snapshot()
    cfg = containers.start(["sleep", "100"])
    state = container_state(cfg.bundle_dir)
    with open(f"/proc/{state.pid}/mountinfo") as f:
        assert f"{cfg.bundle_dir}/rootfs" not in f.read()  # pivoted: the path is "/" inside
    delete_container(cfg.bundle_dir)
    delete_container(cfg.bundle_dir)  # twice is fine
    assert not os.path.exists(cfg.bundle_dir)
    assert not process_alive(state.pid) and not process_alive(state.shim_pid)
    assert leaks.snapshot() == before
    with open("/proc/self/mountinfo") as f:
        assert cfg.bundle_dir not in f.read()
    with pytest.raises(ContainerNotFound):
        container_state(cfg.bundle_dir)


def test_a_failed_create_raises_the_shims_error_and_leaves_nothing(containers, tmp_path):
    before = leaks.snapshot()
    cfg = containers.config(["true"], layers=[str(tmp_path / "no-such-layer")])
    with pytest.raises(ContainerError, match="mount -t overlay.*No such file or directory"):
        create_container(cfg)
    assert not os.path.exists(cfg.bundle_dir)
    assert leaks.snapshot() == before


def test_every_kernel_action_is_recorded_and_kept_in_commands_sh(containers):
    cfg = containers.config(["true"])
    with explain.capture() as lines:
        create_container(cfg)
        start_container(cfg.bundle_dir)
    net = containers.namespaces["net"]
    assert lines[0].startswith("nsenter --ipc=") and f"--net={net}" in lines[0]
    assert "unshare --mount --pid --fork" in lines
    assert any(line.startswith("mount -t overlay overlay -o lowerdir=") for line in lines)
    assert f"cd {cfg.bundle_dir}/rootfs && pivot_root . . && umount -l ." in lines
    assert any(line.startswith("capsh --drop=") for line in lines)
    with open(os.path.join(cfg.bundle_dir, "commands.sh")) as f:
        assert f.read().splitlines()[2:] == lines


def test_the_container_outlives_the_process_that_created_it(containers):
    cfg = containers.config(["sleep", "100"])
    script = ("import sys; from runtime.container import *; "
              f"c = ContainerConfig(**{cfg.__dict__!r}); create_container(c); "
              "start_container(c.bundle_dir)")
    subprocess.run([sys.executable, "-c", script], check=True, cwd=containers.project_root)
    state = container_state(cfg.bundle_dir)  # a "restarted kubelet" re-reads the bundle
    assert state.status == "running"
    with open(f"/proc/{state.shim_pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    assert int(fields[3]) == state.shim_pid  # session id: the shim leads its own session
    assert stop_container(cfg.bundle_dir, 0).signal == 9


def test_an_unwritable_log_path_fails_the_create(containers, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    cfg = containers.config(["true"], log_path=str(blocker / "0.log"))
    with pytest.raises(ContainerError, match="open log"):
        create_container(cfg)
    assert not os.path.exists(cfg.bundle_dir)
