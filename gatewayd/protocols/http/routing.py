"""Case-insensitive routing by exact path (clients spell /sms/v1/Message three ways)."""

from gatewayd.core.result_codes import Result
from gatewayd.protocols.http.messages import Handler, Request, Response


class Router:
    def __init__(self) -> None:
        self._routes: dict[str, dict[str, Handler]] = {}

    def add(self, path: str, methods: list[str], handler: Handler) -> None:
        by_method = self._routes.setdefault(path.lower().rstrip("/") or "/", {})
        for method in methods:
            by_method[method.upper()] = handler
        if "GET" in by_method and "HEAD" not in by_method:
            by_method["HEAD"] = by_method["GET"]

    async def __call__(self, request: Request) -> Response:
        by_method = self._routes.get(request.path.lower().rstrip("/") or "/")
        if by_method is None:
            return Response.error(404, Result.NOT_FOUND, request.path)
        handler = by_method.get(request.method)
        if handler is None:
            allowed = ", ".join(sorted(by_method))
            return Response.error(
                405, Result.METHOD_NOT_ALLOWED, request.method, [("Allow", allowed)]
            )
        return await handler(request)
