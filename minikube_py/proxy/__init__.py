"""kube-proxy on nftables: Services become DNAT rules in one table the node owns.

- :mod:`.rules` (pure): Services + Endpoints -> the table's text, whole or as a diff;
- :mod:`.proxier`: informers on services and endpoints, and the sync loop that loads the
  rules with ``nft -f`` and keeps the last table in ``<state>/kube-proxy.nft``.

Look at it on a running node: ``nft list table ip minikube-py-proxy``; the tour of the
table is ``docs/services.md``.
"""

from minikube_py.proxy.proxier import (
    Proxier,
    ProxyConfig,
    ProxyError,
    RuleSyncer,
    delete_proxy_table,
    find_proxy_table,
    proxy_table,
)
from minikube_py.proxy.rules import RulesConfig, build_ruleset, render, update_script

__all__ = [
    "Proxier", "ProxyConfig", "ProxyError", "RuleSyncer", "RulesConfig", "build_ruleset",
    "delete_proxy_table", "find_proxy_table", "proxy_table", "render", "update_script",
]
