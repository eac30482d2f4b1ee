"""The node lifecycle plan: silent nodes become Unknown, get tainted, lose their pods."""

from __future__ import annotations

from typing import Any

from minikube_py.controllers.base import now_iso
from minikube_py.controllers.nodelifecycle import (
    NOT_READY,
    UNKNOWN_MESSAGE,
    UNKNOWN_REASON,
    UNREACHABLE,
    Probe,
    eviction_time,
    observe,
    plan_node_lifecycle,
    unknown_conditions,
)

Obj = dict[str, Any]
T0 = 1_700_000_000.0
GRACE = 20.0


def node(name: str, ready: str = "True", heartbeat: float = T0, taints: list[Obj] | None = None
         ) -> Obj:
    stamp = now_iso(heartbeat)
    conditions = [
        {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
         "lastHeartbeatTime": stamp, "lastTransitionTime": stamp},
        {"type": "Ready", "status": ready, "reason": "KubeletReady",
         "lastHeartbeatTime": stamp, "lastTransitionTime": stamp},
    ]
    obj: Obj = {"metadata": {"name": name, "resourceVersion": "7"}, "spec": {},
                "status": {"conditions": conditions}}
    if taints is not None:
        obj["spec"]["taints"] = taints
    return obj


def pod(name: str, node_name: str, tolerations: list[Obj] | None = None,
        deleting: bool = False) -> Obj:
    meta: Obj = {"name": name, "namespace": "default"}
    if deleting:
        meta["deletionTimestamp"] = now_iso(T0)
    return {"metadata": meta, "spec": {"nodeName": node_name, "tolerations": tolerations or []}}


def probes_seen_at(when: float, *nodes: Obj) -> dict[str, Probe]:
    return {n["metadata"]["name"]: observe(None, n, when) for n in nodes}


def plans(nodes: list[Obj], pods: list[Obj], probes: dict[str, Probe], now: float
          ) -> dict[str, Any]:
    return {p.node: p for p in plan_node_lifecycle(nodes, pods, probes, now, GRACE)}


def taint_keys(taints: list[Obj] | None) -> set[tuple[str, str]]:
    return {(t["key"], t["effect"]) for t in taints or []}


def test_a_node_that_heartbeats_within_the_grace_period_is_left_alone():
    a, b = node("a"), node("b")
    result = plans([a, b], [pod("p", "a")], probes_seen_at(T0, a, b), T0 + GRACE - 1)
    assert not result["a"] and not result["b"]


