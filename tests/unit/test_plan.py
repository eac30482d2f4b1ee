"""compute_pod_actions and the pod status: the kubelet's decisions, without root."""

from __future__ import annotations

import time
from typing import Any

import pytest

from minikube_py.kubelet.backoff import backoff_delay, next_step
from minikube_py.kubelet.plan import (
    ObservedContainer,
    ObservedPod,
    Waiting,
    compute_pod_actions,
    container_hash,
    pod_finished,
)
from minikube_py.kubelet.status import display_status, pod_phase, pod_status

NOW = 1000.0


def make_pod(policy: str = "Always", inits: int = 0, containers: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"name": "web", "namespace": "default", "uid": "u1"},
        "spec": {
            "restartPolicy": policy,
            "initContainers": [{"name": f"init{i}", "image": "busybox"} for i in range(inits)],
            "containers": [{"name": f"c{i}", "image": "busybox"} for i in range(containers)],
        },
    }


def inst(name: str, status: str, attempt: int = 0, exit_code: int | None = None,
         finished: float | None = None, step: int = 0, spec: dict | None = None
         ) -> ObservedContainer:
    return ObservedContainer(
        name=name, attempt=attempt, bundle_dir=f"/b/{name}/{attempt}", status=status,
        exit_code=exit_code, finished_at=finished, started_at=(finished or NOW) - 1,
        backoff_step=step,
        spec_hash=container_hash(spec) if spec else "",
    )


def observed(*instances: ObservedContainer, sandbox: bool = True) -> ObservedPod:
    pod = ObservedPod(sandbox_ready=sandbox, ip="10.250.0.2" if sandbox else None)
    for i in instances:
        pod.containers.setdefault(i.name, []).append(i)
    for v in pod.containers.values():
        v.sort(key=lambda c: c.attempt, reverse=True)
    return pod


def test_a_new_pod_gets_a_sandbox_and_all_its_containers():
    actions = compute_pod_actions(make_pod(containers=2), ObservedPod(), NOW)
    assert actions.create_sandbox and not actions.kill_pod
    assert actions.containers_to_start == ["c0", "c1"]


def test_a_new_pod_with_init_containers_starts_only_the_first_init_container():
    actions = compute_pod_actions(make_pod(inits=2), ObservedPod(), NOW)
    assert actions.create_sandbox
    assert actions.init_container_to_start == "init0"
    assert actions.containers_to_start == []


def test_init_containers_run_in_order():
    pod = make_pod(inits=2)
    actions = compute_pod_actions(pod, observed(inst("init0", "exited", exit_code=0,
                                                     finished=NOW - 1)), NOW)
    assert actions.init_container_to_start == "init1"


def test_app_containers_wait_for_a_running_init_container():
    actions = compute_pod_actions(make_pod(inits=1), observed(inst("init0", "running")), NOW)
    assert actions.is_empty()


def test_app_containers_start_after_all_init_containers_succeeded():
    actions = compute_pod_actions(
        make_pod(inits=1), observed(inst("init0", "exited", exit_code=0, finished=NOW)), NOW)
    assert actions.containers_to_start == ["c0"]


def test_a_failed_init_container_fails_a_never_pod():
    pod = make_pod(policy="Never", inits=1)
    obs = observed(inst("init0", "exited", exit_code=1, finished=NOW))
    actions = compute_pod_actions(pod, obs, NOW)
    assert actions.init_failed == "init0" and actions.kill_pod
    assert actions.containers_to_start == []
    assert pod_phase(pod, obs, init_failed=True) == "Failed"


def test_a_failed_init_container_is_restarted_for_an_always_pod():
    actions = compute_pod_actions(
        make_pod(inits=1), observed(inst("init0", "exited", exit_code=1, finished=NOW)), NOW)
    assert actions.init_container_to_start == "init0"


