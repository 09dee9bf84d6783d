"""The client's address as policies see it, and the IP whitelist check."""

import ipaddress
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def client_address(
    peer: str, forwarded_for: str | None, trusted_proxies: Sequence[Network]
) -> Address | None:
    """The peer, or — when the peer is a trusted proxy — the last untrusted X-Forwarded-For hop.

    Walking the header from the right and skipping trusted proxies means a client cannot
    pretend to be someone else by sending its own X-Forwarded-For.
    """
    address = _parse(peer)
    if address is None or not forwarded_for or not _within(address, trusted_proxies):
        return address
    for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
        hop_address = _parse(hop)
        if hop_address is None:
            return address
        address = hop_address
        if not _within(address, trusted_proxies):
            return address
    return address


def allowed_by_whitelist(address: Address | None, whitelist: Sequence[Network]) -> bool:
    """An empty whitelist lets everyone in."""
    if not whitelist:
        return True
    return address is not None and _within(address, whitelist)


def _within(address: Address, networks: Sequence[Network]) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address.version == net.version and address in net for net in networks)


def _parse(text: str) -> Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:
        text = text.split(":")[0]
    try:
        return ipaddress.ip_address(text.split("%")[0])
    except ValueError:
        return None
