"""Routes that parse their own body still document it (and its 422) in the OpenAPI schema."""

from __future__ import annotations

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import BaseModel

from churnguard.api.openapi import document_models, json_body, model_components
from churnguard.api.schemas import BatchRequest, CustomerRecord

pytestmark = pytest.mark.unit


class Inner(BaseModel):
    size: int


class Outer(BaseModel):
    """A body with a nested model."""

    items: list[Inner]


def _app() -> FastAPI:
    app = FastAPI()

    @app.post("/raw", openapi_extra=json_body(Outer))
    async def raw(request: Request) -> dict[str, int]:
        return {"items": len(Outer.model_validate_json(await request.body()).items)}

    @app.post("/declared")
    async def declared(body: Inner) -> Inner:
        return body

    app.openapi = document_models(app, [Outer])  # type: ignore[method-assign]
    return app


def test_the_raw_body_is_documented_with_its_model_and_nested_models() -> None:
    schema = TestClient(_app()).get("/openapi.json").json()
    operation = schema["paths"]["/raw"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/Outer"}
    assert operation["requestBody"]["required"] is True
    assert operation["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HTTPValidationError"
    }
    components = schema["components"]["schemas"]
    assert components["Outer"]["properties"]["items"]["items"] == {
        "$ref": "#/components/schemas/Inner"
    }
    assert {"Inner", "Outer", "HTTPValidationError"} <= set(components)


def test_the_schema_is_built_once() -> None:
    app = _app()
    assert app.openapi() is app.openapi()


def test_components_keep_what_fastapi_generated() -> None:
    components = model_components(BatchRequest)
    assert set(components) == {"BatchRequest", "CustomerRecord"}
    assert components["BatchRequest"]["examples"]
    assert components["CustomerRecord"] == CustomerRecord.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
