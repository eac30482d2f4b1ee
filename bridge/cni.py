"""``minikube-cni``: this package as a CNI 1.0.0 plugin executable.

Kubernetes concept: the Container Network Interface is a tiny protocol between a container
runtime (containerd, CRI-O, our kubelet) and a network plugin. The runtime *executes* the
plugin once per pod and operation, passing parameters in environment variables and the
network configuration as JSON on stdin; the plugin answers with JSON on stdout::

    CNI_COMMAND=ADD|DEL|CHECK|VERSION   CNI_CONTAINERID=<id>   CNI_NETNS=/run/netns/<name>
    CNI_IFNAME=eth0   CNI_PATH=<plugin dirs>   CNI_ARGS=K=V;K=V (ignored)

Our network configuration (a conflist entry would look the same)::

    {"cniVersion": "1.0.0", "name": "minikube-py", "type": "minikube-cni",
     "bridge": "br0", "ipam": {"type": "host-local", "subnet": "10.244.0.0/24"},
     "dataDir": "/var/lib/minikube-py/networks",       # optional
     "nftTable": "minikube-py", "vethPrefix": "mkv"}   # optional, ours

``ipam.ranges`` (``[[{"subnet": "..."}]]``, host-local's newer form) works too; only the
first range is used. ADD ensures the bridge and attaches the pod (see ``bridge.veth``) and
prints a result with ``interfaces``, ``ips`` (with the index of the pod interface),
``routes`` and ``dns``; DEL detaches and may be repeated; CHECK verifies the wiring; VERSION
lists the supported versions. Errors are ``{"cniVersion", "code", "msg", "details"}`` on
stdout with a non-zero exit: code 1 unsupported version, 4 bad environment, 6 undecodable
JSON, 7 bad network configuration, 100 anything else (the spec reserves 100+ for plugins).

Try it by hand (as root)::

    ip netns add demo
    echo '{"cniVersion":"1.0.0","name":"demo","type":"minikube-cni","bridge":"br9",
      "ipam":{"subnet":"10.250.9.0/24"}}' |
      CNI_COMMAND=ADD CNI_CONTAINERID=demo1 CNI_NETNS=/run/netns/demo CNI_IFNAME=eth0 \\
      CNI_PATH=/opt/cni/bin python -m bridge.cni
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from typing import Any, TextIO

from bridge.config import BridgeError, NetworkConfig, veth_name
from bridge.link import ensure_bridge
from bridge.veth import Attachment, attach, detach, find_attachment
from explain.errors import MinikubeError

CNI_VERSION = "1.0.0"
SUPPORTED_VERSIONS = ["0.3.0", "0.3.1", "0.4.0", "1.0.0"]
PLUGIN_TYPE = "minikube-cni"
DEFAULT_VETH_PREFIX = "mkv"

# Error codes from the CNI specification, section "Error".
INCOMPATIBLE_VERSION = 1
INVALID_ENV = 4
DECODE_FAILURE = 6
INVALID_CONFIG = 7
PLUGIN_FAILURE = 100


class CNIError(Exception):
    """An error to report in the CNI error format."""

    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(msg)
        self.code, self.msg, self.details = code, msg, details


def parse_config(text: str) -> tuple[dict[str, Any], NetworkConfig, str]:
    """The raw JSON, our NetworkConfig and the veth prefix from the stdin config."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise CNIError(DECODE_FAILURE, "failed to decode network configuration", str(e)) from e
    if not isinstance(raw, dict):
        raise CNIError(DECODE_FAILURE, "network configuration is not a JSON object")
    version = raw.get("cniVersion", "")
    if version not in SUPPORTED_VERSIONS:
        raise CNIError(INCOMPATIBLE_VERSION, f"unsupported cniVersion {version!r}",
                       f"supported: {', '.join(SUPPORTED_VERSIONS)}")
    for key in ("name", "type"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise CNIError(INVALID_CONFIG, f"{key}: required")
    ipam = raw.get("ipam")
    if not isinstance(ipam, dict):
        raise CNIError(INVALID_CONFIG, "ipam: required")
    subnet = ipam.get("subnet")
    ranges = ipam.get("ranges")
    if subnet is None and isinstance(ranges, list) and ranges and isinstance(ranges[0], list):
        subnet = (ranges[0][0] or {}).get("subnet") if ranges[0] else None
    if not isinstance(subnet, str):
        raise CNIError(INVALID_CONFIG, "ipam.subnet: required (or ipam.ranges[0][0].subnet)")
    defaults = NetworkConfig()
    cfg = NetworkConfig(
        bridge=str(raw.get("bridge", defaults.bridge)),
        subnet=subnet,
        state_dir=str(raw.get("dataDir", ipam.get("dataDir", defaults.state_dir))),
        nft_table=str(raw.get("nftTable", defaults.nft_table)),
        name=raw["name"],
    )
    try:
        cfg.network  # noqa: B018 - validates the subnet
    except BridgeError as e:
        raise CNIError(INVALID_CONFIG, "ipam.subnet: invalid", str(e)) from e
    return raw, cfg, str(raw.get("vethPrefix", DEFAULT_VETH_PREFIX))


def _env(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "")
    if not value:
        raise CNIError(INVALID_ENV, f"{name}: required")
    return value


def result(att: Attachment, cfg: NetworkConfig, version: str) -> dict[str, Any]:
    """The ADD result: bridge, host veth, pod interface (index 2 of ``interfaces``), its IP."""
    return {
        "cniVersion": version,
        "interfaces": [
            {"name": cfg.bridge},
            {"name": att.host_veth},
            {"name": att.ifname, "mac": att.mac, "sandbox": att.netns},
        ],
        "ips": [{"address": att.address, "gateway": att.gateway, "interface": 2}],
        "routes": [{"dst": "0.0.0.0/0", "gw": att.gateway}],
        "dns": {},
    }


def run(env: Mapping[str, str], stdin: str) -> dict[str, Any] | None:
    """Do one CNI operation; returns the JSON to print (None for DEL and CHECK)."""
    command = _env(env, "CNI_COMMAND")
    if command == "VERSION":
        return {"cniVersion": CNI_VERSION, "supportedVersions": SUPPORTED_VERSIONS}
    if command not in ("ADD", "DEL", "CHECK"):
        raise CNIError(INVALID_ENV, f"CNI_COMMAND: unknown command {command!r}")
    container_id = _env(env, "CNI_CONTAINERID")
    ifname = _env(env, "CNI_IFNAME")
    raw, cfg, prefix = parse_config(stdin)
    version = raw["cniVersion"]
    host_veth = veth_name(prefix, container_id)
    if command == "DEL":  # CNI_NETNS may be empty: the netns can already be gone
        detach(cfg, container_id, host_veth, ifname)
        return None
    netns_path = _env(env, "CNI_NETNS")
    if command == "ADD":
        ensure_bridge(cfg)
        return result(attach(cfg, netns_path, container_id, host_veth, ifname), cfg, version)
    found = find_attachment(cfg, netns_path, container_id, host_veth, ifname)
    if found is None:
        raise CNIError(PLUGIN_FAILURE, f"container {container_id} has no {ifname} on {cfg.bridge}")
    previous = raw.get("prevResult") or {}
    expected = [ip.get("address") for ip in previous.get("ips", [])]
    if expected and found.address not in expected:
        raise CNIError(PLUGIN_FAILURE, f"{ifname} has {found.address}, expected {expected}")
    return None


def main(env: Mapping[str, str] | None = None, stdin: TextIO | None = None) -> int:
    """The executable: read env and stdin, print the result or the error, return the code."""
    env = os.environ if env is None else env
    text = (stdin or sys.stdin).read() if env.get("CNI_COMMAND") != "VERSION" else ""
    try:
        output = run(env, text)
    except CNIError as e:
        output, status = _error(e.code, e.msg, e.details), 1
    except MinikubeError as e:
        output, status = _error(PLUGIN_FAILURE, str(e), repr(e.__cause__ or "")), 1
    except Exception as e:  # a plugin must answer in JSON whatever happened
        msg = f"failed to run CNI {env.get('CNI_COMMAND')}: {e}"
        output, status = _error(PLUGIN_FAILURE, msg, repr(e)), 1
    else:
        status = 0
    if output is not None:
        json.dump(output, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return status


def _error(code: int, msg: str, details: str) -> dict[str, Any]:
    return {"cniVersion": CNI_VERSION, "code": code, "msg": msg, "details": details}


if __name__ == "__main__":
    sys.exit(main())
