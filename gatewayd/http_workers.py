"""The Message API served by worker processes beside the carrier process (`http.workers`).

This process opens the API's listening sockets (so "address already in use" is found before
anything shared is touched, as for every front door) and starts the workers, which all accept
on them: the kernel shares the connections out. Each worker has a socketpair of its own to
this process, where `serve_link` runs its calls on the MessageService; so this process stays
the only writer. A worker that exits while the daemon runs is logged and started again (with
a growing delay while it keeps failing); SIGHUP is passed on; at stop, the workers are sent
SIGTERM first, finish their requests in flight and exit, and only then does the daemon stop
its own work. Their HTTP metrics are kept in prometheus-client's multiprocess files, which
this process's /metrics merges.
"""

import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path

import trio

from gatewayd.config.holder import ConfigHolder
from gatewayd.core.message_service import MessageService
from gatewayd.core.service_link import serve_link
from gatewayd.metrics import Metrics
from gatewayd.processes import pid_alive
from gatewayd.protocols.http.server import ServerLimits
from gatewayd.protocols.listeners import open_listeners

log = logging.getLogger("gatewayd.http_workers")

READY_TIMEOUT_S = 30.0
"""A worker that has not said it serves by then at start is a failed start."""
STOP_GRACE_S = 5.0
"""Beyond the HTTP drain time, how long a stopping worker may take before it is killed."""
RESTART_DELAYS_S = (0.5, 1.0, 2.0, 5.0, 10.0)
STEADY_S = 30.0
"""A worker that ran this long before it exited is restarted after the shortest delay."""


class WorkerFailedToStart(Exception):
    """A worker exited, or did not say it serves in time, when the daemon started."""


