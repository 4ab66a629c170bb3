"""Error responses for bad requests: always JSON, always naming the field and the value."""

from __future__ import annotations

import math
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException


def _json_safe(value: Any) -> Any:
    # NaN/Infinity sent by a client are echoed back as text: they are not valid JSON numbers.
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 with each error's location (the field), message (what is allowed) and input."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else [{"msg": str(exc)}]
    return JSONResponse(status_code=422, content={"detail": _json_safe(jsonable_encoder(errors))})


async def http_error(request: Request, exc: Exception) -> Response:
    """FastAPI's handler, except that an unparseable body is a 422 like malformed JSON.

    FastAPI answers a body it cannot decode (not UTF-8) with a bare 400; clients get the same
    documented 422 as for any other body that is not valid JSON.
    """
    if isinstance(exc, HTTPException) and exc.status_code == 400 and exc.__cause__ is not None:
        detail = [
            {
                "type": "json_invalid",
                "loc": ["body"],
                "msg": f"the body is not UTF-8 encoded JSON ({type(exc.__cause__).__name__}): send JSON text in UTF-8",
            }
        ]
        return JSONResponse(status_code=422, content={"detail": detail})
    if not isinstance(exc, HTTPException):  # pragma: no cover - registered for HTTPException only
        raise exc
    return await http_exception_handler(request, exc)


__all__ = ["http_error", "validation_error"]
