"""The cluster's PKI: one CA, a serving certificate for the API server, client certificates.

A Kubernetes cluster trusts one **certificate authority** (kubeadm keeps it in
``/etc/kubernetes/pki/ca.{crt,key}``; ours is ``<state>/pki/``). The CA signs two kinds of
certificates:

- the API server's **serving certificate** (``apiserver.crt``): its *subject alternative
  names* list every name and address a client may dial — ``127.0.0.1``, ``localhost``, the
  node's name, the first service IP ``10.96.0.1`` (the ``kubernetes`` Service) and
  ``kubernetes.default.svc.cluster.local``... kubectl checks the server against this list;
- **client certificates**, one per identity: the API server reads the user name from the
  subject's common name (``CN``) and the groups from its organizations (``O``). The admin is
  ``CN=kubernetes-admin, O=system:masters``; ``system:masters`` is the group that may do
  everything. The controller manager, scheduler and kubelet get their own
  (``CN=system:kube-scheduler``...).

Bearer tokens are the other way in: ``tokens.csv`` uses kube-apiserver's ``--token-auth-file``
format, ``token,user,uid,"group1,group2"``; ``up`` puts a read-only user ``viewer`` there.

Look at them with openssl (every file here was made the way the recorded commands show)::

    openssl x509 -in /var/lib/minikube-py/pki/apiserver.crt -noout -text   # SANs, issuer
    openssl verify -CAfile /var/lib/minikube-py/pki/ca.crt .../pki/admin.crt
    ls -l /var/lib/minikube-py/pki          # keys are 0600

Keys are ECDSA P-256 (kubeadm's ``--encryption-algorithm=ECDSA-P256``; its default is RSA
2048, which is slower to generate and says nothing more). Certificates are re-made when they
are missing, not signed by the CA, about to expire, or (server) lack a requested name.
"""

from __future__ import annotations

import csv
import datetime
import ipaddress
import logging
import os
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import explain
from minikube_py.errors import MinikubeError

log = logging.getLogger(__name__)

CA_COMMON_NAME = "minikube-py-ca"
CA_DAYS = 3650  # kubeadm: 10 years for the CA, 1 year for the rest
CERT_DAYS = 365
RENEW_BEFORE = datetime.timedelta(days=30)
SERVICE_IP = "10.96.0.1"  # the first address of the service CIDR: the `kubernetes` Service
ADMIN_USER = "kubernetes-admin"
MASTERS = "system:masters"
VIEWER_USER = "viewer"


class PKIError(MinikubeError):
    """A certificate or key could not be made or read."""


@dataclass(frozen=True)
class KeyPair:
    """Where one certificate and its private key live."""

    cert: str
    key: str


@dataclass(frozen=True)
class TokenUser:
    """One line of the tokens file."""

    name: str
    uid: str
    groups: tuple[str, ...] = field(default_factory=tuple)


def pki_dir(state_dir: str) -> str:
    return os.path.join(state_dir, "pki")


def ca_paths(directory: str) -> KeyPair:
    return KeyPair(os.path.join(directory, "ca.crt"), os.path.join(directory, "ca.key"))


def server_names(node_name: str, domain: str = "cluster.local") -> tuple[list[str], list[str]]:
    """The serving certificate's DNS names and IPs (kubeadm's list, for one local node)."""
    dns = ["localhost", node_name, "kubernetes", "kubernetes.default", "kubernetes.default.svc",
           f"kubernetes.default.svc.{domain}"]
    return list(dict.fromkeys(dns)), ["127.0.0.1", SERVICE_IP]


# -- files ---------------------------------------------------------------------------------
def write_private(path: str, data: bytes) -> None:
    """Write ``data`` readable by root only (0600), atomically (tmp file + rename)."""
    tmp = f"{path}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def write_public(path: str, data: bytes) -> None:
    tmp = f"{path}.{secrets.token_hex(4)}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def load_cert(path: str) -> x509.Certificate | None:
    try:
        with open(path, "rb") as f:
            return x509.load_pem_x509_certificate(f.read())
    except (OSError, ValueError):
        return None