def test_a_running_container_is_left_alone():
    spec = make_pod()["spec"]["containers"][0]
    actions = compute_pod_actions(make_pod(), observed(inst("c0", "running", spec=spec)), NOW)
    assert actions.is_empty()


def test_a_changed_container_spec_restarts_the_container():
    old = {"name": "c0", "image": "busybox:old"}
    actions = compute_pod_actions(make_pod(), observed(inst("c0", "running", spec=old)), NOW)
    assert actions.containers_to_kill == {"c0": "container spec changed"}
    assert actions.containers_to_start == ["c0"]


def test_the_first_crash_restarts_at_once():
    actions = compute_pod_actions(
        make_pod(), observed(inst("c0", "exited", exit_code=1, finished=NOW)), NOW)
    assert actions.containers_to_start == ["c0"]


def test_a_crash_loop_backs_off_with_a_doubling_delay():
    delays = [backoff_delay(step) for step in range(1, 7)]
    assert delays == [0.0, 1.0, 2.0, 4.0, 8.0, 16.0]
    assert backoff_delay(50) == 60.0
    pod = make_pod()
    crashed = inst("c0", "exited", attempt=3, exit_code=1, finished=NOW, step=3)
    actions = compute_pod_actions(pod, observed(crashed), NOW + 1)
    assert actions.containers_to_start == [] and actions.backing_off["c0"] == 3.0
    assert compute_pod_actions(pod, observed(crashed), NOW + 4).containers_to_start == ["c0"]


def test_the_back_off_resets_after_a_long_run():
    assert next_step(5, ran_for=3.0) == 6
    assert next_step(5, ran_for=600.0) == 0


def test_restart_policy_on_failure_restarts_only_failures():
    ok = observed(inst("c0", "exited", exit_code=0, finished=NOW))
    failed = observed(inst("c0", "exited", exit_code=2, finished=NOW))
    pod = make_pod("OnFailure")
    assert compute_pod_actions(pod, failed, NOW).containers_to_start == ["c0"]
    done = compute_pod_actions(pod, ok, NOW)
    assert done.containers_to_start == [] and done.kill_pod
    assert pod_phase(pod, ok, False) == "Succeeded"


def test_restart_policy_never_does_not_restart_and_the_pod_fails():
    pod = make_pod("Never")
    obs = observed(inst("c0", "exited", exit_code=3, finished=NOW))
    actions = compute_pod_actions(pod, obs, NOW)
    assert actions.containers_to_start == [] and actions.kill_pod
    assert pod_phase(pod, obs, False) == "Failed"


def test_a_finished_pod_does_not_get_a_new_sandbox():
    pod = make_pod("OnFailure")
    obs = observed(inst("c0", "exited", exit_code=0, finished=NOW), sandbox=False)
    assert pod_finished(pod, obs)
    assert compute_pod_actions(pod, obs, NOW).is_empty()


def test_a_lost_sandbox_is_recreated_for_an_always_pod():
    obs = observed(inst("c0", "exited", exit_code=137, finished=NOW), sandbox=False)
    actions = compute_pod_actions(make_pod(), obs, NOW)
    assert actions.create_sandbox and actions.containers_to_start == ["c0"]


def test_the_plan_prints_the_six_steps():
    text = compute_pod_actions(make_pod(inits=1), ObservedPod(), NOW).describe()
    assert text.splitlines()[0].startswith("1. compute")
    assert "4. create the sandbox: yes" in text and "5. start init container: init0" in text


def test_status_of_a_running_pod():
    spec = make_pod()["spec"]["containers"][0]
    pod = make_pod()
    status = pod_status(pod, observed(inst("c0", "running", spec=spec)), {}, None,
                        "10.250.0.1", NOW)
    assert status["phase"] == "Running"
    assert status["podIP"] == "10.250.0.2"
    assert status["containerStatuses"][0]["state"]["running"]
    ready = {c["type"]: c["status"] for c in status["conditions"]}
    assert ready["Ready"] == "True" and ready["Initialized"] == "True"
    assert display_status(pod, status) == "Running"


