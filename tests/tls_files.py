"""A certificate for 127.0.0.1 from a throwaway authority, written as PEM files, for the
front doors that serve TLS (SMTP's STARTTLS, the SMPP server) and the peers that check them."""

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class IssuedFiles:
    authority: trustme.CA
    certificate: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts the authority (and so the certificate)."""
        context = ssl.create_default_context()
        self.authority.configure_trust(context)
        return context


def issue_files(directory: Path, name: str) -> IssuedFiles:
    """`name`.crt and `name`.key in `directory`: a certificate for 127.0.0.1 and its key."""
    authority = trustme.CA()
    issued = authority.issue_cert("127.0.0.1")
    certificate, key = directory / f"{name}.crt", directory / f"{name}.key"
    issued.cert_chain_pems[0].write_to_path(certificate)
    issued.private_key_pem.write_to_path(key)
    return IssuedFiles(authority, certificate, key)
