"""Authentication (client certificates, bearer tokens) and RBAC authorization: the pure
parts, then an in-process API server serving TLS on 127.0.0.1, driven with the Client."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from minikube_py import pki
from minikube_py.api.resources import must
from minikube_py.apiserver import rbac
from minikube_py.apiserver.auth import (
    ANONYMOUS,
    Authenticator,
    TLSConfig,
    request_attributes,
)
from minikube_py.apiserver.rbac import Attributes, Policy, UserInfo, evaluate
from minikube_py.apiserver.server import APIServer
from minikube_py.client import ApiError, Client
from minikube_py.errors import MinikubeError

VIEWER = UserInfo("viewer", groups=("system:authenticated",))
PODS, ROLES, ROLE_BINDINGS, CLUSTER_ROLES = (
    must(n) for n in ("pods", "roles", "rolebindings", "clusterroles"))


def attrs(method: str, path: str, query: dict[str, str] | None = None,
          user: UserInfo = VIEWER) -> Attributes:
    return request_attributes(method, path, query or {}, user)


# -- request attributes ----------------------------------------------------------------------
def test_resource_paths_become_verb_group_resource_namespace_and_name() -> None:
    a = attrs("POST", "/api/v1/namespaces/default/pods")
    assert (a.verb, a.api_group, a.resource, a.namespace, a.name) == \
        ("create", "", "pods", "default", "")
    a = attrs("GET", "/apis/apps/v1/namespaces/web/deployments/nginx/scale")
    assert (a.verb, a.api_group, a.resource, a.subresource, a.namespace, a.name) == \
        ("get", "apps", "deployments", "scale", "web", "nginx")
    assert attrs("GET", "/api/v1/pods").verb == "list"
    assert attrs("GET", "/api/v1/pods", {"watch": "true"}).verb == "watch"
    assert attrs("DELETE", "/api/v1/namespaces/default/pods").verb == "deletecollection"
    assert attrs("PATCH", "/api/v1/nodes/n1/status").subresource == "status"


def test_namespaces_themselves_and_their_finalize_subresource() -> None:
    a = attrs("GET", "/api/v1/namespaces/dev")
    assert (a.resource, a.name, a.namespace) == ("namespaces", "dev", "dev")
    a = attrs("PUT", "/api/v1/namespaces/dev/finalize")
    assert (a.resource, a.subresource, a.verb) == ("namespaces", "finalize", "update")


def test_exec_over_get_is_authorized_as_create_and_discovery_is_a_path() -> None:
    a = attrs("GET", "/api/v1/namespaces/default/pods/web/exec", {"command": "ls"})
    assert (a.verb, a.subresource) == ("create", "exec")
    for path in ("/api", "/apis", "/api/v1", "/apis/apps/v1", "/version", "/openapi/v3"):
        a = attrs("GET", path)
        assert not a.resource_request and a.verb == "get" and a.path == path


def test_list_by_metadata_name_names_the_object_for_resource_names_rules() -> None:
    a = attrs("GET", "/apis/apps/v1/namespaces/default/deployments",
              {"fieldSelector": "metadata.name=web", "watch": "true"})
    assert (a.verb, a.name) == ("watch", "web")


# -- RBAC evaluation -------------------------------------------------------------------------
def test_rules_match_wildcards_subresources_and_resource_names() -> None:
    exec_ = attrs("POST", "/api/v1/namespaces/default/pods/web/exec")
    assert rbac.rule_allows({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}, exec_)
    assert not rbac.rule_allows({"apiGroups": [""], "resources": ["pods"],
                                 "verbs": ["create"]}, exec_)
    assert rbac.rule_allows({"apiGroups": [""], "resources": ["pods/exec"],
                             "verbs": ["create"]}, exec_)
    scale = attrs("PATCH", "/apis/apps/v1/namespaces/default/deployments/web/scale")
    assert rbac.rule_allows({"apiGroups": ["apps"], "resources": ["*/scale"],
                             "verbs": ["patch"]}, scale)
    named = {"apiGroups": ["apps"], "resources": ["deployments/scale"], "verbs": ["patch"],
             "resourceNames": ["other"]}
    assert not rbac.rule_allows(named, scale)
    assert rbac.rule_allows({"nonResourceURLs": ["/apis/*"], "verbs": ["get"]},
                            attrs("GET", "/apis/apps/v1"))


def test_default_policy_lets_viewer_read_but_not_write() -> None:
    policy = Policy.from_objects(rbac.default_policy())
    assert evaluate(policy, attrs("GET", "/api/v1/namespaces/default/pods"))[0]
    assert evaluate(policy, attrs("GET", "/api/v1/namespaces/default/pods/x/log"))[0]
    assert evaluate(policy, attrs("GET", "/apis/metrics.k8s.io/v1beta1/nodes"))[0]
    assert not evaluate(policy, attrs("POST", "/api/v1/namespaces/default/pods"))[0]
    assert not evaluate(policy, attrs("GET", "/api/v1/namespaces/default/pods/x/exec"))[0]
    assert not evaluate(policy, attrs("GET", "/api/v1/namespaces/default/pods/x/portforward"))[0]
    assert not evaluate(policy, attrs("GET", "/apis/rbac.authorization.k8s.io/v1/"
                                             "clusterroles"))[0]
    assert evaluate(policy, attrs("GET", "/healthz", user=ANONYMOUS))[0]
    assert not evaluate(policy, attrs("GET", "/apis", user=ANONYMOUS))[0]


def test_role_binding_grants_only_inside_its_namespace() -> None:
    dev = UserInfo("dev", groups=("system:authenticated",))
    role = {"kind": "Role", "metadata": {"name": "pod-writer", "namespace": "team"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["create"]}]}
    binding = {"kind": "RoleBinding", "metadata": {"name": "dev", "namespace": "team"},
               "roleRef": {"kind": "Role", "name": "pod-writer"},
               "subjects": [{"kind": "User", "name": "dev"}]}
    policy = Policy.from_objects([role, binding])
    assert evaluate(policy, attrs("POST", "/api/v1/namespaces/team/pods", user=dev))[0]
    assert not evaluate(policy, attrs("POST", "/api/v1/namespaces/other/pods", user=dev))[0]
    assert not evaluate(policy, attrs("POST", "/api/v1/namespaces/team/pods"))[0]


def test_binding_to_a_missing_role_says_so_in_the_reason() -> None:
    binding = {"kind": "ClusterRoleBinding", "metadata": {"name": "b"},
               "roleRef": {"kind": "ClusterRole", "name": "ghost"},
               "subjects": [{"kind": "Group", "name": "system:authenticated"}]}
    allowed, reason = evaluate(Policy.from_objects([binding]), attrs("GET", "/api/v1/pods"))
    assert not allowed
    assert reason == 'RBAC: clusterrole.rbac.authorization.k8s.io "ghost" not found'


def test_forbidden_messages_have_upstreams_words() -> None:
    error = rbac.forbidden(attrs("POST", "/api/v1/namespaces/default/pods"))
    assert error.message == ('pods is forbidden: User "viewer" cannot create resource "pods" '
                             'in API group "" in the namespace "default"')
    error = rbac.forbidden(attrs("DELETE", "/apis/apps/v1/namespaces/default/deployments/w"))
    assert error.message.startswith('deployments.apps "w" is forbidden: User "viewer" cannot '
                                    'delete resource "deployments" in API group "apps"')
    error = rbac.forbidden(attrs("GET", "/api/v1/nodes/n1/status"))
    assert error.message.endswith('resource "nodes/status" in API group "" at the cluster '
                                  'scope')
    assert rbac.forbidden(attrs("GET", "/metrics")).message == \
        'forbidden: User "viewer" cannot get path "/metrics"'


def test_authenticator_prefers_certificates_and_rejects_unknown_tokens(tmp_path: Any) -> None:
    token = pki.ensure_token(str(tmp_path), "viewer")
    authn = Authenticator(pki.tokens_path(str(tmp_path)))
    cert = {"subject": ((("organizationName", "system:masters"),),
                        (("commonName", "kubernetes-admin"),))}
    user = authn.authenticate(cert, "Bearer nope")
    assert user is not None and user.name == "kubernetes-admin"
    assert user.groups == ("system:masters", "system:authenticated")
    viewer = authn.authenticate(None, f"Bearer {token}")
    assert viewer is not None and viewer.name == "viewer"
    assert authn.authenticate({}, None) is None
    with pytest.raises(MinikubeError, match="Unauthorized"):
        authn.authenticate(None, "Bearer nope")


# -- a TLS API server ----------------------------------------------------------------------
@dataclass
class Secured:
    url: str
    ca: str
    admin: Client
    viewer: Client
    nobody: Client
    pki: str

    def token_client(self, user: str, groups: tuple[str, ...] = ()) -> Client:
        return Client(self.url, token=pki.ensure_token(self.pki, user, groups),
                      ca_file=self.ca)


@pytest.fixture()
def secured(tmp_path: Any) -> Iterator[Secured]:
    d = str(tmp_path / "pki")
    server_pair = pki.ensure_server_cert(d, "node-a")
    admin = pki.ensure_client_cert(d, "admin", "kubernetes-admin", ["system:masters"])
    token = pki.ensure_token(d, "viewer")
    ca = pki.ca_paths(d).cert
    server = APIServer(str(tmp_path / "store.db"), port=0,
                       tls=TLSConfig(server_pair.cert, server_pair.key, ca),
                       authenticator=Authenticator(pki.tokens_path(d)),
                       authorizer=rbac.RBACAuthorizer())
    server.start()
    try:
        assert server.url.startswith("https://127.0.0.1:")
        yield Secured(server.url, ca,
                      Client(server.url, ca_file=ca, cert_file=admin.cert,
                             key_file=admin.key),
                      Client(server.url, ca_file=ca, token=token),
                      Client(server.url, ca_file=ca), d)
    finally:
        server.stop()


def pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "web", "image": "nginx"}]}}


def test_no_credentials_is_401_with_an_unauthorized_status(secured: Secured) -> None:
    with pytest.raises(ApiError) as e:
        secured.nobody.list(PODS, "default")
    assert e.value.code == 401
    assert e.value.status == {"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Failure", "message": "Unauthorized",
                              "reason": "Unauthorized", "code": 401}
    with pytest.raises(ApiError) as e:
        secured.nobody.request("GET", "/apis")
    assert e.value.code == 401


def test_health_and_version_are_public(secured: Secured) -> None:
    assert secured.nobody.request("GET", "/healthz", accept="*/*") == "ok"
    assert secured.nobody.request("GET", "/version")["minor"] == "32"


def test_an_unknown_token_is_401(secured: Secured) -> None:
    client = Client(secured.url, ca_file=secured.ca, token="not-a-token")
    with pytest.raises(ApiError) as e:
        client.request("GET", "/version")
    assert e.value.code == 401


def test_admin_may_write_and_viewer_may_only_read(secured: Secured) -> None:
    created = secured.admin.create(PODS, pod("web"), "default")
    assert created["metadata"]["name"] == "web"
    assert [p["metadata"]["name"] for p in secured.viewer.list(PODS, "default")["items"]] == \
        ["web"]
    assert secured.viewer.request("GET", "/apis")["kind"] == "APIGroupList"
    with pytest.raises(ApiError) as e:
        secured.viewer.create(PODS, pod("other"), "default")
    assert (e.value.code, e.value.reason) == (403, "Forbidden")
    assert str(e.value) == ('pods is forbidden: User "viewer" cannot create resource "pods" '
                            'in API group "" in the namespace "default"')
    with pytest.raises(ApiError) as e:
        secured.viewer.delete(PODS, "web", "default")
    assert e.value.code == 403
    assert e.value.status["details"] == {"kind": "pods", "name": "web"}
    assert secured.admin.get(PODS, "web", "default")["metadata"]["name"] == "web"


def test_default_roles_are_api_objects(secured: Secured) -> None:
    names = {r["metadata"]["name"] for r in secured.admin.list(CLUSTER_ROLES)["items"]}
    assert {"cluster-admin", "view", "system:discovery"} <= names


def test_a_role_binding_made_through_the_api_takes_effect_at_once(secured: Secured) -> None:
    dev = secured.token_client("dev")
    secured.admin.create(ROLES, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
        "metadata": {"name": "pod-writer", "namespace": "default"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["create", "get"]}]})
    with pytest.raises(ApiError) as e:
        dev.create(PODS, pod("by-dev"), "default")
    assert e.value.code == 403
    secured.admin.create(ROLE_BINDINGS, {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
        "metadata": {"name": "dev", "namespace": "default"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                    "name": "pod-writer"},
        "subjects": [{"kind": "User", "name": "dev"}]})
    assert dev.create(PODS, pod("by-dev"), "default")["metadata"]["name"] == "by-dev"
    with pytest.raises(ApiError) as e:
        dev.create(PODS, pod("by-dev"), "kube-system")
    assert e.value.code == 403


def test_a_certificate_from_another_ca_is_refused_at_the_handshake(secured: Secured,
                                                                  tmp_path: Any) -> None:
    foreign = pki.ensure_client_cert(str(tmp_path / "other"), "admin", "kubernetes-admin",
                                     ["system:masters"])
    client = Client(secured.url, ca_file=secured.ca, cert_file=foreign.cert,
                    key_file=foreign.key)
    with pytest.raises(MinikubeError, match="failed to reach API server"):
        client.request("GET", "/api/v1/pods")


def test_clients_that_do_not_trust_the_ca_cannot_connect(secured: Secured) -> None:
    client = Client(secured.url)  # the system trust store: our CA is not in it
    with pytest.raises(MinikubeError, match="CERTIFICATE_VERIFY_FAILED"):
        client.request("GET", "/version")
    assert isinstance(ssl.create_default_context(), ssl.SSLContext)
