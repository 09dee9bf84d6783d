"""Server-side TLS for the front doors that offer it (SMTP's STARTTLS, the SMPP server)."""

import ssl


def server_context(certificate: str, key: str | None) -> ssl.SSLContext:
    """A context serving `certificate` (PEM, its chain after it) with `key` (PEM; None when
    the key is in the certificate's file). Raises OSError or ssl.SSLError when a file is
    missing, unreadable, or the key does not match."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate, key)
    return context


def tls_problem(section: str, certificate: str | None, key: str | None) -> str | None:
    """Why `section`'s certificate and key cannot serve TLS, as a configuration problem."""
    if key and not certificate:
        return f"{section}.tls_key: given without tls_certificate"
    if not certificate:
        return None
    try:
        server_context(certificate, key)
    except (OSError, ssl.SSLError) as error:
        reason = error.strerror or error.reason or str(error)
        return f"{section}.tls_certificate: cannot serve TLS with {certificate}: {reason}"
    return None
