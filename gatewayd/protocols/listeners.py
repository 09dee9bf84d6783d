"""Listening sockets for the front doors, with one clear error when an address cannot be had."""

import errno

import trio

from gatewayd.config.types import parse_listen


class ListenError(Exception):
    """An address to listen on cannot be bound (in use, not local, no permission)."""


def listen_error(name: str, address: str, error: OSError) -> ListenError:
    reason = "address already in use" if error.errno == errno.EADDRINUSE else error.strerror
    return ListenError(f"{name}: cannot listen on {address}: {reason or error}")


async def open_listeners(name: str, listen: list[str]) -> list[trio.SocketListener]:
    """Listeners on every address of `listen`, or ListenError (and none kept open)."""
    listeners: list[trio.SocketListener] = []
    for address in listen:
        host, port = parse_listen(address)
        try:
            listeners += await trio.open_tcp_listeners(port, host=host, backlog=1024)
        except OSError as error:
            for listener in listeners:
                await listener.aclose()
            raise listen_error(name, address, error) from None
    return listeners
