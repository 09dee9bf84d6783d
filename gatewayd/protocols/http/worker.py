"""An HTTP worker process (`python -m gatewayd.protocols.http.worker`, started by the daemon).

It serves the Message API on listening sockets the daemon opened and passed down, and asks
the carrier process for everything else over the service link it inherited (RemoteService),
its configuration included: it serves the one the carrier process runs on, never the file as
it may have been edited since. SIGTERM or SIGINT: stop accepting, finish the requests in
flight, exit 0. SIGHUP (passed on by the daemon once it has reloaded): fetch the
configuration again. When the link ends, the carrier process is gone: the worker stops too.
"""

import argparse
import logging
import os
import signal
import socket
import sys

import trio
from prometheus_client import CollectorRegistry

from gatewayd.core.clock import Clock
from gatewayd.core.service_link import RemoteService
from gatewayd.logs import setup_logging
from gatewayd.metrics import HttpMetrics
from gatewayd.protocols.http.server import HttpServer
from gatewayd.protocols.http.service import api_router, limits_for

log = logging.getLogger("gatewayd.http_worker")
RELOAD_TIMEOUT_S = 10.0


def run_worker(link_fd: int, listen_fds: list[int]) -> int:
    """The worker's exit status."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    trio.run(_serve, link_fd, listen_fds)
    return 0


def _inherited(fd: int) -> trio.socket.SocketType:
    return trio.socket.from_stdlib_socket(socket.socket(fileno=fd))


async def _serve(link_fd: int, listen_fds: list[int]) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        service = RemoteService(trio.SocketStream(_inherited(link_fd)), Clock())
        listeners = [trio.SocketListener(_inherited(fd)) for fd in listen_fds]
        stop = trio.Event()
        async with trio.open_nursery() as link:
            await link.start(service.run)
            config = await service.load_configuration()
            setup_logging(config.logging)
            metrics = HttpMetrics(CollectorRegistry())
            router = api_router(service, metrics.count_refusal)
            server = HttpServer(
                "api", listeners, router, limits_for(config.http), metrics.count_http
            )
            async with trio.open_nursery() as serving:
                await serving.start(server.run)
                service.notify_ready()
                async with trio.open_nursery() as watching:
                    watching.start_soon(_handle_signals, signals, service, stop)
                    watching.start_soon(_stop_when_lost, service, stop)
                    await stop.wait()
                    watching.cancel_scope.cancel()
                server.stop()
            link.cancel_scope.cancel()
    log.info("http worker %d stopped", os.getpid())


async def _handle_signals(signals, service: RemoteService, stop: trio.Event) -> None:
    async for signum in signals:
        if signum != signal.SIGHUP:
            stop.set()
            continue
        try:
            with trio.fail_after(RELOAD_TIMEOUT_S):
                await service.load_configuration()
        except Exception as error:  # the link lost, or the carrier process too slow
            log.error("http worker %d: configuration not fetched again: %r", os.getpid(), error)
        else:
            log.info("http worker %d: configuration fetched again", os.getpid())


async def _stop_when_lost(service: RemoteService, stop: trio.Event) -> None:
    await service.lost.wait()
    log.error("http worker %d: the carrier process is gone; stopping", os.getpid())
    stop.set()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m gatewayd.protocols.http.worker")
    parser.add_argument("--link-fd", type=int, required=True)
    parser.add_argument("--listen-fd", type=int, action="append", default=[])
    args = parser.parse_args(argv)
    return run_worker(args.link_fd, args.listen_fd)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
