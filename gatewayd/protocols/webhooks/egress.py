"""Sending one webhook request from one of the fixed source addresses (egress IPs).

The transport is http_client.HttpClient (keep-alive pools, httptools), measured faster here
than httpx on trio; bench/webhooks.py has the figures.

Addresses are used in turn; one that cannot be bound on this host is left out at start and
reported. Each destination host has its own concurrency limit, so one slow customer cannot
hold up the others; the whole request has a deadline; redirects are not followed (a 3xx is a
failure); at most a few KiB of the answer are read.
"""

import itertools
import logging
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import trio

from gatewayd.protocols.webhooks.formats import WebhookRequest
from gatewayd.protocols.webhooks.http_client import HttpClient, HttpError

log = logging.getLogger(__name__)
MAX_RESPONSE_BYTES = 4096


@dataclass(frozen=True)
class Attempt:
    delivered: bool
    status: int | None
    error: str | None
    source: str | None
    duration_s: float

    @property
    def summary(self) -> str:
        return f"HTTP {self.status}" if self.error is None else self.error


def probe_source_addresses(addresses: list[str]) -> tuple[list[str], dict[str, str]]:
    """(addresses this host can send from, {address: why not} for the others)."""
    usable, unusable = [], {}
    for address in addresses:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        try:
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.bind((address, 0))
            usable.append(address)
        except OSError as error:
            unusable[address] = error.strerror or str(error)
            log.error("webhook source address %s cannot be used: %s", address, unusable[address])
    return usable, unusable


class Egress:
    def __init__(
        self,
        source_addresses: list[str],
        *,
        connect_timeout_s: float = 5.0,
        timeout_s: float = 10.0,
        max_per_host: int = 8,
    ) -> None:
        self.configured = list(source_addresses)
        self.usable, self.unusable = probe_source_addresses(self.configured)
        self._timeout_s = timeout_s
        self._max_per_host = max_per_host
        sources: list[str | None] = list(self.usable) if self.configured else [None]
        self._clients = {source: HttpClient(source, connect_timeout_s) for source in sources}
        self._rotation = itertools.cycle(list(self._clients))
        self._per_host: dict[str, trio.Semaphore] = {}

    @property
    def max_per_host(self) -> int:
        return self._max_per_host

    async def send(self, request: WebhookRequest, headers: dict[str, str]) -> Attempt:
        started = time.monotonic()
        if not self._clients:
            return Attempt(False, None, "no usable source address", None, 0.0)
        source = next(self._rotation)
        try:
            host = (urlsplit(request.url).hostname or "").lower()
        except ValueError as error:
            return self._failed(f"invalid URL: {error}"[:200], source, started)
        limit = self._per_host.setdefault(host, trio.Semaphore(self._max_per_host))
        async with limit:
            with trio.move_on_after(self._timeout_s):
                try:
                    status = await self._clients[source].request(
                        request.method,
                        request.url,
                        {**request.headers, **headers},
                        request.body,
                        MAX_RESPONSE_BYTES,
                    )
                except trio.TooSlowError:
                    return self._failed("connect timeout", source, started)
                except (
                    HttpError,
                    trio.BrokenResourceError,
                    OSError,
                    ValueError,  # a port that is no port, a host name IDNA cannot encode
                ) as error:
                    return self._failed(type(error).__name__ + f": {error}"[:200], source, started)
                duration = time.monotonic() - started
                delivered = 200 <= status < 300
                return Attempt(delivered, status, None, source, duration)
        return self._failed("timeout", source, started)

    @staticmethod
    def _failed(error: str, source: str | None, started: float) -> Attempt:
        return Attempt(False, None, error, source, time.monotonic() - started)

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
