"""securityContext -> runtime settings, and user names looked up in image layers (no root)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from minikube_py.kubelet.security import ContainerConfigError, runtime_settings
from runtime import capabilities
from runtime.user import ProcessUser, UserError, resolve_user


def pod(pod_context: dict[str, Any] | None = None, **container_context: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": "busybox"}
    if container_context:
        container["securityContext"] = container_context
    return {"metadata": {"name": "web", "namespace": "default", "uid": "u-1"},
            "spec": {"securityContext": pod_context or {}, "containers": [container]}}


def settings(p: dict[str, Any], image_user: str = "") -> dict[str, Any]:
    return runtime_settings(p, p["spec"]["containers"][0], image_user)


def test_the_container_context_wins_over_the_pods_and_groups_come_from_the_pod():
    p = pod({"runAsUser": 1000, "runAsGroup": 3000, "supplementalGroups": [4000],
             "fsGroup": 2000}, runAsUser=1001)
    assert settings(p)["user"] == {"uid": 1001, "gid": 3000, "username": "",
                                   "additionalGids": [4000, 2000]}
    # without runAsUser the image's USER is looked up later, by name
    assert settings(pod(), "nginx")["user"] == {"uid": None, "gid": None, "username": "nginx",
                                                "additionalGids": []}


def test_run_as_non_root_uses_upstreams_three_messages():
    where = '(pod: "web_default(u-1)", container: app)'
    with pytest.raises(ContainerConfigError) as e:
        settings(pod({"runAsNonRoot": True}))  # no USER in the image: root
    assert str(e.value) == f"container has runAsNonRoot and image will run as root {where}"
    with pytest.raises(ContainerConfigError) as e:
        settings(pod({"runAsNonRoot": True}), "nginx")
    assert str(e.value) == ("container has runAsNonRoot and image has non-numeric user "
                            f"(nginx), cannot verify user is non-root {where}")
    with pytest.raises(ContainerConfigError) as e:
        settings(pod({"runAsNonRoot": True}, runAsUser=0))
    assert str(e.value) == f"container's runAsUser breaks non-root policy {where}"
    assert settings(pod({"runAsNonRoot": True}), "101:101")["user"]["username"] == "101:101"
    assert settings(pod({"runAsNonRoot": True, "runAsUser": 1000}))["user"]["uid"] == 1000


def test_capabilities_are_the_default_set_changed_by_add_and_drop():
    assert settings(pod())["capabilities"] == capabilities.DEFAULT_CAPABILITIES
    assert settings(pod(capabilities={"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]})
                    )["capabilities"] == ["CAP_NET_BIND_SERVICE"]
    changed = settings(pod(capabilities={"drop": ["NET_RAW", "cap_chown"],
                                         "add": ["NET_ADMIN"]}))["capabilities"]
    assert "CAP_NET_ADMIN" in changed and "CAP_NET_RAW" not in changed
    assert "CAP_CHOWN" not in changed and len(changed) == 13
    with pytest.raises(ContainerConfigError, match="unknown capability 'FLY'"):
        settings(pod(capabilities={"add": ["FLY"]}))


def test_privileged_keeps_everything_and_unmasks_proc():
    s = settings(pod(privileged=True))
    assert s["capabilities"] == capabilities.all_capabilities()
    assert s["masked_paths"] == [] and s["readonly_paths"] == []
    default = settings(pod(readOnlyRootFilesystem=True))
    assert default["masked_paths"] is None and default["readonly_root"] is True  # defaults


def layers(tmp_path: Path, files: dict[str, dict[str, str]]) -> list[str]:
    """Image layers, top first, each a directory with the given files."""
    out = []
    for name, content in files.items():
        for rel, text in content.items():
            path = tmp_path / name / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        out.append(str(tmp_path / name))
    return out


PASSWD = "root:x:0:0:root:/root:/bin/sh\nnginx:x:101:101:nginx:/:/bin/false\n"
GROUP = "root:x:0:\nnginx:x:101:\nweb:x:500:nginx,other\nlogs:x:600:nginx\n"


def test_user_names_are_looked_up_in_the_top_most_layer_that_has_the_file(tmp_path: Path):
    image = layers(tmp_path, {"top": {"etc/group": GROUP},
                              "base": {"etc/passwd": PASSWD, "etc/group": "root:x:0:\n"}})
    assert resolve_user({"username": "nginx"}, image) == ProcessUser(101, 101, [500, 600])
    assert resolve_user({"username": "nginx:web"}, image) == ProcessUser(101, 500, [500, 600])
    assert resolve_user({"uid": 1000, "gid": 3000, "additionalGids": [4000]}, image) == \
        ProcessUser(1000, 3000, [4000])
    assert resolve_user({"uid": 101}, image) == ProcessUser(101, 101, [500, 600])  # by uid
    assert resolve_user({}, image) == ProcessUser(0, 0, [])
    with pytest.raises(UserError, match="unable to find user www"):
        resolve_user({"username": "www"}, image)
    with pytest.raises(UserError, match="unable to find group staff"):
        resolve_user({"username": "nginx:staff"}, image)


def test_the_switch_is_spelled_as_setpriv():
    assert ProcessUser(1000, 3000, [4000, 2000]).setpriv() == \
        "setpriv --reuid=1000 --regid=3000 --groups=4000,2000 --"
    assert ProcessUser().setpriv() == "setpriv --reuid=0 --regid=0 --clear-groups --"
