"""An HTTP worker process (`python -m gatewayd.protocols.http.worker`, started by the daemon).

It serves the Message API on listening sockets the daemon opened and passed down, and asks
the carrier process for everything else over the service link it inherited (RemoteService).
SIGTERM or SIGINT: stop accepting, finish the requests in flight, exit 0. SIGHUP: reload the
configuration (the daemon reloads its own and passes the signal on). When the link ends, the
carrier process is gone: the worker stops too.
"""

import argparse
import logging
import os
import signal
import socket
import sys
from pathlib import Path

import trio
from prometheus_client import CollectorRegistry

from gatewayd.config.holder import ConfigHolder
from gatewayd.config.loader import load_config
from gatewayd.core.clock import Clock
from gatewayd.core.service_link import RemoteService
from gatewayd.logs import setup_logging
from gatewayd.metrics import HttpMetrics
from gatewayd.protocols.http.server import HttpServer
from gatewayd.protocols.http.service import api_router, limits_for

log = logging.getLogger("gatewayd.http_worker")


def run_worker(config_path: Path, link_fd: int, listen_fds: list[int]) -> int:
    """The worker's exit status."""
    config = load_config(config_path)
    setup_logging(config.logging)
    trio.run(_serve, config_path, link_fd, listen_fds)
    return 0


def _inherited(fd: int) -> trio.socket.SocketType:
    return trio.socket.from_stdlib_socket(socket.socket(fileno=fd))


async def _serve(config_path: Path, link_fd: int, listen_fds: list[int]) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        holder = ConfigHolder(config_path, load_config(config_path))
        service = RemoteService(holder, trio.SocketStream(_inherited(link_fd)), Clock())
        listeners = [trio.SocketListener(_inherited(fd)) for fd in listen_fds]
        metrics = HttpMetrics(CollectorRegistry())
        server = HttpServer(
            "api",
            listeners,
            api_router(service),
            limits_for(holder.current.config.http),
            metrics.count_http,
        )
        stop = trio.Event()
        async with trio.open_nursery() as link:
            await link.start(service.run)
            async with trio.open_nursery() as serving:
                await serving.start(server.run)
                service.notify_ready()
                async with trio.open_nursery() as watching:
                    watching.start_soon(_handle_signals, signals, holder, stop)
                    watching.start_soon(_stop_when_lost, service, stop)
                    await stop.wait()
                    watching.cancel_scope.cancel()
                server.stop()
            link.cancel_scope.cancel()
    log.info("http worker %d stopped", os.getpid())


async def _handle_signals(signals, holder: ConfigHolder, stop: trio.Event) -> None:
    async for signum in signals:
        if signum == signal.SIGHUP:
            await holder.reload()
        else:
            stop.set()


async def _stop_when_lost(service: RemoteService, stop: trio.Event) -> None:
    await service.lost.wait()
    log.error("http worker %d: the carrier process is gone; stopping", os.getpid())
    stop.set()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gatewayd http-worker")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--link-fd", type=int, required=True)
    parser.add_argument("--listen-fd", type=int, action="append", default=[])
    args = parser.parse_args(argv)
    return run_worker(args.config, args.link_fd, args.listen_fd)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
