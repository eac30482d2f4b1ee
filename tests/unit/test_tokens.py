"""Service account tokens: JWTs signed and checked by the cluster key; the TokenRequest API."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from minikube_py.api.resources import must
from minikube_py.apiserver.server import APIServer
from minikube_py.apiserver.tokens import ISSUER, TokenError, TokenSigner
from minikube_py.client import ApiError, Client

NOW = 1_800_000_000


def parts(token: str) -> list[dict]:
    return [json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
            for p in token.split(".")[:2]]


def test_a_token_carries_upstreams_claims_and_verifies_until_it_expires(tmp_path: Path):
    signer = TokenSigner.ensure(str(tmp_path))
    assert (tmp_path / "sa.key").stat().st_mode & 0o077 == 0  # a private key: 0600
    token, expires = signer.issue("team", "robot", "uid-1", [ISSUER], 600,
                                  pod={"name": "web", "uid": "pod-1"}, now=NOW)
    header, claims = parts(token)
    assert header == {"alg": "ES256", "kid": signer.key_id, "typ": "JWT"}
    assert claims["sub"] == "system:serviceaccount:team:robot" and claims["iss"] == ISSUER
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (NOW, NOW, NOW + 600) == \
        (NOW, NOW, expires)
    assert claims["kubernetes.io"] == {"namespace": "team", "pod": {"name": "web",
                                                                    "uid": "pod-1"},
                                       "serviceaccount": {"name": "robot", "uid": "uid-1"}}
    verified = signer.verify(token, now=NOW + 599)
    assert (verified.user, verified.uid, verified.pod) == (
        "system:serviceaccount:team:robot", "uid-1", {"name": "web", "uid": "pod-1"})
    with pytest.raises(TokenError, match="expired"):
        signer.verify(token, now=NOW + 600)
    # the same key is read back on the next start
    assert TokenSigner.ensure(str(tmp_path)).verify(token, now=NOW).name == "robot"


def test_forged_or_foreign_tokens_are_refused(tmp_path: Path):
    signer = TokenSigner.ensure(str(tmp_path / "a"))
    other = TokenSigner.ensure(str(tmp_path / "b"))
    token, _ = signer.issue("default", "default", "u", [ISSUER], 600, now=NOW)
    head, body, signature = token.split(".")
    claims = parts(token)[1]
    claims["sub"] = "system:serviceaccount:kube-system:admin"
    forged_body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenError, match="signature"):
        signer.verify(f"{head}.{forged_body}.{signature}", now=NOW)
    with pytest.raises(TokenError, match="signature"):
        other.verify(token, now=NOW)
    elsewhere, _ = signer.issue("default", "default", "u", ["https://vault"], 600, now=NOW)
    with pytest.raises(TokenError, match="audience"):
        signer.verify(elsewhere, now=NOW)
    with pytest.raises(TokenError, match="malformed"):
        signer.verify("a.b.c", now=NOW)
    with pytest.raises(TokenError, match="malformed"):  # a header that is a JSON list
        signer.verify("W10.e30." + "A" * 86, now=NOW)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Client]:
    server = APIServer(str(tmp_path / "store.db"), port=0,
                       token_signer=TokenSigner.ensure(str(tmp_path)))
    server.start()
    try:
        yield Client(server.url)
    finally:
        server.stop()


def test_token_requests_default_bind_and_refuse_like_upstream(api: Client):
    accounts, pods = must("serviceaccounts"), must("pods")
    account = api.create(accounts, {"apiVersion": "v1", "kind": "ServiceAccount",
                                    "metadata": {"name": "robot"}}, "default")
    answer = api.create_subresource(accounts, "robot", "token", {}, "default")
    assert answer["kind"] == "TokenRequest"
    assert answer["spec"] == {"expirationSeconds": 3600, "audiences": [ISSUER]}
    claims = parts(answer["status"]["token"])[1]
    assert claims["kubernetes.io"]["serviceaccount"]["uid"] == account["metadata"]["uid"]
    assert answer["status"]["expirationTimestamp"].endswith("Z")

    with pytest.raises(ApiError) as e:
        api.create_subresource(accounts, "robot", "token",
                               {"spec": {"expirationSeconds": 60}}, "default")
    assert e.value.code == 422 and "less than 10 minutes" in str(e.value)
    with pytest.raises(ApiError) as e:
        api.create_subresource(accounts, "nobody", "token", {}, "default")
    assert e.value.code == 404
    bound = {"spec": {"boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web"}}}
    with pytest.raises(ApiError) as e:
        api.create_subresource(accounts, "robot", "token", bound, "default")
    assert e.value.code == 404 and "existing pod" in str(e.value)
    pod = api.create(pods, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
                            "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
                     "default")
    assert pod["spec"]["serviceAccountName"] == "default"  # filled in, as upstream
    with pytest.raises(ApiError) as e:  # web runs as "default", not as "robot"
        api.create_subresource(accounts, "robot", "token", bound, "default")
    assert e.value.code == 400 and "different serviceaccount" in str(e.value)
    api.create(accounts, {"apiVersion": "v1", "kind": "ServiceAccount",
                          "metadata": {"name": "default"}}, "default")
    answer = api.create_subresource(accounts, "default", "token", bound, "default")
    assert parts(answer["status"]["token"])[1]["kubernetes.io"]["pod"] == {
        "name": "web", "uid": pod["metadata"]["uid"]}


def test_every_namespace_but_a_terminating_one_needs_a_default_account():
    from minikube_py.controllers.serviceaccount import needs_default_account

    team = {"metadata": {"name": "team"}}
    assert needs_default_account(team, [])
    assert needs_default_account(team, ["robot"])
    assert not needs_default_account(team, ["robot", "default"])
    assert not needs_default_account({"metadata": {"name": "team"},
                                      "status": {"phase": "Terminating"}}, [])
    assert not needs_default_account(None, [])


def test_the_kubelet_writes_token_files_and_renews_them_after_80_percent(tmp_path: Path):
    from minikube_py.config import NodeConfig
    from minikube_py.kubelet.serviceaccount import MOUNT, ensure_token_files, token_volume

    config = NodeConfig(state_dir=str(tmp_path))
    pod = {"metadata": {"name": "web", "namespace": "team", "uid": "u-1"},
           "spec": {"serviceAccountName": "default"}}
    ca = tmp_path / "ca.crt"
    ca.write_text("CA")
    issued: list[float] = []

    def request(p: dict) -> tuple[str, float]:
        issued.append(now)
        return f"token-{len(issued)}", now + 1000

    now = 5000.0
    assert token_volume(config, "u-1") == []
    assert ensure_token_files(config, pod, request, str(ca), now=now)
    ((mount, directory, readonly),) = token_volume(config, "u-1")
    assert (mount, readonly) == (MOUNT, True)
    assert sorted(os.listdir(directory)) == ["ca.crt", "namespace", "token"]
    assert [open(os.path.join(directory, n)).read() for n in ("token", "namespace", "ca.crt")] \
        == ["token-1", "team", "CA"]
    assert oct(os.stat(os.path.join(directory, "token")).st_mode & 0o777) == "0o644"
    assert oct(os.stat(tmp_path / "pods").st_mode & 0o777) == "0o750"  # root's only
    assert not ensure_token_files(config, pod, request, str(ca), now=now + 799)
    now = 5800.0
    assert ensure_token_files(config, pod, request, str(ca), now=now)  # 80 % of 1000 s
    assert open(os.path.join(directory, "token")).read() == "token-2"
    assert sorted(os.listdir(directory)) == ["ca.crt", "namespace", "token"]

    opted_out = {**pod, "metadata": {**pod["metadata"], "uid": "u-2"}}
    assert not ensure_token_files(config, opted_out, lambda p: None, str(ca), now=now)
    assert token_volume(config, "u-2") == []
