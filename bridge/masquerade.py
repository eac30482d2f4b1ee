"""Masquerade: pods reach the world outside the node with the node's own address.

Kubernetes concept: pod IPs are only routable inside the cluster. When a pod talks to an
address outside the pod network, the node rewrites the source address to its own (source
NAT, "masquerade"), as the CNI bridge plugin's ``ipMasq: true`` does. Traffic between pods
of the subnet keeps its pod source address — the Kubernetes network model requires that
pods see each other's real IPs.

Kernel objects: one nftables table (family ``ip``) owned by the project, holding a NAT chain
on the ``postrouting`` hook with a single rule::

    table ip minikube-py {
        chain postrouting {
            type nat hook postrouting priority 100; policy accept;
            ip saddr 10.244.0.0/24 ip daddr != 10.244.0.0/24 masquerade
        }
    }

It is (re)loaded atomically with ``nft -f``: declaring the table, deleting it and declaring it
again in one transaction replaces the old contents without a window without the rule. The
priority is written as a number (``100`` = ``srcnat``), the form every nft version accepts.

See it::

    nft list table ip minikube-py
    nft list ruleset                 # everything, including tables that are not ours
"""

from __future__ import annotations

import subprocess

import explain
from bridge.config import BridgeError, NetworkConfig

#: nftables' ``srcnat`` priority, written as a number.
SRCNAT_PRIORITY = 100


def masquerade_ruleset(cfg: NetworkConfig) -> str:
    """The nft script that (re)creates the project's table with the masquerade rule."""
    table, subnet = cfg.nft_table, cfg.network.with_prefixlen
    return (
        f"table ip {table}\n"
        f"delete table ip {table}\n"
        f"table ip {table} {{\n"
        f"    chain postrouting {{\n"
        f"        type nat hook postrouting priority {SRCNAT_PRIORITY}; policy accept;\n"
        f"        ip saddr {subnet} ip daddr != {subnet} masquerade\n"
        f"    }}\n"
        f"}}\n"
    )


def _nft(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["nft", *args], input=stdin, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BridgeError(f"failed to run nft {' '.join(args)}: {e}") from e


def nft_apply(ruleset: str, table: str) -> None:
    """``nft -f - <<EOF ... EOF``: load a ruleset in one atomic transaction."""
    explain.record(f"nft -f - <<EOF\n{ruleset}EOF")
    result = _nft(["-f", "-"], stdin=ruleset)
    if result.returncode != 0:
        raise BridgeError.failed("load", "nft table", table, result.stderr.strip())


def nft_delete_table(table: str) -> None:
    """``nft delete table ip TABLE``."""
    explain.record(["nft", "delete", "table", "ip", table])
    result = _nft(["delete", "table", "ip", table])
    if result.returncode != 0:
        raise BridgeError.failed("delete", "nft table", table, result.stderr.strip())


def find_masquerade(cfg: NetworkConfig) -> str | None:
    """The text of the project's table (``nft list table ip TABLE``), or None if absent."""
    result = _nft(["list", "table", "ip", cfg.nft_table])
    return result.stdout if result.returncode == 0 else None


def ensure_masquerade(cfg: NetworkConfig) -> None:
    """Load (or replace) the table with the masquerade rule for ``cfg.subnet``."""
    nft_apply(masquerade_ruleset(cfg), cfg.nft_table)


def delete_masquerade(cfg: NetworkConfig) -> None:
    """Delete the project's table; nothing to do if it is not there."""
    if find_masquerade(cfg) is not None:
        nft_delete_table(cfg.nft_table)