class HttpWorkers:
    def __init__(
        self,
        count: int,
        holder: ConfigHolder,
        service: MessageService,
        metrics: Metrics,
    ) -> None:
        self.count = count
        self._holder = holder
        self._service = service
        self._metrics = metrics
        self._processes: dict[int, trio.Process] = {}
        self._serving: set[int] = set()
        self._reloads = 0
        self._stopping = False

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self._processes.values()]

    def reload(self) -> None:
        """Have every worker fetch this process's configuration again (SIGHUP), once it has
        reloaded. One still starting is told once it serves, as it may have fetched the
        configuration before: a signal sent before it handles SIGHUP would end it."""
        self._reloads += 1
        self._signal(signal.SIGHUP, self._serving)

    def _signal(self, signum: int, numbers: set[int] | None = None) -> None:
        for number, process in self._processes.items():
            if process.returncode is None and (numbers is None or number in numbers):
                process.send_signal(signum)

    async def serve(self, stop_requested: trio.Event, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Open the listeners, start the workers and keep them running until `stop_requested`;
        then stop them. Started once every worker serves (the listeners' addresses)."""
        http = self._holder.current.config.http
        listeners = await open_listeners("api", [str(address) for address in http.listen])
        files = _metrics_directory()
        self._metrics.merge_workers(files)
        try:
            # At stop, the workers get SIGTERM and the drain time; past it, this scope ends
            # what still runs, and each worker still running is killed as its task ends.
            with trio.CancelScope() as stopping:
                async with trio.open_nursery() as nursery:
                    started = [trio.Event() for _ in range(self.count)]
                    for number, ready in enumerate(started, 1):
                        nursery.start_soon(self._keep, number, listeners, files, ready)
                    with trio.move_on_after(READY_TIMEOUT_S) as waiting:
                        for ready in started:
                            await ready.wait()
                    if waiting.cancelled_caught:
                        raise WorkerFailedToStart(
                            f"api: {sum(not r.is_set() for r in started)} of {self.count} HTTP "
                            f"workers did not start serving within {READY_TIMEOUT_S:.0f} s"
                        )
                    addresses = [listener.socket.getsockname()[:2] for listener in listeners]
                    task_status.started(addresses)
                    log.info("Message API served by %d worker processes: %s", self.count, self.pids)
                    await stop_requested.wait()
                    self._stopping = True  # none is started again
                    self._signal(signal.SIGTERM)
                    drain = ServerLimits().drain_timeout_s + STOP_GRACE_S
                    stopping.deadline = trio.current_time() + drain
        finally:
            with trio.CancelScope(shield=True):
                self._metrics.merge_workers(None)
                shutil.rmtree(files, ignore_errors=True)
                for listener in listeners:
                    await listener.aclose()

    async def _keep(
        self,
        number: int,
        listeners: list[trio.SocketListener],
        files: str,
        ready: trio.Event,
    ) -> None:
        """Run worker `number`, and again whenever it exits while the daemon runs."""
        failures = 0
        while not self._stopping:
            began = trio.current_time()
            serving = partial(self._now_serving, number, self._reloads, ready)
            try:
                status: int | str = await self._run_once(number, listeners, files, serving)
            except OSError as error:  # no process for it (EAGAIN, ENOMEM)
                if not ready.is_set():
                    raise WorkerFailedToStart(
                        f"api: HTTP worker {number} cannot be started: {error}"
                    ) from None
                status = f"none (not started: {error})"
            finally:
                self._serving.discard(number)
            if self._stopping:
                return
            if not ready.is_set():
                raise WorkerFailedToStart(
                    f"api: HTTP worker {number} exited with status {status} before it served"
                )
            failures = 0 if trio.current_time() - began >= STEADY_S else failures + 1
            delay = RESTART_DELAYS_S[min(failures, len(RESTART_DELAYS_S) - 1)]
            log.error(
                "HTTP worker %d exited with status %s; starting another in %.1f s",
                number,
                status,
                delay,
            )
            self._metrics.http_worker_restarts.inc()
            await trio.sleep(delay)

    def _now_serving(self, number: int, reloads_at_start: int, ready: trio.Event) -> None:
        self._serving.add(number)
        if self._reloads != reloads_at_start:
            self._signal(signal.SIGHUP, {number})
        ready.set()

    async def _run_once(
        self,
        number: int,
        listeners: list[trio.SocketListener],
        files: str,
        on_ready: Callable[[], None],
    ) -> int:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        listen_fds = [listener.socket.fileno() for listener in listeners]
        command = [sys.executable, "-m", "gatewayd.protocols.http.worker"]
        command += ["--link-fd", str(theirs.fileno())]
        for fd in listen_fds:
            command += ["--listen-fd", str(fd)]
        environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": files}
        environment.pop("NOTIFY_SOCKET", None)
        try:
            # A session of its own: a terminal's Ctrl-C reaches this process only, which
            # then stops the workers in order.
            process = await trio.lowlevel.open_process(
                command,
                pass_fds=(theirs.fileno(), *listen_fds),
                env=environment,
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._processes[number] = process
        if self._stopping:  # started while the daemon began to stop: stop it too
            process.send_signal(signal.SIGTERM)
        link = trio.SocketStream(trio.socket.from_stdlib_socket(ours))
        try:
            # The link ends when the worker has exited (its end closes), after the calls it
            # made have finished: their writes are never abandoned half way.
            async with trio.open_nursery() as nursery:
                directory = lambda: self._holder.current.directory  # noqa: E731
                nursery.start_soon(serve_link, link, self._service, directory, on_ready)
                status = await process.wait()
        finally:
            # Also when cancelled (past the drain time, or the daemon failed to start): no
            # worker outlives it.
            with trio.CancelScope(shield=True):
                await link.aclose()
                if process.returncode is None:
                    if self._stopping:
                        log.error("HTTP worker %d did not stop in time; killed", number)
                    process.kill()
                    await process.wait()
        return status


def _metrics_directory() -> str:
    """A new directory for the workers' metrics files, after removing those left by daemons
    that are gone (killed with -9, say)."""
    prefix = "gatewayd-http-metrics-"
    for stale in Path(tempfile.gettempdir()).glob(f"{prefix}*-*"):
        pid = stale.name.removeprefix(prefix).split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-")
