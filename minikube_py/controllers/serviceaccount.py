"""The service account controller: every namespace gets a ServiceAccount named ``default``.

A pod that names no ``serviceAccountName`` runs as ``default`` of its namespace (the API
server fills the field in), and the kubelet asks for a token of that account. So the account
must exist: this controller creates it in every namespace that is not being deleted, and
again if someone deletes it (upstream's ``serviceaccounts-controller``, in the controller
manager)::

    kubectl create namespace team-a; kubectl get serviceaccounts -n team-a    # default
    kubectl delete sa default -n team-a; kubectl get sa -n team-a            # back again
"""

from __future__ import annotations

import logging
from typing import Any

from minikube_py.client import ApiError, Client
from minikube_py.controllers.base import Controller, resource
from minikube_py.controllers.namespace import is_terminating

log = logging.getLogger(__name__)

Obj = dict[str, Any]
DEFAULT = "default"


def needs_default_account(namespace: Obj | None, accounts: list[str]) -> bool:
    """Create ``default`` in this namespace? (Not while it is being deleted.)"""
    return namespace is not None and not is_terminating(namespace) and DEFAULT not in accounts


class ServiceAccountsController(Controller):
    name = "serviceaccount-controller"

    def __init__(self, client: Client, workers: int = 1) -> None:
        super().__init__(client, workers)
        self.namespaces = self.informer("namespaces", self._on_namespace)
        self.accounts = self.informer("serviceaccounts", self._on_account)

    def _on_namespace(self, kind: str, namespace: Obj, old: Obj | None) -> None:
        if kind != "DELETED":
            self.queue.add(namespace["metadata"]["name"])

    def _on_account(self, kind: str, account: Obj, old: Obj | None) -> None:
        if kind == "DELETED" and account["metadata"]["name"] == DEFAULT:
            self.queue.add(account["metadata"].get("namespace") or "default")

    def reconcile(self, key: str) -> None:
        names = [a["metadata"]["name"] for a in self.accounts.list()
                 if a["metadata"].get("namespace") == key]
        if not needs_default_account(self.namespaces.get(key), names):
            return
        try:
            self.client.create(resource("serviceaccounts"), {
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": DEFAULT, "namespace": key}}, key)
            log.info("Created ServiceAccount serviceaccount=%s/%s", key, DEFAULT)
        except ApiError as e:
            if e.reason not in ("AlreadyExists", "Forbidden"):  # Forbidden: namespace ending
                raise
