"""A paced HTTP client: requests at a fixed rate on an absolute schedule, over a few
keep-alive connections.

Request n is due at start + n / rate, whatever happened to the ones before it: a late
request is sent at once and the next ones keep their own times, so the rate does not drift
(no sleep after each send). Connection k sends requests k, k + C, k + 2C... (C connections),
one at a time; a connection whose answer comes later than its next request's time sends
that one late, and the lateness is reported. A request's latency is taken from its due
time, not from when it went out, so a slow answer that holds back the next request is
counted in both (as wrk2 does).

The client runs in threads of the calling process (http.client), so its CPU is the
caller's, not the measured server's.
"""

import http.client
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

TIMEOUT_S = 30


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes | None = None


@dataclass
class Answers:
    """What the client saw, for the requests whose due time is in [since, until)."""

    sent: int = 0
    accepted: int = 0
    failed: int = 0
    latencies_s: list[float] = field(default_factory=list)
    max_late_s: float = 0.0
    first: float | None = None
    last: float | None = None

    def percentile_ms(self, percent: float) -> float:
        if not self.latencies_s:
            return 0.0
        ordered = sorted(self.latencies_s)
        return 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))]


class Pacer:
    """`count` requests at `rate` a second to 127.0.0.1:`port`, request n built by
    `request(n)`; an answer counts as accepted when `accepted(status, body)` holds."""

    def __init__(
        self,
        port: int,
        rate: float,
        count: int,
        request: Callable[[int], Request],
        accepted: Callable[[int, bytes], bool],
        connections: int = 4,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.port, self.rate, self.count = port, rate, count
        self._request, self._accepted = request, accepted
        self._headers = headers or {}
        self._connections = connections
        self._results: list[tuple[int, float, float, bool]] = []  # n, sent, answered, ok
        self._lock = threading.Lock()
        self.start_at = 0.0

    def due(self, n: int) -> float:
        return self.start_at + n / self.rate

    def run(self, start_at: float) -> None:
        """Send every request (the first at `start_at`, time.monotonic()), then return."""
        self.start_at = start_at
        threads = [
            threading.Thread(target=self._connection, args=(k,), daemon=True)
            for k in range(self._connections)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def answers(self, first: int, end: int) -> Answers:
        """What happened to requests first..end-1."""
        seen = Answers()
        for n, sent, answered, ok in self._results:
            if not first <= n < end:
                continue
            seen.sent += 1
            seen.accepted += ok
            seen.failed += not ok
            seen.latencies_s.append(answered - self.due(n))
            seen.max_late_s = max(seen.max_late_s, sent - self.due(n))
            seen.first = sent if seen.first is None else min(seen.first, sent)
            seen.last = answered if seen.last is None else max(seen.last, answered)
        return seen

    def _connection(self, k: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT_S)
        try:
            for n in range(k, self.count, self._connections):
                wait = self.due(n) - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                self._send(connection, n)
        finally:
            connection.close()

    def _send(self, connection: http.client.HTTPConnection, n: int) -> None:
        request = self._request(n)
        sent = time.monotonic()
        try:
            connection.request(request.method, request.path, request.body, self._headers)
            response = connection.getresponse()
            ok = self._accepted(response.status, response.read())
        except (OSError, http.client.HTTPException):
            connection.close()  # reconnects on the next request
            ok = False
        with self._lock:
            self._results.append((n, sent, time.monotonic(), ok))
