"""The CRI log format, the container config and the rootfs plan — no root needed."""

from __future__ import annotations

import re

import pytest

from runtime import capabilities, crilog, rootfs
from runtime.container import ContainerConfig, ContainerError, oci_config

STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")


def test_timestamps_look_like_go_rfc3339nano_with_trailing_zeros_trimmed():
    assert crilog.rfc3339nano(1475713029_669794202) == "2016-10-06T00:17:09.669794202Z"
    assert crilog.rfc3339nano(1475713029_500000000) == "2016-10-06T00:17:09.5Z"
    assert crilog.rfc3339nano(1475713029_000000000) == "2016-10-06T00:17:09Z"


def test_a_complete_line_is_tagged_full():
    line = crilog.format_line("stdout", "F", b"hello", 1475713029_669794202)
    assert line == b"2016-10-06T00:17:09.669794202Z stdout F hello\n"


def test_split_keeps_the_unfinished_rest_for_the_next_read():
    pieces, rest = crilog.split_lines(b"one\ntwo\nthr")
    assert pieces == [("F", b"one"), ("F", b"two")]
    assert rest == b"thr"


def test_a_line_longer_than_16_kib_is_cut_into_partial_pieces():
    long_line = b"x" * (crilog.MAX_LINE * 2 + 10) + b"\n"
    pieces, rest = crilog.split_lines(long_line)
    assert [tag for tag, _ in pieces] == ["P", "P", "F"]
    assert b"".join(content for _, content in pieces) == long_line[:-1]
    assert rest == b""


def test_a_line_of_exactly_16_kib_is_one_full_line():
    pieces, _ = crilog.split_lines(b"y" * crilog.MAX_LINE + b"\n")
    assert pieces == [("F", b"y" * crilog.MAX_LINE)]


def test_end_of_stream_flushes_the_rest_as_a_full_line():
    pieces, rest = crilog.split_lines(b"no newline", final=True)
    assert pieces == [("F", b"no newline")] and rest == b""


def test_writer_interleaves_streams_and_creates_parent_directories(tmp_path):
    path = tmp_path / "pods" / "ns_pod_uid" / "ctr" / "0.log"
    writer = crilog.CriLogWriter(str(path))
    writer.write("stdout", b"hel")
    writer.write("stderr", b"oops\n")
    writer.write("stdout", b"lo\nbye")
    writer.close()
    parsed = [crilog.parse_line(line) for line in path.read_bytes().splitlines(keepends=True)]
    assert [(s, t, c) for _, s, t, c in parsed] == [
        ("stderr", "F", b"oops"), ("stdout", "F", b"hello"), ("stdout", "F", b"bye")]
    assert all(STAMP.match(stamp) for stamp, *_ in parsed)


def test_reopen_follows_a_rotated_log_file(tmp_path):
    path = tmp_path / "0.log"
    writer = crilog.CriLogWriter(str(path))
    writer.write("stdout", b"before\n")
    path.rename(tmp_path / "0.log.1")  # what the kubelet's log rotation does
    writer.reopen()
    writer.write("stdout", b"after\n")
    writer.close()
    assert crilog.parse_line(path.read_bytes())[3] == b"after"
    assert crilog.parse_line((tmp_path / "0.log.1").read_bytes())[3] == b"before"


def test_parse_line_keeps_spaces_and_empty_content():
    assert crilog.parse_line(b"2016-10-06T00:17:09Z stdout F a b  c\n")[3] == b"a b  c"
    assert crilog.parse_line(b"2016-10-06T00:17:09Z stdout F \n")[3] == b""
    with pytest.raises(ValueError):
        crilog.parse_line(b"garbage")


def test_default_capabilities_are_dockers_set():
    assert capabilities.capability_mask(capabilities.DEFAULT_CAPABILITIES) == 0xA80425FB
    assert capabilities.normalize("net_admin") == "CAP_NET_ADMIN"
    with pytest.raises(ValueError):
        capabilities.normalize("CAP_FLY")


def test_capsh_line_drops_sys_admin_but_not_chown():
    line = capabilities.capsh_command(capabilities.DEFAULT_CAPABILITIES)
    assert line.startswith("capsh --drop=") and "cap_sys_admin" in line
    assert "cap_chown" not in line


def _config(**overrides) -> ContainerConfig:
    values = dict(id="c1", name="web", bundle_dir="/b", layers=["/l/base", "/l/top"],
                  args=["nginx"], env=["PATH=/bin"],
                  namespaces={"net": "/run/netns/x", "uts": "/s/uts"},
                  files={"/etc/hosts": "/p/hosts"}, log_path="/var/log/pods/x/0.log")
    values.update(overrides)
    return ContainerConfig(**values)  # type: ignore[arg-type]


def test_config_json_is_a_small_oci_subset():
    config = oci_config(_config())
    assert config["process"]["args"] == ["nginx"]
    assert config["process"]["capabilities"]["bounding"] == capabilities.DEFAULT_CAPABILITIES
    assert {"type": "network", "path": "/run/netns/x"} in config["linux"]["namespaces"]
    assert {"type": "pid"} in config["linux"]["namespaces"]
    assert config["mounts"][0]["destination"] == "/etc/hosts"
    assert config["logPath"] == "/var/log/pods/x/0.log"


def test_joining_a_pid_namespace_is_refused():
    with pytest.raises(ContainerError, match="cannot join a 'pid' namespace"):
        oci_config(_config(namespaces={"pid": "/proc/1/ns/pid"}))


def test_rootfs_plan_lists_the_top_layer_first_and_pivots_last():
    plan = rootfs.rootfs_plan("/b", ["/l/base", "/l/top"], {"/etc/hosts": "/p/hosts"})
    shells = [step.shell for step in plan]
    assert shells[0] == "mount --make-rprivate /"
    assert shells[1] == ("mount -t overlay overlay -o lowerdir=/l/top:/l/base,"
                         "upperdir=/b/upper,workdir=/b/work /b/rootfs")
    assert "mount --bind -o ro /p/hosts /b/rootfs/etc/hosts" in shells
    assert any(s.startswith("mount -t devpts -o newinstance,ptmxmode=0666") for s in shells)
    assert shells[-1] == "cd /b/rootfs && pivot_root . . && umount -l ."


def test_secure_join_resolves_symlinks_inside_the_root(tmp_path):
    root = tmp_path / "rootfs"
    (root / "run").mkdir(parents=True)
    (root / "var").mkdir()
    (root / "var" / "run").symlink_to("/run")          # Debian's /var/run
    (root / "etc").mkdir()
    (root / "etc" / "escape").symlink_to("../../../../..")
    (root / "loop").symlink_to("loop")
    r = str(root)
    assert rootfs.secure_join(r, "/var/run/secrets/x") == f"{r}/run/secrets/x"
    assert rootfs.secure_join(r, "/etc/escape/etc/passwd") == f"{r}/etc/passwd"
    assert rootfs.secure_join(r, "/../../etc/hosts") == f"{r}/etc/hosts"
    with pytest.raises(OSError):
        rootfs.secure_join(r, "/loop/x")


@pytest.mark.parametrize("given, name", [("SIGQUIT", "SIGQUIT"), ("quit", "SIGQUIT"),
                                         ("3", "SIGQUIT"), ("SIGRTMIN+3", "SIGRTMIN+3"),
                                         ("", "SIGTERM")])
def test_stop_signals_are_read_as_docker_reads_them(given, name):
    from runtime.container import stop_signal_name

    assert stop_signal_name(given) == name
    with pytest.raises(ValueError, match="unknown stop signal"):
        stop_signal_name("SIGNOPE")
