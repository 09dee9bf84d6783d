"""The two HTTP listeners of the daemon: the Message API and the admin API."""

from typing import TYPE_CHECKING

import trio

from gatewayd.metrics import CONTENT_TYPE
from gatewayd.protocols.http.admin_api import AdminApi
from gatewayd.protocols.http.message_api import MessageApi
from gatewayd.protocols.http.messages import Request, Response
from gatewayd.protocols.http.openapi import openapi_document
from gatewayd.protocols.http.routing import Router
from gatewayd.protocols.http.server import HttpServer, ServerLimits
from gatewayd.protocols.http.simulator_api import SimulatorApi
from gatewayd.storage.engine import DatabaseUnavailable, check_connection

if TYPE_CHECKING:
    from gatewayd.daemon import Runtime

READY_CHECK_TIMEOUT_S = 2.0


def limits_for(runtime: "Runtime") -> ServerLimits:
    http = runtime.holder.current.config.http
    return ServerLimits(
        max_body_bytes=http.max_body_bytes,
        header_timeout_s=http.header_timeout_s,
        body_timeout_s=http.body_timeout_s,
        idle_timeout_s=http.idle_timeout_s,
        max_connections=http.max_connections,
    )


def health_routes(router: Router, runtime: "Runtime") -> None:
    async def healthz(_request: Request) -> Response:
        return Response.json({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        with trio.move_on_after(READY_CHECK_TIMEOUT_S):
            try:
                await trio.to_thread.run_sync(
                    check_connection, runtime.engine, abandon_on_cancel=True
                )
            except DatabaseUnavailable as error:
                return Response.json({"status": "not ready", "reason": str(error)}, 503)
            return Response.json(
                {"status": "ready", "config_generation": runtime.holder.current.generation}
            )
        return Response.json({"status": "not ready", "reason": "database did not answer"}, 503)

    router.add("/healthz", ["GET"], healthz)
    router.add("/readyz", ["GET"], readyz)


async def serve_api(runtime: "Runtime", task_status=trio.TASK_STATUS_IGNORED) -> None:
    router = Router()
    health_routes(router, runtime)
    assert runtime.service is not None, "the core's service is built before the front doors"
    MessageApi(runtime.service).add_routes(router)

    async def source_addresses(_request: Request) -> Response:
        egress = runtime.egress
        return Response.json(
            {
                "SourceAddresses": egress.usable if egress else [],
                "Unusable": egress.unusable if egress else {},
            }
        )

    router.add("/webhooks/source-addresses", ["GET"], source_addresses)
    document = Response.json(openapi_document())

    async def openapi(_request: Request) -> Response:
        return Response(document.status, document.body, list(document.headers))

    router.add("/openapi.json", ["GET"], openapi)
    await _serve(runtime, "api", runtime.holder.current.config.http.listen, router, task_status)


async def serve_admin(runtime: "Runtime", task_status=trio.TASK_STATUS_IGNORED) -> None:
    router = Router()
    health_routes(router, runtime)

    async def metrics(_request: Request) -> Response:
        return Response(200, runtime.metrics.render(), [("Content-Type", CONTENT_TYPE)])

    router.add("/metrics", ["GET"], metrics)
    AdminApi(runtime).add_routes(router)
    SimulatorApi(runtime).add_routes(router)
    admin = runtime.holder.current.config.admin
    assert admin is not None, "serve_admin needs an admin section"
    await _serve(runtime, "admin", admin.listen, router, task_status)


async def _serve(runtime: "Runtime", name: str, listen: list[str], router: Router, task_status):
    server = HttpServer(name, listen, router, limits_for(runtime), runtime.metrics.count_http)
    async with trio.open_nursery() as nursery:
        addresses = await nursery.start(server.run)
        task_status.started(addresses)
        await runtime.stop_requested.wait()
        server.stop()
