"""``python -m bridge.cni`` driven the way a container runtime drives a CNI plugin."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from typing import Any

import pytest

import bridge
import netns

pytestmark = pytest.mark.root

ROOT = __file__.rsplit("/tests/", 1)[0]


@pytest.fixture
def setup(test_names, tmp_path):
    """A netns, a network config (as JSON) and the env a runtime would pass."""
    ns = f"{test_names.prefix}cni"
    path = netns.ensure_netns(ns)
    conf = {
        "cniVersion": "1.0.0",
        "name": "testnet",
        "type": "minikube-cni",
        "bridge": test_names.bridge,
        "ipam": {"type": "host-local", "subnet": f"10.250.{random.randint(1, 254)}.0/24"},
        "dataDir": str(tmp_path / "networks"),
        "nftTable": test_names.nft_table,
        "vethPrefix": test_names.prefix,
    }
    env = {"CNI_CONTAINERID": "abc123def456", "CNI_NETNS": path, "CNI_IFNAME": "eth0",
           "CNI_PATH": "/opt/cni/bin", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    yield ns, conf, env
    cfg = bridge.NetworkConfig(bridge=conf["bridge"], subnet=conf["ipam"]["subnet"],
                               state_dir=conf["dataDir"], nft_table=conf["nftTable"],
                               name=conf["name"])
    bridge.detach(cfg, env["CNI_CONTAINERID"], bridge.veth_name(test_names.prefix, "abc123def456"))
    netns.delete_netns(ns)
    bridge.delete_bridge(cfg)


def cni(command: str, env: dict, conf: dict | str) -> tuple[int, Any]:
    stdin = conf if isinstance(conf, str) else json.dumps(conf)
    result = subprocess.run([sys.executable, "-m", "bridge.cni"], input=stdin, cwd=ROOT,
                            env={**env, "CNI_COMMAND": command}, capture_output=True,
                            text=True, timeout=30)
    return result.returncode, json.loads(result.stdout) if result.stdout.strip() else None


def test_add_wires_the_pod_and_returns_a_cni_result(setup, test_names):
    ns, conf, env = setup
    code, out = cni("ADD", env, conf)
    assert code == 0, out
    assert out["cniVersion"] == "1.0.0"
    names = [i["name"] for i in out["interfaces"]]
    assert names == [test_names.bridge, f"{test_names.prefix}abc123def", "eth0"]
    pod_if = out["interfaces"][out["ips"][0]["interface"]]
    assert pod_if["name"] == "eth0" and pod_if["sandbox"] == env["CNI_NETNS"]
    gateway = conf["ipam"]["subnet"].replace(".0/24", ".1")
    assert out["ips"][0] == {"address": conf["ipam"]["subnet"].replace(".0/24", ".2/24"),
                             "gateway": gateway, "interface": 2}
    assert out["routes"] == [{"dst": "0.0.0.0/0", "gw": gateway}]
    assert "dns" in out
    ping = subprocess.run(["ip", "netns", "exec", ns, "busybox", "ping", "-c1", "-W1", gateway],
                          capture_output=True, text=True, timeout=10)
    assert ping.returncode == 0, ping.stdout


def test_check_passes_after_add_and_fails_after_del(setup):
    _ns, conf, env = setup
    code, added = cni("ADD", env, conf)
    assert code == 0, added
    assert cni("CHECK", env, {**conf, "prevResult": added}) == (0, None)
    assert cni("DEL", env, conf) == (0, None)
    code, out = cni("CHECK", env, conf)
    assert code != 0 and out["code"] == 100 and "has no eth0" in out["msg"]


def test_del_twice_succeeds_even_without_a_netns(setup, test_names):
    _ns, conf, env = setup
    assert cni("ADD", env, conf)[0] == 0
    assert cni("DEL", env, conf) == (0, None)
    assert cni("DEL", {**env, "CNI_NETNS": ""}, conf) == (0, None)
    veth = subprocess.run(["ip", "link", "show", f"{test_names.prefix}abc123def"],
                          capture_output=True)
    assert veth.returncode != 0


def test_version_lists_the_supported_versions(setup):
    _ns, _conf, env = setup
    code, out = cni("VERSION", env, '{"cniVersion": "1.0.0"}')
    assert code == 0 and out["cniVersion"] == "1.0.0"
    assert "1.0.0" in out["supportedVersions"] and "0.4.0" in out["supportedVersions"]


def test_add_without_cni_netns_is_error_4(setup):
    _ns, conf, env = setup
    code, out = cni("ADD", {k: v for k, v in env.items() if k != "CNI_NETNS"}, conf)
    assert code != 0
    assert out == {"cniVersion": "1.0.0", "code": 4, "msg": "CNI_NETNS: required",
                   "details": ""}


def test_bad_json_is_error_6_and_a_config_without_subnet_is_error_7(setup):
    _ns, conf, env = setup
    code, out = cni("ADD", env, "{not json")
    assert code != 0 and out["code"] == 6
    code, out = cni("ADD", env, {**conf, "ipam": {"type": "host-local"}})
    assert code != 0 and out["code"] == 7 and "ipam.subnet" in out["msg"]
    code, out = cni("ADD", env, {**conf, "cniVersion": "9.9.9"})
    assert code != 0 and out["code"] == 1


def test_ranges_in_the_host_local_form_are_understood(setup):
    _ns, conf, env = setup
    subnet = conf["ipam"]["subnet"]
    ranged = {**conf, "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]]}}
    code, out = cni("ADD", env, ranged)
    assert code == 0, out
    assert out["ips"][0]["address"] == subnet.replace(".0/24", ".2/24")
