"""One pure-ASGI middleware for every request: id, limits, metrics and the access log.

Pure ASGI (not ``BaseHTTPMiddleware``) keeps the per-request overhead to microseconds. It
honours or creates ``X-Request-ID`` and echoes it, refuses bodies over the size limit (413) and
non-JSON bodies (415) before a route reads them, counts and times every request by route
template and status, and writes one JSON access-log line per request.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from typing import Any, Literal

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from churnguard.api.metrics import ServiceMetrics

REQUEST_ID_HEADER = "X-Request-ID"
access_logger = logging.getLogger("churnguard.access")
_QUIET_ROUTES = frozenset({"/health", "/ready", "/metrics", "/v2/health/live", "/v2/health/ready"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


class BodyTooLargeError(HTTPException):
    """The body grew past the limit while it was read (no or a false Content-Length)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit} bytes: send less data per request")


def _headers(scope: Scope) -> dict[bytes, bytes]:
    return {key.lower(): value for key, value in scope["headers"]}


def _request_id(headers: dict[bytes, bytes]) -> str:
    incoming = headers.get(b"x-request-id", b"").decode("latin-1")
    if 0 < len(incoming) <= 128 and incoming.isprintable():
        return incoming
    return uuid.uuid4().hex


def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


def hash_customer_id(customer_id: str) -> str:
    """The first 16 hex digits of the id's sha256: joinable across logs, not readable."""
    return hashlib.sha256(customer_id.encode()).hexdigest()[:16]


async def _refuse(send: Send, status: int, detail: str, request_id: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (REQUEST_ID_HEADER.lower().encode(), request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class ServiceMiddleware:
    """Request id, body limits, content type, metrics and access log around the app."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: ServiceMetrics,
        max_body_bytes: int,
        customer_id_logging: Literal["hashed", "plain", "omit"] = "hashed",
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.customer_id_logging = customer_id_logging

    def _limit_problem(self, scope: Scope, headers: dict[bytes, bytes]) -> tuple[int, str] | None:
        if scope["method"] not in _BODY_METHODS:
            return None
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            return (
                413,
                f"request body of {int(length)} bytes is over the {self.max_body_bytes}-byte limit: split the request",
            )
        has_body = (
            length is not None and length not in (b"", b"0")
        ) or b"transfer-encoding" in headers
        content_type = headers.get(b"content-type", b"")
        if has_body and not _is_json(content_type):
            sent = content_type.decode("latin-1") or "none"
            return (
                415,
                f"content type {sent!r} is not supported: send the body as JSON with 'Content-Type: application/json'",
            )
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = _headers(scope)
        request_id = _request_id(headers)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = {"code": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
            await send(message)

        received = {"bytes": 0}

        async def limited_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                received["bytes"] += len(message.get("body", b""))
                if received["bytes"] > self.max_body_bytes:
                    raise BodyTooLargeError(self.max_body_bytes)
            return message

        self.metrics.in_flight.inc()
        try:
            problem = self._limit_problem(scope, headers)
            if problem is not None:
                status["code"] = problem[0]
                await _refuse(send, problem[0], problem[1], request_id)
            else:
                await self.app(scope, limited_receive, send_with_id)
        finally:
            self.metrics.in_flight.dec()
            self._record(scope, state, status["code"], time.perf_counter() - started)

    def _record(self, scope: Scope, state: dict[str, Any], status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        method = scope["method"]
        self.metrics.requests.labels(route, method, str(status)).inc()
        self.metrics.latency.labels(route, method).observe(seconds)
        level = logging.DEBUG if route in _QUIET_ROUTES and status < 400 else logging.INFO
        if not access_logger.isEnabledFor(level):
            return
        fields: dict[str, Any] = {
            "request_id": state["request_id"],
            "method": method,
            "route": route,
            "status": status,
            "latency_ms": round(seconds * 1000, 3),
        }
        if "model_version" in state:
            fields["model_version"] = state["model_version"]
        ids = state.get("customer_ids")
        if ids and self.customer_id_logging != "omit":
            shown = (
                ids if self.customer_id_logging == "plain" else [hash_customer_id(i) for i in ids]
            )
            fields["customer_ids"] = shown[:10]
        access_logger.log(level, "request", extra=fields)


__all__ = ["REQUEST_ID_HEADER", "BodyTooLargeError", "ServiceMiddleware", "hash_customer_id"]
