"""Image pull secrets: reading docker's config.json out of a Secret, matching registry hosts."""

from __future__ import annotations

import base64
import json
from typing import Any

from minikube_py.kubelet.pullsecrets import docker_config_auths, pull_credentials
from runtime.images.registry import DOCKER_HUB, credentials_for


def pull_secret(auths: dict[str, Any], kind: str = "kubernetes.io/dockerconfigjson"
                ) -> dict[str, Any]:
    key = ".dockerconfigjson" if kind.endswith("json") else ".dockercfg"
    doc = {"auths": auths} if key == ".dockerconfigjson" else auths
    return {"type": kind, "data": {key: base64.b64encode(json.dumps(doc).encode()).decode()}}


def test_user_name_and_password_or_the_auth_field():
    secret = pull_secret({
        "localhost:5000": {"username": "lab", "password": "s3cret"},
        "https://index.docker.io/v1/": {"auth": base64.b64encode(b"me:pa:ss").decode()},
        "broken.example": {"auth": "%%%"},
        "empty.example": {}})
    assert docker_config_auths(secret) == {"localhost:5000": ("lab", "s3cret"),
                                           "https://index.docker.io/v1/": ("me", "pa:ss")}
    legacy = pull_secret({"old.example": {"username": "u", "password": "p"}},
                         "kubernetes.io/dockercfg")
    assert docker_config_auths(legacy) == {"old.example": ("u", "p")}
    assert docker_config_auths({"type": "kubernetes.io/dockerconfigjson", "data": {
        ".dockerconfigjson": base64.b64encode(b"not json").decode()}}) == {}


def test_registry_hosts_match_the_keys_docker_login_writes():
    creds = {"https://index.docker.io/v1/": ("hub", "1"), "http://127.0.0.1:5000/v2/": ("l", "2"),
             "registry.example": ("r", "3")}
    assert credentials_for(f"https://{DOCKER_HUB}", creds) == ("hub", "1")
    assert credentials_for("http://127.0.0.1:5000", creds) == ("l", "2")
    assert credentials_for("https://registry.example", creds) == ("r", "3")
    assert credentials_for("https://other.example", creds) is None


def test_the_pods_secrets_or_else_its_service_accounts_and_a_warning_for_missing_ones():
    secrets = {"regcred": pull_secret({"localhost:5000": {"username": "a", "password": "b"}}),
               "sa-cred": pull_secret({"other:5000": {"username": "c", "password": "d"}})}
    accounts = {"builder": {"imagePullSecrets": [{"name": "sa-cred"}]}}
    warnings: list[str] = []

    def pod(spec: dict[str, Any]) -> dict[str, Any]:
        return {"metadata": {"name": "p", "namespace": "ns"}, "spec": spec}

    def creds(spec: dict[str, Any]) -> dict[str, tuple[str, str]]:
        return pull_credentials(pod(spec), lambda ns, n: secrets.get(n),
                                lambda ns, n: accounts.get(n), warnings.append)

    assert creds({"imagePullSecrets": [{"name": "regcred"}], "serviceAccountName": "builder"}
                 ) == {"localhost:5000": ("a", "b")}
    assert creds({"serviceAccountName": "builder"}) == {"other:5000": ("c", "d")}
    assert creds({"imagePullSecrets": [{"name": "gone"}, {"name": "regcred"}]}) == \
        {"localhost:5000": ("a", "b")}
    assert warnings == ["Unable to retrieve some image pull secrets (gone); attempting to pull "
                        "the image may not succeed."]
    assert pull_credentials(pod({}), None, None, warnings.append) == {}