def load_key(path: str) -> ec.EllipticCurvePrivateKey | None:
    try:
        with open(path, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    return key if isinstance(key, ec.EllipticCurvePrivateKey) else None


# -- the commands these functions mirror ----------------------------------------------------
def openssl_genkey(path: str) -> ec.EllipticCurvePrivateKey:
    """``openssl ecparam -genkey -name prime256v1 -noout -out KEY`` (mode 0600)."""
    explain.record(["openssl", "ecparam", "-genkey", "-name", "prime256v1", "-noout",
                    "-out", path])
    key = ec.generate_private_key(ec.SECP256R1())
    write_private(path, key.private_bytes(serialization.Encoding.PEM,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return key


def subject_name(common_name: str, organizations: Sequence[str] = ()) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
    return x509.Name([*attrs, x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def subj_text(common_name: str, organizations: Sequence[str] = ()) -> str:
    return "".join(f"/O={o}" for o in organizations) + f"/CN={common_name}"


def _builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey,
             days: int) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.timezone.utc)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days)))


def openssl_req_x509_ca(paths: KeyPair, key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    """``openssl req -x509 -new -key ca.key -subj /CN=... -days 3650 -out ca.crt``."""
    explain.record(["openssl", "req", "-x509", "-new", "-key", paths.key, "-subj",
                    subj_text(CA_COMMON_NAME), "-days", str(CA_DAYS), "-addext",
                    "basicConstraints=critical,CA:TRUE", "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign,digitalSignature", "-out", paths.cert])
    name = subject_name(CA_COMMON_NAME)
    builder = (_builder(name, name, key, CA_DAYS)
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(True, False, True, False, False, True, True, False,
                                            False), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                              critical=False))
    cert = builder.sign(key, hashes.SHA256())
    write_public(paths.cert, cert.public_bytes(serialization.Encoding.PEM))
    return cert


def openssl_x509_sign(ca: KeyPair, paths: KeyPair, key: ec.EllipticCurvePrivateKey,
                      common_name: str, organizations: Sequence[str], server: bool,
                      dns_names: Sequence[str] = (), ips: Sequence[str] = ()) -> None:
    """``openssl req -new -key KEY -subj /O=.../CN=... | openssl x509 -req -CA ca.crt
    -CAkey ca.key -days 365 -extfile <(echo extendedKeyUsage=...) -out CRT``."""
    ext = ["extendedKeyUsage=" + ("serverAuth" if server else "clientAuth")]
    if dns_names or ips:
        ext.append("subjectAltName=" + ",".join([f"DNS:{d}" for d in dns_names] +
                                                [f"IP:{i}" for i in ips]))
    explain.record(f"openssl req -new -key {paths.key} -subj "
                   f"{explain.shell_join([subj_text(common_name, organizations)])} | "
                   f"openssl x509 -req -CA {ca.cert} -CAkey {ca.key} -days {CERT_DAYS} "
                   f"-extfile <(printf '%s\\n' {explain.shell_join(ext)}) -out {paths.cert}")
    ca_key, ca_cert = load_key(ca.key), load_cert(ca.cert)
    if ca_key is None or ca_cert is None:
        raise PKIError.failed("sign", "certificate", paths.cert, f"no usable CA in {ca.cert}")
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (_builder(subject_name(common_name, organizations), ca_cert.subject, key,
                        CERT_DAYS)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(True, False, True, False, False, False, False,
                                            False, False), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca_key.public_key()), critical=False))
    if dns_names or ips:
        names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
        names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    write_public(paths.cert, cert.public_bytes(serialization.Encoding.PEM))


# -- ensure_*: create, or confirm what is there --------------------------------------------
def _expiring(cert: x509.Certificate) -> bool:
    now = datetime.datetime.now(datetime.timezone.utc)
    return cert.not_valid_after_utc - now < RENEW_BEFORE


def _names(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    return (set(san.get_values_for_type(x509.DNSName)),
            {str(i) for i in san.get_values_for_type(x509.IPAddress)})


def usable(paths: KeyPair, ca_cert: x509.Certificate, subject: x509.Name,
           dns_names: Sequence[str] = (), ips: Sequence[str] = ()) -> bool:
    """Is the pair there, matching, signed by the CA, far from expiry, and naming what we
    need? (What ``openssl verify`` and ``openssl x509 -checkend`` would tell.)"""
    cert, key = load_cert(paths.cert), load_key(paths.key)
    if cert is None or key is None or _expiring(cert) or cert.subject != subject:
        return False
    if cert.public_key().public_bytes(serialization.Encoding.DER,
                                      serialization.PublicFormat.SubjectPublicKeyInfo) != \
            key.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo):
        return False
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    have_dns, have_ips = _names(cert)
    return set(dns_names) <= have_dns and set(ips) <= have_ips


