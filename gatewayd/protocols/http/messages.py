"""Request and Response as handlers see them."""

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from gatewayd.core.result_codes import Result


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query_string: str
    headers: dict[str, str]
    body: bytes
    peer: str
    listener: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(self.query_string, keep_blank_values=True))

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


@dataclass(slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: list[tuple[str, str]] | None = None):
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        return cls(
            status, body, [("Content-Type", "application/json; charset=utf-8")] + (headers or [])
        )

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8"):
        return cls(status, text.encode(), [("Content-Type", content_type)])

    @classmethod
    def error(
        cls,
        status: int,
        result: Result,
        detail: str | None = None,
        headers: list[tuple[str, str]] | None = None,
    ):
        description = f"{result.description}: {detail}" if detail else result.description
        return cls.json(
            {"ResultCode": int(result), "ResultDescription": description}, status, headers
        )


Handler = Callable[[Request], Awaitable[Response]]
