"""The two HTTP listeners of the daemon: the Message API and the admin API."""

from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

from gatewayd.config.schema import HttpConfig
from gatewayd.core.message_service import MessageService, is_core_unavailable
from gatewayd.metrics import CONTENT_TYPE
from gatewayd.protocols.http.admin_api import AdminApi
from gatewayd.protocols.http.admin_commands import AdminCommands
from gatewayd.protocols.http.message_api import MessageApi
from gatewayd.protocols.http.messages import Request, Response
from gatewayd.protocols.http.openapi import openapi_document
from gatewayd.protocols.http.routing import Router
from gatewayd.protocols.http.server import HttpServer, ServerLimits
from gatewayd.protocols.http.simulator_api import SimulatorApi

if TYPE_CHECKING:
    from gatewayd.daemon import Runtime


def limits_for(http: HttpConfig) -> ServerLimits:
    return ServerLimits(
        max_body_bytes=http.max_body_bytes,
        header_timeout_s=http.header_timeout_s,
        body_timeout_s=http.body_timeout_s,
        idle_timeout_s=http.idle_timeout_s,
        max_connections=http.max_connections,
    )


def health_routes(router: Router, service: MessageService) -> None:
    async def healthz(_request: Request) -> Response:
        return Response.json({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        try:
            readiness = await service.readiness()
        except Exception as error:  # an HTTP worker whose carrier process is gone
            if not is_core_unavailable(error):
                raise
            readiness = {"status": "not ready", "reason": str(error)}
        return Response.json(readiness, 200 if readiness["status"] == "ready" else 503)

    router.add("/healthz", ["GET"], healthz)
    router.add("/readyz", ["GET"], readyz)


def api_router(
    service: MessageService, count_refusal: Callable[[int], None] | None = None
) -> Router:
    """The Message API listener's routes: the API itself, health, webhook source addresses
    and the OpenAPI document (the same in the daemon and in an HTTP worker process)."""
    router = Router()
    health_routes(router, service)
    MessageApi(service, count_refusal).add_routes(router)

    async def source_addresses(_request: Request) -> Response:
        return Response.json(await service.webhook_sources())

    router.add("/webhooks/source-addresses", ["GET"], source_addresses)
    document = Response.json(openapi_document())

    async def openapi(_request: Request) -> Response:
        return Response(document.status, document.body, list(document.headers))

    router.add("/openapi.json", ["GET"], openapi)
    return router


async def serve_api(runtime: "Runtime", task_status=trio.TASK_STATUS_IGNORED) -> None:
    assert runtime.service is not None, "the core's service is built before the front doors"
    router = api_router(runtime.service, runtime.metrics.http.count_refusal)
    await _serve(runtime, "api", runtime.holder.current.config.http.listen, router, task_status)


async def serve_admin(runtime: "Runtime", task_status=trio.TASK_STATUS_IGNORED) -> None:
    router = Router()
    assert runtime.service is not None, "the core's service is built before the front doors"
    health_routes(router, runtime.service)

    async def metrics(_request: Request) -> Response:
        return Response(200, runtime.metrics.render(), [("Content-Type", CONTENT_TYPE)])

    router.add("/metrics", ["GET"], metrics)
    AdminApi(runtime).add_routes(router)
    AdminCommands(runtime).add_routes(router)
    SimulatorApi(runtime).add_routes(router)
    admin = runtime.holder.current.config.admin
    assert admin is not None, "serve_admin needs an admin section"
    await _serve(runtime, "admin", admin.listen, router, task_status)


async def _serve(runtime: "Runtime", name: str, listen: list[str], router: Router, task_status):
    limits = limits_for(runtime.holder.current.config.http)
    server = HttpServer(name, listen, router, limits, runtime.metrics.count_http)
    async with trio.open_nursery() as nursery:
        addresses = await nursery.start(server.run)
        task_status.started(addresses)
        await runtime.stop_requested.wait()
        server.stop()