def ensure_ca(directory: str) -> KeyPair:
    """The cluster CA, made on first use (``ca.crt`` + ``ca.key``)."""
    os.makedirs(directory, mode=0o755, exist_ok=True)
    paths = ca_paths(directory)
    cert, key = load_cert(paths.cert), load_key(paths.key)
    if cert is not None and key is not None and not _expiring(cert):
        return paths
    try:
        key = openssl_genkey(paths.key)
        openssl_req_x509_ca(paths, key)
    except OSError as e:
        raise PKIError.failed("create", "CA", paths.cert, e) from e
    log.info("Created cluster CA cert=%s", paths.cert)
    return paths


def _ensure_signed(directory: str, file_name: str, common_name: str,
                   organizations: Sequence[str], server: bool, dns_names: Sequence[str] = (),
                   ips: Sequence[str] = ()) -> KeyPair:
    ca = ensure_ca(directory)
    ca_cert = load_cert(ca.cert)
    if ca_cert is None:
        raise PKIError.failed("read", "CA", ca.cert, "not a PEM certificate")
    paths = KeyPair(os.path.join(directory, f"{file_name}.crt"),
                    os.path.join(directory, f"{file_name}.key"))
    if usable(paths, ca_cert, subject_name(common_name, organizations), dns_names, ips):
        return paths
    try:
        key = load_key(paths.key) or openssl_genkey(paths.key)
        openssl_x509_sign(ca, paths, key, common_name, organizations, server, dns_names, ips)
    except OSError as e:
        raise PKIError.failed("create", "certificate", paths.cert, e) from e
    log.info("Created certificate cert=%s subject=%s", paths.cert,
             subj_text(common_name, organizations))
    return paths


def ensure_server_cert(directory: str, node_name: str, extra_dns: Sequence[str] = (),
                       extra_ips: Sequence[str] = ()) -> KeyPair:
    """``apiserver.crt``: CN=kube-apiserver, with :func:`server_names` as SANs."""
    dns, ips = server_names(node_name)
    dns = list(dict.fromkeys([*dns, *extra_dns]))
    ips = list(dict.fromkeys([*ips, *extra_ips]))
    return _ensure_signed(directory, "apiserver", "kube-apiserver", (), True, dns, ips)


def ensure_client_cert(directory: str, file_name: str, user: str,
                       groups: Sequence[str] = ()) -> KeyPair:
    """``<file_name>.crt``: CN=user, one O per group (how the API server reads identities)."""
    return _ensure_signed(directory, file_name, user, groups, False)


# -- bearer tokens ---------------------------------------------------------------------------
def tokens_path(directory: str) -> str:
    return os.path.join(directory, "tokens.csv")


def read_tokens(path: str) -> dict[str, TokenUser]:
    """token -> user, from a ``--token-auth-file`` CSV; {} if the file is missing."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise PKIError.failed("read", "tokens file", path, e) from e
    users: dict[str, TokenUser] = {}
    for number, row in enumerate(rows, 1):
        if not row or row[0].startswith("#"):
            continue
        if len(row) < 3 or not row[0] or not row[1]:
            raise PKIError.failed("read", "tokens file", path,
                                  f"line {number}: want token,user,uid[,\"group1,group2\"]")
        groups = tuple(g.strip() for g in row[3].split(",") if g.strip()) if len(row) > 3 \
            else ()
        users[row[0]] = TokenUser(row[1], row[2], groups)
    return users


def ensure_token(directory: str, user: str, groups: Sequence[str] = ()) -> str:
    """The token of ``user`` in ``tokens.csv``, adding a random one if it has none."""
    path = tokens_path(directory)
    current = read_tokens(path)
    for token, info in current.items():
        if info.name == user:
            return token
    os.makedirs(directory, mode=0o755, exist_ok=True)
    token = secrets.token_hex(16)
    lines = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            lines.append(f.read().rstrip("\n"))
    row = f'{token},{user},{uuid.uuid4()},"{",".join(groups)}"'
    explain.record(f"echo {explain.shell_join([row])} >> {path}")
    write_private(path, ("\n".join([*[x for x in lines if x], row]) + "\n").encode())
    log.info("Added bearer token user=%s file=%s", user, path)
    return token