def test_a_silent_node_is_marked_unknown_tainted_unreachable_and_its_pods_evicted_by_force():
    alive, silent = node("alive"), node("silent")
    probes = probes_seen_at(T0, alive, silent)
    probes["alive"] = Probe("later", T0 + GRACE)  # alive kept heartbeating
    result = plans([alive, silent], [pod("p1", "silent"), pod("p2", "alive")], probes,
                   T0 + GRACE + 1)
    plan = result["silent"]
    assert plan.mark_unknown
    assert taint_keys(plan.taints) == {(UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")}
    no_execute = next(t for t in plan.taints or [] if t["effect"] == "NoExecute")
    assert no_execute["timeAdded"] == now_iso(T0 + GRACE + 1)
    assert [(e.name, e.force) for e in plan.evict] == [("p1", True)]
    assert not result["alive"]


def test_a_new_heartbeat_restarts_the_grace_period():
    n = node("a")
    probe = observe(None, n, T0)
    assert observe(probe, n, T0 + 5) is probe  # same heartbeat: still the old probe
    fresher = node("a", heartbeat=T0 + 10)
    renewed = observe(probe, fresher, T0 + 10)
    assert renewed.seen_at == T0 + 10
    other = node("b", heartbeat=T0 + 30)
    result = plans([fresher, other], [], {"a": renewed, "b": observe(None, other, T0 + 30)},
                   T0 + GRACE + 5)
    assert not result["a"]


def test_a_node_first_seen_with_an_old_heartbeat_gets_a_full_grace_period():
    # After a controller restart every node gets time to heartbeat before being judged.
    stale, other = node("stale", heartbeat=T0 - 3600), node("other")
    probes = probes_seen_at(T0, stale, other)
    assert not plans([stale, other], [pod("p", "stale")], probes, T0 + 1)["stale"]


def test_conditions_become_unknown_with_upstreams_reason_and_keep_their_heartbeat():
    conditions = node("a")["status"]["conditions"]
    out = unknown_conditions(conditions, T0 + 60)
    assert all(c["status"] == "Unknown" for c in out)
    assert {c["reason"] for c in out} == {UNKNOWN_REASON}
    assert {c["message"] for c in out} == {UNKNOWN_MESSAGE}
    assert {c["lastHeartbeatTime"] for c in out} == {now_iso(T0)}
    assert {c["lastTransitionTime"] for c in out} == {now_iso(T0 + 60)}


def test_a_pod_tolerating_the_taint_for_some_seconds_leaves_after_them():
    toleration = {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                  "tolerationSeconds": 30}
    taints = [{"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": now_iso(T0)}]
    patient = pod("p", "n", [toleration])
    assert eviction_time(patient, taints, T0 + 1) == T0 + 30
    forever = pod("q", "n", [{"operator": "Exists"}])
    assert eviction_time(forever, taints, T0 + 1) is None
    assert eviction_time(pod("r", "n"), taints, T0 + 1) == T0 + 1
    other_key = pod("s", "n", [{"key": NOT_READY, "operator": "Exists", "effect": "NoExecute"}])
    assert eviction_time(other_key, taints, T0 + 1) == T0 + 1


def test_tolerated_pods_are_evicted_only_once_their_toleration_runs_out():
    toleration = {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute",
                  "tolerationSeconds": 30}
    taints = [{"key": UNREACHABLE, "effect": "NoSchedule"},
              {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": now_iso(T0)}]
    down, up = node("down", "Unknown", T0 - 100, taints), node("up", heartbeat=T0 + 10)
    probes = {"down": observe(None, down, T0 - 100), "up": observe(None, up, T0 + 10)}
    early = plans([down, up], [pod("p", "down", [toleration])], probes, T0 + 10)["down"]
    assert not early and early.next_eviction_in == 20
    probes["up"] = Probe("newer heartbeat", T0 + 30)
    late = plans([down, up], [pod("p", "down", [toleration])], probes, T0 + 31)["down"]
    assert [e.name for e in late.evict] == ["p"]


def test_a_node_reporting_not_ready_gets_the_not_ready_taints_and_graceful_evictions():
    sick, ok = node("sick", "False"), node("ok")
    result = plans([sick, ok], [pod("p", "sick")], probes_seen_at(T0, sick, ok), T0 + 1)
    plan = result["sick"]
    assert not plan.mark_unknown
    assert taint_keys(plan.taints) == {(NOT_READY, "NoSchedule"), (NOT_READY, "NoExecute")}
    assert [(e.name, e.force) for e in plan.evict] == [("p", False)]


def test_when_heartbeats_resume_the_system_taints_go_and_other_taints_stay():
    mine = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    taints = [mine, {"key": UNREACHABLE, "effect": "NoSchedule"},
              {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": now_iso(T0)}]
    back = node("back", "True", T0 + 50, taints)
    plan = plans([back], [pod("p", "back")], probes_seen_at(T0 + 50, back), T0 + 51)["back"]
    assert plan.taints == [mine]
    assert not plan.evict and not plan.mark_unknown


def test_when_no_node_is_ready_nothing_is_evicted_and_no_noexecute_taint_is_added():
    only = node("only")
    plan = plans([only], [pod("p", "only")], probes_seen_at(T0, only), T0 + GRACE + 1)["only"]
    assert plan.mark_unknown
    assert taint_keys(plan.taints) == {(UNREACHABLE, "NoSchedule")}
    assert not plan.evict


def test_a_pod_stuck_terminating_on_an_unreachable_node_is_force_deleted():
    alive, silent = node("alive", heartbeat=T0 + GRACE), node("silent")
    probes = {"alive": observe(None, alive, T0 + GRACE), "silent": observe(None, silent, T0)}
    stuck = pod("stuck", "silent", [{"operator": "Exists"}], deleting=True)
    plan = plans([alive, silent], [stuck], probes, T0 + GRACE + 1)["silent"]
    assert [(e.name, e.force) for e in plan.evict] == [("stuck", True)]


def test_the_taints_already_there_keep_their_time_added():
    taints = [{"key": UNREACHABLE, "effect": "NoSchedule"},
              {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": now_iso(T0)}]
    silent, alive = node("silent", "Unknown", T0 - 100, taints), node("alive", heartbeat=T0)
    probes = {"silent": observe(None, silent, T0 - 100), "alive": observe(None, alive, T0)}
    plan = plans([silent, alive], [], probes, T0 + 5)["silent"]
    assert not plan  # already Unknown and tainted: nothing to write


def test_a_node_that_never_reported_is_not_tainted_before_its_grace_period_ends():
    fresh = {"metadata": {"name": "fresh"}, "spec": {}, "status": {}}
    other = node("other")
    probes = probes_seen_at(T0, fresh, other)
    assert not plans([fresh, other], [], probes, T0 + 1)["fresh"]
    probes["other"] = Probe("x", T0 + GRACE)
    late = plans([fresh, other], [], probes, T0 + GRACE + 1)["fresh"]
    assert taint_keys(late.taints) == {(UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")}
    assert not late.mark_unknown  # nothing to mark: it has no conditions
