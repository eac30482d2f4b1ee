"""V2Driver against a plain directory laid out like a cgroup v2 filesystem (no root needed).

In a real cgroupfs, ``mkdir`` makes the kernel add the interface files and ``rmdir`` takes
them away again. :class:`FakeTreeDriver` does the same by hand in its ``_mkdir``/``_rmdir``;
everything else is the real driver reading and writing files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import explain
from runtime.cgroups import (
    CgroupError,
    Resources,
    V1Driver,
    V2Driver,
    detect_driver,
    milli_cpu_to_quota,
    milli_cpu_to_shares,
    shares_to_weight,
)

ROOT_CONTROLLERS = "cpuset cpu io memory hugetlb pids rdma misc"
NEW_CGROUP_FILES = {
    "cgroup.subtree_control": "",
    "cgroup.procs": "",
    "cpu.weight": "100",
    "cpu.max": "max 100000",
    "memory.max": "max",
    "pids.max": "max",
    "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0",
    "memory.current": "0",
    "memory.stat": "anon 0\nfile 0\ninactive_file 0",
    "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0",
    "pids.current": "0",
}


class FakeTreeDriver(V2Driver):
    """A V2Driver whose mkdir/rmdir also add/remove the files the kernel would."""

    def _mkdir(self, directory: str) -> None:
        super()._mkdir(directory)
        parent = Path(directory).parent
        enabled = (parent / "cgroup.subtree_control").read_text().split()
        (Path(directory) / "cgroup.controllers").write_text(
            " ".join(word.lstrip("+") for word in enabled)
        )
        for name, content in NEW_CGROUP_FILES.items():
            (Path(directory) / name).write_text(content)

    def _rmdir(self, directory: str) -> None:
        procs = Path(directory) / "cgroup.procs"
        if procs.exists() and not procs.read_text().strip():  # busy cgroups keep their files
            for entry in Path(directory).iterdir():
                if entry.is_file():
                    entry.unlink()
        super()._rmdir(directory)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "cgroup"
    root.mkdir()
    (root / "cgroup.controllers").write_text(ROOT_CONTROLLERS)
    (root / "cgroup.subtree_control").write_text("")
    (root / "cgroup.procs").write_text("1\n")
    return root


@pytest.fixture
def driver(root: Path) -> FakeTreeDriver:
    return FakeTreeDriver(str(root))


LEAF = "minikube-py/pod1234/nginx"


def test_detect_driver_picks_v2_when_the_root_has_cgroup_controllers(root: Path) -> None:
    assert isinstance(detect_driver(str(root)), V2Driver)


def test_detect_driver_picks_v1_for_a_hybrid_tree(tmp_path: Path) -> None:
    (tmp_path / "memory").mkdir()
    (tmp_path / "unified").mkdir()
    (tmp_path / "unified" / "cgroup.controllers").write_text("")
    assert isinstance(detect_driver(str(tmp_path)), V1Driver)


def test_an_explicit_version_wins_over_detection(root: Path) -> None:
    assert isinstance(detect_driver(str(root), version="v1"), V1Driver)
    with pytest.raises(CgroupError, match="cgroup driver 'v3'"):
        detect_driver(str(root), version="v3")


def test_ensure_creates_every_level_and_enables_controllers_in_the_parents(
    driver: FakeTreeDriver, root: Path
) -> None:
    driver.ensure(LEAF)
    assert (root / LEAF).is_dir()
    assert (root / "cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    assert (root / "minikube-py/cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    assert (root / "minikube-py/pod1234/cgroup.subtree_control").read_text() == "+cpu +memory +pids"
    assert (root / LEAF / "cgroup.subtree_control").read_text() == ""
    assert (root / LEAF / "cgroup.controllers").read_text() == "cpu memory pids"


def test_ensure_writes_the_limits_in_v2_units(driver: FakeTreeDriver, root: Path) -> None:
    resources = Resources(
        cpu_request_millis=250, cpu_limit_millis=200, memory_limit_bytes=20 << 20, pids_limit=10
    )
    driver.ensure(LEAF, resources)
    assert (root / LEAF / "cpu.weight").read_text() == "10"  # 256 shares -> weight 10
    assert (root / LEAF / "cpu.max").read_text() == "20000 100000"
    assert (root / LEAF / "memory.max").read_text() == str(20 << 20)
    assert (root / LEAF / "pids.max").read_text() == "10"
    assert driver.limits(LEAF) == {
        "cpu.weight": "10",
        "cpu.max": "20000 100000",
        "memory.max": "20971520",
        "pids.max": "10",
    }


def test_ensure_without_resources_leaves_the_kernel_defaults(
    driver: FakeTreeDriver, root: Path
) -> None:
    driver.ensure(LEAF, Resources(memory_limit_bytes=1 << 30))
    assert (root / LEAF / "cpu.max").read_text() == "max 100000"
    assert (root / LEAF / "pids.max").read_text() == "max"


def test_ensure_records_the_shell_commands_and_a_second_run_changes_nothing(
    driver: FakeTreeDriver, root: Path
) -> None:
    with explain.capture() as lines:
        driver.ensure(LEAF, Resources(pids_limit=10))
    assert f"mkdir {root}/minikube-py" in lines
    assert f"echo +cpu +memory +pids > {root}/cgroup.subtree_control" in lines
    assert f"echo 10 > {root}/{LEAF}/pids.max" in lines
    with explain.capture() as again:
        driver.ensure(LEAF)
    assert again == []


def test_stats_parse_the_counters(driver: FakeTreeDriver, root: Path) -> None:
    driver.ensure(LEAF)
    leaf = root / LEAF
    (leaf / "cpu.stat").write_text("usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n")
    (leaf / "memory.current").write_text("10485760\n")
    (leaf / "memory.stat").write_text("anon 8388608\nfile 2097152\ninactive_file 2097152\n")
    (leaf / "memory.events").write_text("low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\n")
    (leaf / "pids.current").write_text("3\n")
    stats = driver.stats(LEAF)
    assert stats.cpu_usage_ns == 1_500_000
    assert stats.memory_usage_bytes == 10485760
    assert stats.memory_working_set_bytes == 10485760 - 2097152
    assert stats.oom_kills == 2
    assert stats.pids_current == 3


def test_stats_of_a_missing_cgroup_name_it(driver: FakeTreeDriver, root: Path) -> None:
    with pytest.raises(CgroupError, match=f"failed to read cgroup stats {root}/minikube-py/x"):
        driver.stats("minikube-py/x")


def test_add_process_writes_the_pid_to_cgroup_procs(driver: FakeTreeDriver, root: Path) -> None:
    driver.ensure(LEAF)
    driver.add_process(LEAF, 4242)
    assert (root / LEAF / "cgroup.procs").read_text() == "4242"
    assert driver.pids(LEAF) == [4242]
    assert driver.pids("minikube-py/none") == []


def test_write_errors_name_the_cgroup_file(driver: FakeTreeDriver, root: Path) -> None:
    with pytest.raises(CgroupError, match=f"failed to write cgroup file {root}/nope/cgroup.procs"):
        driver.add_process("nope", 1)


def test_kill_all_uses_cgroup_kill_when_the_kernel_has_it(
    driver: FakeTreeDriver, root: Path
) -> None:
    driver.ensure(LEAF)
    (root / LEAF / "cgroup.kill").write_text("")
    driver.kill_all(LEAF)
    assert (root / LEAF / "cgroup.kill").read_text() == "1"
    driver.kill_all("minikube-py/not-there")  # nothing to do


def test_delete_removes_children_first_and_may_run_twice(
    driver: FakeTreeDriver, root: Path
) -> None:
    driver.ensure(LEAF)
    driver.ensure("minikube-py/pod1234/sidecar")
    driver.delete("minikube-py/pod1234")
    assert not (root / "minikube-py/pod1234").exists()
    assert (root / "minikube-py").is_dir()  # delete never climbs up
    driver.delete("minikube-py/pod1234")
    assert not driver.exists("minikube-py/pod1234")


def test_delete_of_a_cgroup_with_processes_fails_and_names_it(
    driver: FakeTreeDriver, root: Path
) -> None:
    driver.ensure(LEAF)
    (root / LEAF / "cgroup.procs").write_text("4242\n")
    with pytest.raises(CgroupError, match=f"failed to delete cgroup {root}/{LEAF}"):
        driver.delete(LEAF)


@pytest.mark.parametrize("bad", ["", "/minikube-py", "minikube-py/../..", "a//b", "."])
def test_paths_that_could_reach_outside_our_tree_are_refused(
    driver: FakeTreeDriver, bad: str
) -> None:
    for action in (driver.ensure, driver.kill_all, driver.delete):
        with pytest.raises(CgroupError, match="cgroup path"):
            action(bad)


def test_cpu_conversions_follow_upstream() -> None:
    assert milli_cpu_to_shares(0) == 2
    assert milli_cpu_to_shares(1) == 2
    assert milli_cpu_to_shares(1000) == 1024
    assert milli_cpu_to_shares(10**9) == 262144
    assert milli_cpu_to_quota(200) == 20000
    assert milli_cpu_to_quota(5) == 1000
    assert shares_to_weight(2) == 1
    assert shares_to_weight(1024) == 39
    assert shares_to_weight(262144) == 10000

