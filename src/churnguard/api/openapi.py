"""OpenAPI for routes that read their own JSON body.

A route that parses its body with pydantic's JSON parser (``Model.model_validate_json``) skips
FastAPI's ``json.loads`` + ``validate_python`` (a third of a 1,000-record batch's CPU) but then
declares no body parameter, so FastAPI would leave it out of the schema. :func:`json_body` puts
the request body back on the operation and :func:`document_models` adds the model's schema to
``components`` so ``/docs``, clients and schemathesis see the same contract as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

_REF = "#/components/schemas/{model}"


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for an operation whose required JSON body is ``model`` (and its 422)."""
    schema = {"$ref": _REF.format(model=model.__name__)}
    invalid = {"$ref": _REF.format(model="HTTPValidationError")}
    return {
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}},
        "responses": {
            "422": {
                "description": "Validation Error",
                "content": {"application/json": {"schema": invalid}},
            }
        },
    }


def model_components(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema and the schemas it refers to, keyed as OpenAPI components."""
    schema = model.model_json_schema(ref_template=_REF, mode="validation")
    nested = schema.pop("$defs", {})
    return {**nested, model.__name__: schema}


def document_models(
    app: FastAPI, models: Sequence[type[BaseModel]]
) -> Callable[[], dict[str, Any]]:
    """Wrap ``app.openapi`` so the schema also holds ``models``.

    Components FastAPI already generated (a record type shared with another route) are kept.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in models:
                for name, component in model_components(model).items():
                    components.setdefault(name, component)
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


__all__ = ["document_models", "json_body", "model_components"]
