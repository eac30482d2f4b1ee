"""Host-local IPAM: which pod has which IP, kept as one small file per address.

Kubernetes concept: IP address management is the CNI plugin's job, not the API server's.
On most clusters the "host-local" IPAM plugin hands out addresses from the node's pod CIDR
and remembers them in plain files, so the state survives a kubelet or node restart. We use
the same layout, so the files look exactly like a real node's::

    /var/lib/minikube-py/networks/minikube-py/
        10.244.0.2          "<container id>\\r\\n<ifname>"   one file per allocated IP
        10.244.0.3
        last_reserved_ip.0  "10.244.0.3"                    where the round-robin goes on
        lock                flock(2)ed while allocating or releasing

Allocation is round-robin: it starts after the last reserved address (so a freed IP is not
handed to the next pod at once), skips the network address, the gateway (.1) and the
broadcast address, and takes the first address whose file can be created with O_EXCL.
No kernel object is touched here: only files.

See them::

    ls /var/lib/minikube-py/networks/minikube-py/
    grep -r . /var/lib/minikube-py/networks/minikube-py/
"""

from __future__ import annotations

import fcntl
import ipaddress
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

from bridge.config import BridgeError, IPAMExhausted, NetworkConfig

log = logging.getLogger(__name__)

LAST_RESERVED = "last_reserved_ip.0"
LOCK = "lock"
LINE_BREAK = "\r\n"


@contextmanager
def _locked(cfg: NetworkConfig) -> Iterator[str]:
    """Hold an exclusive flock on ``<ipam_dir>/lock``; yields the directory."""
    directory = cfg.ipam_dir
    try:
        os.makedirs(directory, mode=0o755, exist_ok=True)
        fd = os.open(os.path.join(directory, LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as e:
        raise BridgeError.failed("lock", "IPAM directory", directory, e) from e
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield directory
    finally:
        os.close(fd)  # closing releases the lock


def _candidates(cfg: NetworkConfig, last: str | None) -> list[ipaddress.IPv4Address]:
    """Usable addresses in round-robin order, starting just after ``last``."""
    network = cfg.network
    gateway = ipaddress.IPv4Address(cfg.gateway)
    hosts = [ip for ip in network.hosts() if ip != gateway]
    if last is not None:
        try:
            after = hosts.index(ipaddress.IPv4Address(last)) + 1
        except ValueError:
            after = 0
        hosts = hosts[after:] + hosts[:after]
    return hosts


def _read(path: str) -> tuple[str, str] | None:
    try:
        with open(path, newline="") as f:  # keep the "\r\n" separator as it is
            content = f.read()
    except (FileNotFoundError, IsADirectoryError):
        return None
    container_id, _, ifname = content.partition(LINE_BREAK)
    return container_id.strip(), ifname.strip()


def allocations(cfg: NetworkConfig) -> dict[str, tuple[str, str]]:
    """Every allocated IP of the network: ``{"10.244.0.2": (container_id, ifname)}``."""
    try:
        names = os.listdir(cfg.ipam_dir)
    except FileNotFoundError:
        return {}
    found = {}
    for name in names:
        try:
            ipaddress.IPv4Address(name)
        except ValueError:
            continue  # lock, last_reserved_ip.0
        owner = _read(os.path.join(cfg.ipam_dir, name))
        if owner is not None:
            found[name] = owner
    return found


def find_allocation(cfg: NetworkConfig, container_id: str, ifname: str) -> str | None:
    """The IP allocated to ``(container_id, ifname)``, or None."""
    for ip, owner in allocations(cfg).items():
        if owner == (container_id, ifname):
            return ip
    return None


def allocate(cfg: NetworkConfig, container_id: str, ifname: str) -> str:
    """Reserve an IP for ``(container_id, ifname)`` and return it (``"10.244.0.2"``).

    Asking again for the same pair returns the same IP. Raises :class:`IPAMExhausted`,
    naming the subnet, when every usable address is taken.
    """
    with _locked(cfg) as directory:
        existing = find_allocation(cfg, container_id, ifname)
        if existing is not None:
            return existing
        last_path = os.path.join(directory, LAST_RESERVED)
        last = _read(last_path)
        for ip in _candidates(cfg, last[0] if last else None):
            path = os.path.join(directory, str(ip))
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                continue
            except OSError as e:
                raise BridgeError.failed("allocate", "IP in", cfg.subnet, e) from e
            with os.fdopen(fd, "w", newline="") as f:
                f.write(f"{container_id}{LINE_BREAK}{ifname}")
            with open(last_path, "w") as f:
                f.write(str(ip))
            log.info("Allocated IP ip=%s container=%s ifname=%s", ip, container_id, ifname)
            return str(ip)
    raise IPAMExhausted.failed(
        "allocate",
        "IP in",
        cfg.subnet,
        f"no free address left for container {container_id} "
        f"({len(allocations(cfg))} allocated, gateway {cfg.gateway} reserved)",
    )


def release(cfg: NetworkConfig, container_id: str, ifname: str) -> None:
    """Free the IP of ``(container_id, ifname)``; nothing to do if it has none."""
    if not os.path.isdir(cfg.ipam_dir):
        return
    with _locked(cfg) as directory:
        for ip, owner in allocations(cfg).items():
            if owner == (container_id, ifname):
                try:
                    os.unlink(os.path.join(directory, ip))
                except FileNotFoundError:
                    pass
                log.info("Released IP ip=%s container=%s ifname=%s", ip, container_id, ifname)
