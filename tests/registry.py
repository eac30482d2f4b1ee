"""A real image registry for tests: Docker's distribution (``docker-registry``) on 127.0.0.1.

``scripts/install.sh`` unpacks the binary into ``.venv/bin``. :func:`run_registry` starts it
on a free loopback port with its storage under the test's tmp directory, waits until
``/v2/`` answers, and stops it (by its PID) when the block ends, even if the test failed.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, ".venv", "bin", "docker-registry")
#: Loopback requests never go through an http_proxy from the environment.
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class RunningRegistry:
    host: str  # "127.0.0.1:PORT": what an image reference starts with
    data: str  # its storage directory
    log: str

    @property
    def url(self) -> str:
        return f"http://{self.host}"


def htpasswd_auth(tmp: str, user: str, password: str) -> str:
    """The ``auth:`` section of a registry that wants this user name and password (HTTP Basic,
    an htpasswd file with a bcrypt hash, made with the C library's crypt(3))."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # crypt: gone in Python 3.13
        import crypt
    os.makedirs(tmp, exist_ok=True)
    path = os.path.join(tmp, "htpasswd")
    with open(path, "w") as f:
        f.write(f"{user}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))}\n")
    return f"auth:\n  htpasswd:\n    realm: test-realm\n    path: {path}\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def run_registry(tmp: str, auth: str = "") -> Iterator[RunningRegistry]:
    """Run a registry until the block ends; ``auth`` is extra YAML (an ``auth:`` section)."""
    if not os.access(BINARY, os.X_OK):
        raise RuntimeError(f"{BINARY} is missing: run scripts/install.sh")
    os.makedirs(tmp, exist_ok=True)
    port = _free_port()
    data = os.path.join(tmp, "registry-data")
    config = os.path.join(tmp, "registry.yml")
    with open(config, "w") as f:
        f.write(f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n"
                f"    rootdirectory: {data}\n  delete:\n    enabled: true\n"
                f"http:\n  addr: 127.0.0.1:{port}\n{auth}")
    log = os.path.join(tmp, "registry.log")
    with open(log, "ab") as out:
        proc = subprocess.Popen([BINARY, "serve", config], stdin=subprocess.DEVNULL,
                                stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                DIRECT.open(f"http://127.0.0.1:{port}/v2/", timeout=2).close()
                break
            except urllib.error.HTTPError:  # 401 with auth configured: it is up
                break
            except OSError as e:
                if proc.poll() is not None or time.monotonic() > deadline:
                    with open(log) as f:
                        raise RuntimeError(f"docker-registry did not start:\n{f.read()}") from e
                time.sleep(0.05)
        yield RunningRegistry(f"127.0.0.1:{port}", data, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
