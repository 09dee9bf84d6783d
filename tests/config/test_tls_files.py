"""TLS files of the front doors that serve TLS (smtp, smpp_server), checked at load: each
refusal names the file at fault and why."""

import textwrap
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from gatewayd.config.errors import ConfigError
from gatewayd.config.loader import parse_config
from gatewayd.protocols.tls import KeyNeedsPassphrase, server_context
from tests.tls_files import IssuedFiles, issue_files

MINIMAL = """
carriers: [{name: sim, simulator: true}]
accounts:
  - name: acme
    numbers: [{number: "8686", application: shop}]
    applications:
      - name: shop
        api_keys: ["key-0123456789"]
        default_number: "8686"
"""
SECTIONS = {
    "smpp_server": "smpp_server: {{{files}}}\n",
    "smtp": "smtp: {{domain: example.org, {files}}}\n",
}


def problems_with(section: str, certificate: Path, key: Path | None = None) -> list[str]:
    files = f"tls_certificate: '{certificate}'" + (f", tls_key: '{key}'" if key else "")
    text = textwrap.dedent(MINIMAL) + SECTIONS[section].format(files=files)
    try:
        parse_config(text, environ={})
    except ConfigError as error:
        return error.problems
    return []


def encrypted_key(issued: IssuedFiles, path: Path) -> Path:
    key = serialization.load_pem_private_key(issued.key.read_bytes(), password=None)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"hunter2"),
        )
    )
    return path


@pytest.fixture
def issued(tmp_path) -> IssuedFiles:
    return issue_files(tmp_path, "server")


@pytest.mark.parametrize("section", SECTIONS)
def test_a_certificate_and_its_key_load(section, issued):
    assert problems_with(section, issued.certificate, issued.key) == []


@pytest.mark.parametrize("section", SECTIONS)
def test_a_missing_or_unreadable_file_is_named_with_why(section, issued, tmp_path):
    missing = tmp_path / "missing.pem"
    assert problems_with(section, missing, issued.key) == [
        f"{section}.tls_certificate: cannot read {missing}: No such file or directory"
    ]
    assert problems_with(section, issued.certificate, missing) == [
        f"{section}.tls_key: cannot read {missing}: No such file or directory"
    ]
    assert problems_with(section, issued.certificate, tmp_path) == [
        f"{section}.tls_key: cannot read {tmp_path}: Is a directory"
    ]


@pytest.mark.parametrize("section", SECTIONS)
def test_files_that_hold_no_certificate_or_no_key_are_named(section, issued, tmp_path):
    assert problems_with(section, issued.key, issued.key) == [
        f"{section}.tls_certificate: no PEM certificate in {issued.key}"
    ]
    assert problems_with(section, issued.certificate, issued.certificate) == [
        f"{section}.tls_key: no PEM private key in {issued.certificate}"
    ]
    assert problems_with(section, issued.certificate) == [
        f"{section}.tls_certificate: no PEM private key in {issued.certificate}"
    ]


@pytest.mark.parametrize("section", SECTIONS)
def test_a_key_protected_by_a_passphrase_is_refused_at_load(section, issued, tmp_path):
    """Nobody answers a passphrase prompt under systemd: refused, never asked for."""
    locked = encrypted_key(issued, tmp_path / "locked.key")
    [problem] = problems_with(section, issued.certificate, locked)
    assert problem.startswith(
        f"{section}.tls_key: the private key in {locked} is protected by a passphrase"
    ), problem
    assert "openssl pkey" in problem
    combined = tmp_path / "combined.pem"
    combined.write_bytes(issued.certificate.read_bytes() + locked.read_bytes())
    [problem] = problems_with(section, combined)
    assert problem.startswith(f"{section}.tls_certificate: the private key in {combined}")
    with pytest.raises(KeyNeedsPassphrase):
        server_context(str(issued.certificate), str(locked))


@pytest.mark.parametrize("section", SECTIONS)
def test_a_key_that_does_not_match_the_certificate_is_named(section, issued, tmp_path):
    other = issue_files(tmp_path, "other")
    assert problems_with(section, issued.certificate, other.key) == [
        f"{section}.tls_key: the private key in {other.key} does not match the certificate"
        f" in {issued.certificate}"
    ]
