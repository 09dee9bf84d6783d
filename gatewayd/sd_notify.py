"""The systemd notification protocol (READY, STOPPING, RELOADING, WATCHDOG) over NOTIFY_SOCKET.

A few lines of socket code; no dependency needed. Outside systemd (no NOTIFY_SOCKET) every
call does nothing.
"""

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

import trio

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._socket: socket.socket | None = None
        if self._address:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.watchdog_interval = _watchdog_interval(env)

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    def notify(self, *fields: str) -> None:
        """Send 'KEY=value' fields; a failure is logged, never raised (systemd may be gone)."""
        if self._socket is None:
            return
        try:
            self._socket.sendto("\n".join(fields).encode(), self._address)
        except OSError as error:
            log.warning("cannot notify systemd at %s: %s", self._address, error)

    def ready(self, status: str = "serving") -> None:
        self.notify("READY=1", f"STATUS={status}")

    def stopping(self) -> None:
        self.notify("STOPPING=1", "STATUS=stopping")

    def reloading(self) -> None:
        monotonic_usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        self.notify("RELOADING=1", f"MONOTONIC_USEC={monotonic_usec}")

    async def keep_watchdog_fed(self, healthy: Callable[[], bool]) -> None:
        """Ping the watchdog at half its interval while `healthy()` holds; systemd restarts us
        when the pings stop (a stuck event loop stops them too)."""
        if self.watchdog_interval is None:
            return
        while True:
            if healthy():
                self.notify("WATCHDOG=1")
            await trio.sleep(self.watchdog_interval)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _watchdog_interval(env: Mapping[str, str]) -> float | None:
    usec = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return int(usec) / 2_000_000
    except ValueError:
        return None