def test_status_of_a_crash_looping_container_shows_crash_loop_back_off():
    pod = make_pod()
    crashed = inst("c0", "exited", attempt=4, exit_code=1, finished=NOW, step=4)
    older = inst("c0", "exited", attempt=3, exit_code=1, finished=NOW - 5, step=3)
    status = pod_status(pod, observed(crashed, older), {"c0": 4.0}, None, "h", NOW)
    c0 = status["containerStatuses"][0]
    assert c0["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert c0["lastState"]["terminated"]["exitCode"] == 1
    assert c0["restartCount"] == 4
    assert display_status(pod, status) == "CrashLoopBackOff"


def test_status_while_init_containers_run():
    pod = make_pod(inits=2)
    obs = observed(inst("init0", "exited", exit_code=0, finished=NOW), inst("init1", "running"))
    status = pod_status(pod, obs, {}, None, "h", NOW)
    assert status["phase"] == "Pending"
    assert display_status(pod, status) == "Init:1/2"
    assert status["containerStatuses"][0]["state"]["waiting"]["reason"] == "PodInitializing"


def test_an_oom_killed_container_reports_its_reason():
    pod = make_pod("Never")
    killed = inst("c0", "exited", exit_code=137, finished=NOW)
    killed.reason = "OOMKilled"
    status = pod_status(pod, observed(killed), {}, None, "h", NOW)
    assert status["containerStatuses"][0]["state"]["terminated"]["reason"] == "OOMKilled"
    assert display_status(pod, status) == "OOMKilled"


# -- failed tries before an instance exists (image pull, securityContext) -------------------
def test_a_failed_image_pull_is_retried_after_its_own_back_off_and_shows_the_upstream_pair():
    pod = make_pod()
    obs = observed()
    now = time.time()  # the status tells a fresh failure from an old one by the clock
    obs.waiting["c0"] = Waiting("ErrImagePull", "unknown image", at=now, step=1)
    actions = compute_pod_actions(pod, obs, now)
    assert actions.backing_off == {"c0": 1.0} and actions.containers_to_start == []
    assert not actions.kill_pod  # waiting to retry is not "finished"
    status = pod_status(pod, obs, actions.backing_off, None, "h", now)
    assert status["containerStatuses"][0]["state"] == {
        "waiting": {"reason": "ErrImagePull", "message": "unknown image"}}

    obs.waiting["c0"] = Waiting("ErrImagePull", "unknown image", at=now - 1.5, step=2)
    actions = compute_pod_actions(pod, obs, now)
    assert actions.backing_off == {"c0": pytest.approx(0.5)}  # 2 s after the second failure
    status = pod_status(pod, obs, actions.backing_off, None, "h", now)
    assert status["containerStatuses"][0]["state"]["waiting"] == {
        "reason": "ImagePullBackOff", "message": 'Back-off pulling image "busybox"'}
    assert display_status(pod, status) == "ImagePullBackOff"
    assert compute_pod_actions(pod, obs, now + 0.6).containers_to_start == ["c0"]


def test_a_config_error_keeps_its_reason_and_message_even_after_a_crash():
    pod = make_pod()
    crashed = inst("c0", "exited", exit_code=1, finished=NOW - 10)
    obs = observed(crashed)
    obs.waiting["c0"] = Waiting("CreateContainerConfigError", "container has runAsNonRoot",
                                at=NOW, step=2)
    actions = compute_pod_actions(pod, obs, NOW)
    status = pod_status(pod, obs, actions.backing_off, None, "h", NOW)
    c0 = status["containerStatuses"][0]
    assert c0["state"]["waiting"] == {"reason": "CreateContainerConfigError",
                                      "message": "container has runAsNonRoot"}
    assert c0["lastState"]["terminated"]["exitCode"] == 1
    assert display_status(pod, status) == "CreateContainerConfigError"
