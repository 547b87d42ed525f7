"""A lab's own certificate authority for agents in direct (mutual TLS) mode.

`write_lab_pki` makes a CA, one server certificate per host (its name and
addresses as subjectAltNames, plus loopback so a TLS agent can also sit behind
an SSH tunnel) and one client certificate for the controller. The agent then
accepts only clients whose certificate this CA signed, and the controller only
agents whose certificate it signed. Keys are ECDSA P-256 (small, fast, accepted
by gRPC's TLS stack); they are written mode 0600.

Built on the `cryptography` package, which asyncssh already depends on.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ringlab.errors import CertsError

VALID_DAYS = 825
CLIENT_NAME = "ringlab-controller"


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


@dataclass(frozen=True)
class LabPki:
    directory: Path
    ca: Issued
    client: Issued
    hosts: dict[str, Issued]


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ringlab lab"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _alt_name(value: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(value))
    except ValueError:
        return x509.DNSName(value)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def make_ca(
    common_name: str = "ringlab lab CA",
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _key()
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    common_name: str,
    alt_names: Sequence[str],
    client: bool,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A leaf certificate for a server (alt_names checked by clients) or a client."""
    key = _key()
    now = datetime.datetime.now(datetime.UTC)
    usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    unique = list(dict.fromkeys(alt_names))
    if unique:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_alt_name(a) for a in unique]), critical=False
        )
    return key, builder.sign(ca_key, hashes.SHA256())


def _write(path: Path, data: bytes, private: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    fd = os.open(path, flags, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _save(
    directory: Path, stem: str, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate
) -> Issued:
    issued = Issued(directory / f"{stem}.crt", directory / f"{stem}.key")
    _write(issued.cert, cert.public_bytes(serialization.Encoding.PEM), private=False)
    _write(
        issued.key,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        private=True,
    )
    return issued


def write_lab_pki(
    directory: Path, hosts: Mapping[str, Sequence[str]], force: bool = False
) -> LabPki:
    """CA, client and one server certificate per host (name -> extra addresses/DNS names)."""
    if not hosts:
        raise CertsError("no hosts given; name them, like --hosts a=192.0.2.10,b=192.0.2.11")
    if (directory / "ca.key").exists() and not force:
        raise CertsError(
            f"{directory} already holds a CA (ca.key); agents trust it already. Use another "
            "--dir, or --force to replace it (every host then needs `ringlab deploy` again)"
        )
    ca_key, ca_cert = make_ca()
    ca = _save(directory, "ca", ca_key, ca_cert)
    client_key, client_cert = issue(ca_key, ca_cert, CLIENT_NAME, [], client=True)
    client = _save(directory, "client", client_key, client_cert)
    issued: dict[str, Issued] = {}
    for name, addresses in hosts.items():
        names = [name, *addresses, "localhost", "127.0.0.1", "::1"]
        key, cert = issue(ca_key, ca_cert, name, names, client=False)
        issued[name] = _save(directory / "hosts", name, key, cert)
    return LabPki(directory, ca, client, issued)


def parse_hosts_option(text: str) -> dict[str, list[str]]:
    """`a=192.0.2.10,b,c=c.lab+10.0.0.3` -> {a: [192.0.2.10], b: [], c: [c.lab, 10.0.0.3]}."""
    hosts: dict[str, list[str]] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, _, addresses = item.partition("=")
        name = name.strip()
        if not name:
            raise CertsError(f"--hosts item {item!r} has no host name; write NAME or NAME=ADDRESS")
        if name in hosts:
            raise CertsError(f"--hosts names {name!r} twice; give each host once")
        hosts[name] = [a.strip() for a in addresses.split("+") if a.strip()]
    return hosts


def inventory_snippet(pki: LabPki) -> str:
    """The tls: block for each host, to paste into an inventory."""
    lines = []
    for name, issued in pki.hosts.items():
        lines += [
            f"  {name}:",
            "    transport: direct",
            "    tls:",
            f"      ca: {pki.ca.cert}",
            f"      cert: {pki.client.cert}",
            f"      key: {pki.client.key}",
            f"      agent_cert: {issued.cert}",
            f"      agent_key: {issued.key}",
        ]
    return "\n".join(lines)
