"""Server-side TLS for the front doors that offer it (SMTP's STARTTLS, the SMPP server)."""

import ssl


class KeyNeedsPassphrase(ValueError):
    """The private key is encrypted: a daemon under systemd has nobody to ask for its
    passphrase, so it is refused rather than prompted for on a terminal."""


def _refuse_passphrase() -> str:
    raise KeyNeedsPassphrase


def server_context(certificate: str, key: str | None) -> ssl.SSLContext:
    """A context serving `certificate` (PEM, its chain after it) with `key` (PEM; None when
    the key is in the certificate's file). Raises OSError or ssl.SSLError when a file is
    missing, unreadable, or the key does not match, KeyNeedsPassphrase when it is encrypted."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate, key, password=_refuse_passphrase)
    return context


def tls_problem(section: str, certificate: str | None, key: str | None) -> str | None:
    """Why `section`'s certificate and key cannot serve TLS, as a configuration problem that
    names the file at fault and why."""
    if key and not certificate:
        return f"{section}.tls_key: given without tls_certificate"
    if not certificate:
        return None
    key_field, key_file = ("tls_key", key) if key else ("tls_certificate", certificate)
    files = {f"{section}.tls_certificate": certificate, f"{section}.{key_field}": key_file}
    texts: dict[str, bytes] = {}
    for field, path in files.items():
        try:
            with open(path, "rb") as pem:
                texts[field] = pem.read()
        except OSError as error:
            return f"{field}: cannot read {path}: {error.strerror or error}"
    if b"-----BEGIN CERTIFICATE-----" not in texts[f"{section}.tls_certificate"]:
        return f"{section}.tls_certificate: no PEM certificate in {certificate}"
    if b"PRIVATE KEY-----" not in texts[f"{section}.{key_field}"]:
        return f"{section}.{key_field}: no PEM private key in {key_file}"
    try:
        server_context(certificate, key)
    except KeyNeedsPassphrase:
        return (
            f"{section}.{key_field}: the private key in {key_file} is protected by a passphrase,"
            " which gatewayd cannot ask for (nobody answers a prompt under systemd); store it"
            f" without one: openssl pkey -in {key_file} -out KEY_WITHOUT_PASSPHRASE.pem"
        )
    except ssl.SSLError as error:
        if error.reason == "KEY_VALUES_MISMATCH":
            return (
                f"{section}.{key_field}: the private key in {key_file} does not match the"
                f" certificate in {certificate}"
            )
        return f"{section}.tls_certificate: cannot serve TLS with {certificate}: {error}"
    except OSError as error:
        return f"{section}.tls_certificate: cannot serve TLS with {certificate}: {error}"
    return None
