"""The Open Inference Protocol (KServe V2) over REST, so KServe/Seldon tooling can call churnguard.

Inputs are one tensor per customer field (``shape [n]``), outputs ``churn_probability`` (FP64),
``churn`` (BOOL) and ``risk_band`` (BYTES). Errors follow the protocol: ``{"error": "..."}``.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from churnguard import __version__
from churnguard.api.deps import Metrics, RequestId, Served, Serving
from churnguard.api.routes.predict import submit_predictions
from churnguard.api.schemas import CustomerRecord
from churnguard.api.state import ServedModel, records_columns
from churnguard.data.schema import CATEGORIES, FEATURE_COLUMNS, ID_COLUMN

MODEL_NAME = "churnguard"
_INFER_PATH = f"/v2/models/{MODEL_NAME}/infer"
router = APIRouter(prefix="/v2", tags=["open inference protocol (v2)"])
Datatype = Literal["BOOL", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"]


class TensorMetadata(BaseModel):
    """Name, datatype and shape of one input or output tensor."""

    name: str
    datatype: Datatype
    shape: list[int]


class ModelMetadata(BaseModel):
    """``GET /v2/models/churnguard``."""

    name: str
    versions: list[str]
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]


class RequestTensor(BaseModel):
    """One input tensor: a column of the customers to score."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    shape: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1, max_length=2)]
    datatype: Datatype
    data: list[str | int | float | bool]
    parameters: dict[str, Any] | None = None


class InferenceRequest(BaseModel):
    """``POST /v2/models/churnguard/infer``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "id": "req-1",
                    "inputs": [
                        {"name": "tenure", "shape": [1], "datatype": "INT64", "data": [1]},
                        {
                            "name": "Contract",
                            "shape": [1],
                            "datatype": "BYTES",
                            "data": ["Month-to-month"],
                        },
                    ],
                }
            ]
        },
    )

    id: str | None = Field(default=None, max_length=128)
    parameters: dict[str, Any] | None = None
    inputs: Annotated[list[RequestTensor], Field(min_length=1, max_length=64)]
    outputs: list[dict[str, Any]] | None = None


class ResponseTensor(BaseModel):
    """One output tensor."""

    name: str
    shape: list[int]
    datatype: Datatype
    data: list[Any]


class InferenceResponse(BaseModel):
    """The scores, one tensor per output."""

    model_name: str
    model_version: str
    id: str
    outputs: list[ResponseTensor]


class V2Error(BaseModel):
    """Protocol error body."""

    error: str


def _datatype(column: str) -> Datatype:
    return (
        "BYTES"
        if column in CATEGORIES
        else "FP64"
        if column in ("MonthlyCharges", "TotalCharges")
        else "INT64"
    )


_INPUTS = [TensorMetadata(name=c, datatype=_datatype(c), shape=[-1]) for c in FEATURE_COLUMNS]
_OUTPUTS = [
    TensorMetadata(name="churn_probability", datatype="FP64", shape=[-1]),
    TensorMetadata(name="churn", datatype="BOOL", shape=[-1]),
    TensorMetadata(name="risk_band", datatype="BYTES", shape=[-1]),
]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": message})


@router.get("/health/live")
async def live() -> dict[str, bool]:
    """The server is up."""
    return {"live": True}


@router.get("/health/ready", responses={503: {"model": V2Error}})
async def server_ready(request: Request) -> Any:
    """The server can score: a model is loaded."""
    holder = request.app.state.slot.holder
    if holder.served is None:
        return _error(503, f"no model is loaded: {holder.reason}")
    return {"ready": True}


@router.get("")
async def server_metadata() -> dict[str, Any]:
    """Server name, version and protocol extensions."""
    return {"name": "churnguard", "version": __version__, "extensions": []}


@router.get(f"/models/{MODEL_NAME}", response_model=ModelMetadata)
async def model_metadata(served: Served) -> ModelMetadata:
    """The model's inputs (one per customer field) and outputs."""
    return ModelMetadata(
        name=MODEL_NAME,
        versions=[served.version],
        platform="churnguard_sklearn_lightgbm",
        inputs=_INPUTS,
        outputs=_OUTPUTS,
    )


@router.get(f"/models/{MODEL_NAME}/ready")
async def model_ready(served: Served) -> dict[str, Any]:
    """The model is loaded (503 through the dependency otherwise)."""
    return {"name": MODEL_NAME, "ready": True}


def _records(body: InferenceRequest, max_batch: int) -> list[CustomerRecord] | str:
    columns: dict[str, list[Any]] = {}
    for tensor in body.inputs:
        if tensor.name in columns:
            return f"input {tensor.name!r} is given twice"
        if tensor.name not in (*FEATURE_COLUMNS, ID_COLUMN):
            return f"unknown input {tensor.name!r}: inputs are the customer fields {', '.join(FEATURE_COLUMNS)}"
        size = tensor.shape[0]
        if any(extra != 1 for extra in tensor.shape[1:]) or len(tensor.data) != size:
            return f"input {tensor.name!r} has shape {tensor.shape} but {len(tensor.data)} values: use shape [n] with n values"
        columns[tensor.name] = tensor.data
    if missing := [c for c in FEATURE_COLUMNS if c not in columns]:
        return f"missing input(s) {', '.join(missing)}: send one tensor per customer field"
    lengths = {len(values) for values in columns.values()}
    if len(lengths) != 1 or 0 in lengths or max(lengths) > max_batch:
        return f"every input must hold the same number of values, between 1 and {max_batch}; got {sorted(lengths)}"
    rows = [
        dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)
    ]
    records = []
    for index, row in enumerate(rows):
        try:
            records.append(CustomerRecord.model_validate(row))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            return f"row {index}, input {field!r}: {first['msg']} (got {first.get('input')!r})"
    return records


def _outputs(served: ServedModel, records: list[CustomerRecord]) -> list[ResponseTensor]:
    probability = served.scorer.columns_probability(records_columns(records))
    n = [len(records)]
    return [
        ResponseTensor(
            name="churn_probability", shape=n, datatype="FP64", data=probability.tolist()
        ),
        ResponseTensor(
            name="churn",
            shape=n,
            datatype="BOOL",
            data=(probability >= served.scorer.threshold).tolist(),
        ),
        ResponseTensor(
            name="risk_band",
            shape=n,
            datatype="BYTES",
            data=served.scorer.risk_band(probability).tolist(),
        ),
    ]


@router.post(
    f"/models/{MODEL_NAME}/infer",
    response_model=InferenceResponse,
    responses={400: {"model": V2Error}},
)
async def infer(
    body: InferenceRequest,
    request: Request,
    served: Served,
    serving: Serving,
    metrics: Metrics,
    request_id: RequestId,
) -> InferenceResponse | JSONResponse:
    """Score customers given as one tensor per field (logged under the response's ``id``)."""
    started = time.perf_counter()
    records = _records(body, serving.max_batch)
    if isinstance(records, str):
        return _error(400, records)
    outputs = await run_in_threadpool(_outputs, served, records)
    probabilities = outputs[0].data
    churned = sum(bool(c) for c in outputs[1].data)
    if churned:
        metrics.predictions.labels(served.version, "churn").inc(churned)
    if len(probabilities) - churned:
        metrics.predictions.labels(served.version, "stay").inc(len(probabilities) - churned)
    response_id = body.id or request_id
    log = request.app.state.prediction_log
    submit_predictions(log, response_id, _INFER_PATH, served, records, probabilities, started)
    return InferenceResponse(
        model_name=MODEL_NAME,
        model_version=served.version,
        id=response_id,
        outputs=outputs,
    )
