"""rollout status messages and the client-side undo algorithm, as kubectl has them."""

from __future__ import annotations

import pytest

from minikube_py.cli.rollout import (
    RolloutError,
    history,
    history_table,
    pick_revision,
    rollout_status,
    undo_patch,
)


def deploy(generation: int = 2, observed: int = 2, **status: int) -> dict:
    return {"metadata": {"name": "web", "generation": generation,
                         "annotations": {"deployment.kubernetes.io/revision": "2"}},
            "spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "web"}},
                                                 "spec": {"containers": [{"name": "c",
                                                                          "image": "v2"}]}}},
            "status": {"observedGeneration": observed, **status}}


def rs(revision: int, image: str, cause: str = "") -> dict:
    annotations = {"deployment.kubernetes.io/revision": str(revision)}
    if cause:
        annotations["kubernetes.io/change-cause"] = cause
    return {"metadata": {"name": f"web-{revision}", "annotations": annotations},
            "spec": {"template": {"metadata": {"labels": {"app": "web",
                                                          "pod-template-hash": f"h{revision}"}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}}}


def test_status_waits_for_the_controller_to_observe_the_new_spec() -> None:
    assert rollout_status(deploy(generation=3, observed=2)) == \
        ("Waiting for deployment spec update to be observed...", False)


@pytest.mark.parametrize("status,message", [
    ({"updatedReplicas": 1}, "1 out of 3 new replicas have been updated..."),
    ({"updatedReplicas": 3, "replicas": 4}, "1 old replicas are pending termination..."),
    ({"updatedReplicas": 3, "replicas": 3, "availableReplicas": 1},
     "1 of 3 updated replicas are available..."),
])
def test_status_says_what_the_rollout_waits_for(status: dict, message: str) -> None:
    text, done = rollout_status(deploy(**status))
    assert text == f'Waiting for deployment "web" rollout to finish: {message}'
    assert not done


def test_status_is_done_when_every_replica_is_updated_and_available() -> None:
    assert rollout_status(deploy(updatedReplicas=3, replicas=3, availableReplicas=3)) == \
        ('deployment "web" successfully rolled out', True)


def test_a_passed_progress_deadline_is_an_error() -> None:
    d = deploy()
    d["status"]["conditions"] = [{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}]
    with pytest.raises(RolloutError, match="exceeded its progress deadline"):
        rollout_status(d)


def test_undo_picks_the_second_newest_revision_or_the_one_asked_for() -> None:
    sets = [rs(1, "v1"), rs(3, "v3"), rs(2, "v2")]
    assert pick_revision(sets, "web", 0)["metadata"]["name"] == "web-2"
    assert pick_revision(sets, "web", 1)["metadata"]["name"] == "web-1"
    with pytest.raises(RolloutError, match="unable to find specified revision 7"):
        pick_revision(sets, "web", 7)
    with pytest.raises(RolloutError, match="no rollout history found"):
        pick_revision([rs(1, "v1")], "web", 0)


def test_undo_sends_the_old_template_without_its_hash_as_a_json_patch() -> None:
    patch = undo_patch(deploy(), rs(1, "v1"))
    assert patch is not None
    assert patch[0]["op"] == "replace" and patch[0]["path"] == "/spec/template"
    assert patch[0]["value"]["metadata"]["labels"] == {"app": "web"}
    assert patch[0]["value"]["spec"]["containers"][0]["image"] == "v1"
    assert patch[1] == {"op": "replace", "path": "/metadata/annotations",
                        "value": {"deployment.kubernetes.io/revision": "2"}}


def test_undo_to_the_current_template_is_skipped() -> None:
    assert undo_patch(deploy(), rs(2, "v2")) is None


def test_history_lists_revisions_in_order_with_their_change_cause() -> None:
    lines = history_table(history([rs(2, "v2", "kubectl set image"), rs(1, "v1")]))
    assert lines == ["REVISION\tCHANGE-CAUSE", "1\t<none>", "2\tkubectl set image"]
