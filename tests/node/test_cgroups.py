"""The cgroup drivers on the machine's real cgroups: limits the kernel really enforces.

Each test works under its own ``test_names.cgroup_parent`` and kills and removes everything
in teardown. The v1 tests run on hybrid/v1 machines, the v2 tests on unified ones.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest

import explain
from runtime.cgroups import CgroupDriver, Resources, cgroup_version, detect_driver

pytestmark = pytest.mark.root

ROOT = "/sys/fs/cgroup"
WAIT_FOR_GO = "import sys\nsys.stdin.readline()\n"  # the create/start split, in miniature

Spawn = Callable[[str, str], subprocess.Popen]


@pytest.fixture(params=["v1", "v2"])
def driver(request: pytest.FixtureRequest) -> CgroupDriver:
    if not os.path.isdir(ROOT) or cgroup_version(ROOT) != request.param:
        pytest.skip(f"{ROOT} is not cgroup {request.param} on this machine")
    return detect_driver(ROOT, version=request.param)


@pytest.fixture
def parent(driver: CgroupDriver, test_names) -> Iterator[str]:
    yield test_names.cgroup_parent
    driver.kill_all(test_names.cgroup_parent)
    driver.delete(test_names.cgroup_parent)


@pytest.fixture
def spawn(driver: CgroupDriver) -> Iterator[Spawn]:
    """Start ``python -c CODE`` inside a cgroup: it waits until it is placed, then runs."""
    started: list[subprocess.Popen] = []

    def start(path: str, code: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-c", WAIT_FOR_GO + code],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        started.append(proc)
        driver.add_process(path, proc.pid)
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        proc.stdin.flush()
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()  # by PID: only processes this test started
        proc.wait(timeout=10)


def test_a_process_over_its_memory_limit_is_oom_killed(
    driver: CgroupDriver, parent: str, spawn: Spawn
) -> None:
    path = f"{parent}/pod1/hog"
    driver.ensure(path, Resources(memory_limit_bytes=20 << 20))
    proc = spawn(path, "data = b'x' * (100 << 20)\nprint('survived', flush=True)\n")
    assert proc.wait(timeout=30) == -9
    assert proc.stdout is not None and b"survived" not in proc.stdout.read()
    assert driver.stats(path).oom_kills >= 1


FORK_LOOP = """
import os, time
started = failed = 0
for _ in range(50):
    try:
        pid = os.fork()
    except BlockingIOError:
        failed += 1
        continue
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    started += 1
print(started, failed, flush=True)
time.sleep(60)
"""


def test_a_pids_limit_stops_a_fork_loop_and_kill_all_cleans_up(
    driver: CgroupDriver, parent: str, spawn: Spawn
) -> None:
    path = f"{parent}/pod1/forker"
    driver.ensure(path, Resources(pids_limit=10))
    proc = spawn(path, FORK_LOOP)
    assert proc.stdout is not None
    started, failed = map(int, proc.stdout.readline().split())
    assert started == 9 and failed == 41  # 10 tasks: the loop itself and 9 children
    assert driver.stats(path).pids_current == 10
    assert subprocess.run(["true"], timeout=10).returncode == 0  # the node can still fork

    driver.kill_all(path)
    assert driver.pids(path) == []
    assert proc.wait(timeout=10) == -9
    # pids.current still counts zombies until their parents (us, init) reap them.
    deadline = time.monotonic() + 5
    while driver.stats(path).pids_current and time.monotonic() < deadline:
        time.sleep(0.05)
    assert driver.stats(path).pids_current == 0


def test_a_busy_loop_under_a_200m_limit_gets_about_a_fifth_of_a_cpu(
    driver: CgroupDriver, parent: str, spawn: Spawn
) -> None:
    path = f"{parent}/pod1/spinner"
    driver.ensure(path, Resources(cpu_request_millis=200, cpu_limit_millis=200))
    spawn(path, "while True:\n    pass\n")
    time.sleep(0.3)
    used_before, t_before = driver.stats(path).cpu_usage_ns, time.monotonic()
    time.sleep(1.5)
    used_after, t_after = driver.stats(path).cpu_usage_ns, time.monotonic()
    share = (used_after - used_before) / 1e9 / (t_after - t_before)
    assert 0.10 < share < 0.30, f"used {share:.0%} of a CPU"


def test_limits_land_in_the_kernel_files_and_the_process_in_the_cgroup(
    driver: CgroupDriver, parent: str, spawn: Spawn
) -> None:
    path = f"{parent}/pod1/web"
    driver.ensure(
        path,
        Resources(
            cpu_request_millis=250, cpu_limit_millis=500, memory_limit_bytes=64 << 20, pids_limit=20
        ),
    )
    expected = {
        "v1": {
            "cpu.shares": "256",
            "cpu.cfs_period_us": "100000",
            "cpu.cfs_quota_us": "50000",
            "memory.limit_in_bytes": str(64 << 20),
            "pids.max": "20",
        },
        "v2": {
            "cpu.weight": "10",
            "cpu.max": "50000 100000",
            "memory.max": str(64 << 20),
            "pids.max": "20",
        },
    }
    assert driver.limits(path) == expected[driver.version]
    proc = spawn(path, "import time\ntime.sleep(60)\n")
    assert driver.pids(path) == [proc.pid]
    with open(f"/proc/{proc.pid}/cgroup") as f:
        assert f"/{path}\n" in f.read()


def test_delete_removes_every_level_and_may_run_twice(
    driver: CgroupDriver, parent: str, spawn: Spawn
) -> None:
    driver.ensure(f"{parent}/pod1/a", Resources(memory_limit_bytes=64 << 20))
    driver.ensure(f"{parent}/pod1/b")
    proc = spawn(f"{parent}/pod1/b", "import time\ntime.sleep(60)\n")

    driver.kill_all(parent)
    assert proc.wait(timeout=10) == -9
    driver.delete(parent)
    driver.delete(parent)
    assert not driver.exists(parent)
    assert not any(os.path.exists(d) for d in driver.paths(parent).values())


HYBRID_UNIFIED = "/sys/fs/cgroup/unified"


def test_the_v2_driver_kills_and_deletes_on_a_real_cgroup2_tree(test_names) -> None:
    """Hybrid machines mount a controller-less cgroup2 at /sys/fs/cgroup/unified: enough to
    check cgroup.procs, cgroup.kill and rmdir against the real kernel (no limits there)."""
    if cgroup_version(ROOT) != "v1" or cgroup_version(HYBRID_UNIFIED) != "v2":
        pytest.skip(f"no hybrid cgroup2 tree at {HYBRID_UNIFIED}")
    driver = detect_driver(HYBRID_UNIFIED)
    parent = test_names.cgroup_parent
    proc = subprocess.Popen(["sleep", "60"])
    try:
        driver.ensure(f"{parent}/pod1/ctr")
        driver.add_process(f"{parent}/pod1/ctr", proc.pid)
        assert driver.pids(f"{parent}/pod1/ctr") == [proc.pid]
        with explain.capture() as lines:
            driver.kill_all(parent)
        assert f"echo 1 > {HYBRID_UNIFIED}/{parent}/cgroup.kill" in lines
        assert proc.wait(timeout=10) == -9
        driver.delete(parent)
        driver.delete(parent)
        assert not driver.exists(parent)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        driver.kill_all(parent)
        driver.delete(parent)
