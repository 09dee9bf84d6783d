"""Case-insensitive routing by exact path (clients spell /sms/v1/Message three ways)."""

from gatewayd.core.result_codes import Result
from gatewayd.protocols.http.messages import Handler, Request, Response


class Router:
    """Exact paths, plus templates with `{name}` segments (their values in request.params)."""

    def __init__(self) -> None:
        self._routes: dict[str, dict[str, Handler]] = {}
        self._templates: list[tuple[list[str], dict[str, Handler]]] = []

    def add(self, path: str, methods: list[str], handler: Handler) -> None:
        key = path.lower().rstrip("/") or "/"
        if "{" in key:
            by_method = next((m for s, m in self._templates if s == key.split("/")), None)
            if by_method is None:
                by_method = {}
                self._templates.append((key.split("/"), by_method))
        else:
            by_method = self._routes.setdefault(key, {})
        for method in methods:
            by_method[method.upper()] = handler
        if "GET" in by_method and "HEAD" not in by_method:
            by_method["HEAD"] = by_method["GET"]

    async def __call__(self, request: Request) -> Response:
        by_method = self._routes.get(request.path.lower().rstrip("/") or "/")
        if by_method is None:
            by_method = self._match_template(request)
        if by_method is None:
            return Response.error(Result.NOT_FOUND.http_status, Result.NOT_FOUND, request.path)
        handler = by_method.get(request.method)
        if handler is None:
            allowed = ", ".join(sorted(by_method))
            return Response.error(
                Result.METHOD_NOT_ALLOWED.http_status,
                Result.METHOD_NOT_ALLOWED,
                request.method,
                [("Allow", allowed)],
            )
        return await handler(request)

    def _match_template(self, request: Request) -> dict[str, Handler] | None:
        segments = (request.path.rstrip("/") or "/").split("/")
        for template, by_method in self._templates:
            if len(template) != len(segments):
                continue
            params = {}
            for pattern, segment in zip(template, segments, strict=True):
                if pattern.startswith("{") and pattern.endswith("}"):
                    params[pattern[1:-1]] = segment
                elif pattern != segment.lower():
                    break
            else:
                request.params = params
                return by_method
        return None
