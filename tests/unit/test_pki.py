"""The cluster PKI: a CA, the API server's certificate, client certificates and tokens,
checked with the real openssl and Python's ssl module."""

from __future__ import annotations

import os
import ssl
import subprocess
from typing import Any

import pytest
from cryptography import x509

import explain
from minikube_py import pki
from minikube_py.apiserver.auth import user_from_peercert


def openssl(*args: str) -> str:
    proc = subprocess.run(["openssl", *args], capture_output=True, text=True, check=True)
    return proc.stdout


def test_server_certificate_names_every_address_kubectl_may_dial(tmp_path: Any) -> None:
    pair = pki.ensure_server_cert(str(tmp_path), "node-a")
    text = openssl("x509", "-in", pair.cert, "-noout", "-text")
    for name in ("DNS:localhost", "DNS:node-a", "DNS:kubernetes.default.svc",
                 "DNS:kubernetes.default.svc.cluster.local", "IP Address:127.0.0.1",
                 "IP Address:10.96.0.1", "TLS Web Server Authentication"):
        assert name in text
    assert "Issuer: CN = minikube-py-ca" in text


def test_certificates_verify_against_the_ca_and_keys_are_private(tmp_path: Any) -> None:
    d = str(tmp_path)
    server = pki.ensure_server_cert(d, "node-a")
    admin = pki.ensure_client_cert(d, "admin", "kubernetes-admin", ["system:masters"])
    ca = pki.ca_paths(d)
    out = openssl("verify", "-CAfile", ca.cert, server.cert, admin.cert)
    assert out.count(": OK") == 2
    for key in (ca.key, server.key, admin.key):
        assert os.stat(key).st_mode & 0o777 == 0o600
    assert os.stat(ca.cert).st_mode & 0o777 == 0o644


def test_client_certificate_subject_carries_user_and_groups(tmp_path: Any) -> None:
    pair = pki.ensure_client_cert(str(tmp_path), "dev", "alice", ["dev", "ops"])
    subject = openssl("x509", "-in", pair.cert, "-noout", "-subject")
    assert subject.strip() == "subject=O = dev, O = ops, CN = alice"


def test_ensure_keeps_a_good_certificate_and_remakes_a_foreign_one(tmp_path: Any) -> None:
    d = str(tmp_path)
    first = pki.ensure_client_cert(d, "admin", "kubernetes-admin", ["system:masters"])
    with open(first.cert, "rb") as f:
        original = f.read()
    pki.ensure_client_cert(d, "admin", "kubernetes-admin", ["system:masters"])
    with open(first.cert, "rb") as f:
        assert f.read() == original  # unchanged: still valid
    os.unlink(pki.ca_paths(d).cert)  # a new CA: the old certificate no longer verifies
    os.unlink(pki.ca_paths(d).key)
    pki.ensure_client_cert(d, "admin", "kubernetes-admin", ["system:masters"])
    with open(first.cert, "rb") as f:
        assert f.read() != original
    openssl("verify", "-CAfile", pki.ca_paths(d).cert, first.cert)


def test_server_certificate_is_remade_when_a_name_is_missing(tmp_path: Any) -> None:
    d = str(tmp_path)
    pair = pki.ensure_server_cert(d, "node-a")
    pki.ensure_server_cert(d, "node-b")
    with open(pair.cert, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "node-b" in san.get_values_for_type(x509.DNSName)


def test_creation_is_recorded_as_openssl_commands(tmp_path: Any) -> None:
    with explain.capture() as lines:
        pki.ensure_client_cert(str(tmp_path), "admin", "kubernetes-admin", ["system:masters"])
    text = "\n".join(lines)
    assert "openssl ecparam -genkey -name prime256v1" in text
    assert "openssl req -x509 -new" in text
    assert "/O=system:masters/CN=kubernetes-admin" in text


def test_python_ssl_reads_identity_from_a_verified_client_certificate(tmp_path: Any) -> None:
    d = str(tmp_path)
    admin = pki.ensure_client_cert(d, "admin", "kubernetes-admin", ["system:masters"])
    ctx = ssl.create_default_context(cafile=pki.ca_paths(d).cert)
    ctx.load_cert_chain(admin.cert, admin.key)  # the pair matches
    decoded = ssl._ssl._test_decode_cert(admin.cert)  # type: ignore[attr-defined]
    user = user_from_peercert(decoded)
    assert user is not None
    assert (user.name, user.groups) == ("kubernetes-admin", ("system:masters",))


def test_tokens_file_in_token_auth_file_format(tmp_path: Any) -> None:
    d = str(tmp_path)
    token = pki.ensure_token(d, "viewer")
    assert pki.ensure_token(d, "viewer") == token
    other = pki.ensure_token(d, "dev", ["dev", "ops"])
    users = pki.read_tokens(pki.tokens_path(d))
    assert users[token].name == "viewer"
    assert users[other].groups == ("dev", "ops")
    with open(pki.tokens_path(d)) as f:
        assert f'{other},dev,' in f.read()
    assert os.stat(pki.tokens_path(d)).st_mode & 0o777 == 0o600


def test_malformed_tokens_file_names_the_line(tmp_path: Any) -> None:
    path = tmp_path / "tokens.csv"
    path.write_text("# comment\nabc,alice,1\nbroken\n")
    with pytest.raises(pki.PKIError, match="line 3"):
        pki.read_tokens(str(path))
