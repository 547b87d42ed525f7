"""The lab CA: what `certs init` writes, what each certificate allows, and its errors."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from ringlab.controller.cli import main
from ringlab.controller.remote.certs import parse_hosts_option, write_lab_pki
from ringlab.errors import CertsError


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def alt_names(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return (
        san.get_values_for_type(x509.DNSName),
        [str(a) for a in san.get_values_for_type(x509.IPAddress)],
    )


def test_pki_has_a_ca_host_certificates_and_a_client_certificate(tmp_path: Path) -> None:
    pki = write_lab_pki(tmp_path, {"a": ["192.0.2.10"], "b": ["b.lab.example", "2001:db8::2"]})
    ca = load(pki.ca.cert)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for name, issued in pki.hosts.items():
        cert = load(issued.cert)
        # Signed by the CA (raises if not).
        cert.verify_directly_issued_by(ca)
        usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
        dns, ips = alt_names(cert)
        assert name in dns and "localhost" in dns
        assert "127.0.0.1" in ips
        assert stat.S_IMODE(issued.key.stat().st_mode) == 0o600
    assert "192.0.2.10" in alt_names(load(pki.hosts["a"].cert))[1]
    dns_b, ips_b = alt_names(load(pki.hosts["b"].cert))
    assert "b.lab.example" in dns_b
    assert str(ipaddress.ip_address("2001:db8::2")) in ips_b
    client = load(pki.client.cert)
    client.verify_directly_issued_by(ca)
    usage = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert isinstance(client.public_key(), ec.EllipticCurvePublicKey)


def test_an_existing_ca_is_never_replaced_silently(tmp_path: Path) -> None:
    first = write_lab_pki(tmp_path, {"a": []})
    before = first.ca.cert.read_bytes()
    with pytest.raises(CertsError, match="already holds a CA"):
        write_lab_pki(tmp_path, {"a": []})
    assert first.ca.cert.read_bytes() == before
    assert write_lab_pki(tmp_path, {"a": []}, force=True).ca.cert.read_bytes() != before


def test_hosts_option() -> None:
    assert parse_hosts_option("a=192.0.2.10, b ,c=c.lab+10.0.0.3") == {
        "a": ["192.0.2.10"],
        "b": [],
        "c": ["c.lab", "10.0.0.3"],
    }
    with pytest.raises(CertsError, match="twice"):
        parse_hosts_option("a,a")
    with pytest.raises(CertsError, match="no host name"):
        parse_hosts_option("=192.0.2.1")


def test_certs_init_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inventory = tmp_path / "lab.yaml"
    inventory.write_text("version: 1\nhosts:\n  x: {ssh: {address: 198.18.0.9}}\n")
    code = main(["certs", "init", "--dir", str(tmp_path / "pki"), "--hosts", "y=198.18.0.10",
                 "--inventory", str(inventory)])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "agent_cert:" in out and "transport: direct" in out
    assert "198.18.0.9" in alt_names(load(tmp_path / "pki" / "hosts" / "x.crt"))[1]
    assert (tmp_path / "pki" / "hosts" / "y.crt").exists()
    again = main(["certs", "init", "--dir", str(tmp_path / "pki"), "--hosts", "y"])
    assert again == 2
    assert "already holds a CA" in capsys.readouterr().err
