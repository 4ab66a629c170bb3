"""Predictions, batches and explanations.

Single records take the compiled fast path (no DataFrame, microseconds) and run on the event
loop; batches are vectorised and run in the thread pool so they never block other requests.
Every prediction is handed to the prediction log (a queue append; the rows are built and written
on the log's own thread). ``/explain`` is not logged: it explains a customer, usually one just
scored by ``/predict``, and logging it would count that customer twice in the drift window.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from churnguard.api.deps import Metrics, RequestId, Served, Serving
from churnguard.api.metrics import ServiceMetrics
from churnguard.api.openapi import json_body
from churnguard.api.schemas import (
    BatchRequest,
    BatchResponse,
    CustomerRecord,
    ExplanationResponse,
    PredictionResponse,
    ReasonOut,
)
from churnguard.api.state import ServedModel, records_columns
from churnguard.monitoring.predlog import PredictionLog, ScoredRequest

router = APIRouter(tags=["predict"])


def _record_metrics(
    metrics: ServiceMetrics, version: str, probabilities: Sequence[float], threshold: float
) -> None:
    churned = sum(p >= threshold for p in probabilities)
    if churned:
        metrics.predictions.labels(version, "churn").inc(churned)
    if len(probabilities) - churned:
        metrics.predictions.labels(version, "stay").inc(len(probabilities) - churned)
    histogram = metrics.probability.labels(version)
    for probability in probabilities:
        histogram.observe(probability)


def _reasons(values: dict[str, Any], contributions: dict[str, float], k: int) -> list[ReasonOut]:
    ordered = sorted(contributions.items(), key=lambda item: -abs(item[1]))[:k]
    return [ReasonOut(field=f, value=values[f], contribution=c) for f, c in ordered]


def submit_predictions(
    log: PredictionLog | None,
    request_id: str,
    endpoint: str,
    served: ServedModel,
    records: Sequence[object],
    probabilities: Sequence[float],
    started: float,
) -> None:
    """Hand the scored records to the prediction log (``app.state.prediction_log``), if any.

    ``started`` is the ``perf_counter`` time the route began: the logged latency covers
    scoring and the route's own work, not the body parsing FastAPI did before the route.
    """
    if log is not None:
        latency_ms = (time.perf_counter() - started) * 1000
        log.submit(
            ScoredRequest(
                request_id,
                endpoint,
                served.version,
                served.info.alias,
                served.scorer.threshold,
                time.time(),
                latency_ms,
                records,
                probabilities,
            )
        )


def _remember_ids(request: Request, records: Sequence[CustomerRecord]) -> None:
    ids = [r.customerID for r in records[:10] if r.customerID is not None]
    if ids:
        request.state.customer_ids = ids


def _json(body: PredictionResponse | ExplanationResponse) -> Response:
    # The body is built from validated values: serialise it once, skipping FastAPI's second
    # validation of the response model (a large share of a single prediction's time).
    return Response(body.model_dump_json(), media_type="application/json")


@router.post("/predict", response_model=PredictionResponse)
async def predict(
    record: CustomerRecord,
    request: Request,
    served: Served,
    explain: bool = Query(
        default=False, description="Add the top reasons (field, value, contribution)."
    ),
) -> Response:
    """Churn probability, decision at the model's threshold and risk band for one customer."""
    started = time.perf_counter()
    # The hot path reads app state directly: each extra dependency costs FastAPI microseconds.
    state = request.app.state
    values = record.model_dump()
    scorer = served.scorer
    probability = scorer.record_probability(values)
    reasons = None
    if explain:
        top_k = state.config.serving.explain_top_k
        reasons = _reasons(values, scorer.record_contributions(values)[0], top_k)
    _remember_ids(request, [record])
    _record_metrics(state.metrics, served.version, [probability], scorer.threshold)
    request_id = request.state.request_id
    submit_predictions(
        state.prediction_log, request_id, "/predict", served, [values], [probability], started
    )
    return _json(
        PredictionResponse(
            customerID=record.customerID,
            churn_probability=probability,
            churn=probability >= scorer.threshold,
            risk_band=scorer.band(probability),
            reasons=reasons,
            threshold=scorer.threshold,
            model_version=served.version,
            request_id=request_id,
        )
    )


def _parse_batch(raw: bytes, max_batch: int) -> BatchRequest:
    """The request body → a validated batch, with FastAPI's 422 (fields under ``body``) or 413.

    pydantic's own JSON parser reads the body in one pass: no ``json.loads`` tree of dicts to
    validate afterwards. The validation rules (and NaN/Infinity refusal) are the model's, as for
    a declared body parameter.
    """
    try:
        batch = BatchRequest.model_validate_json(raw)
    except ValidationError as exc:
        errors = []
        for error in exc.errors(include_url=False):
            error = {**error, "loc": ("body", *error["loc"])}
            if error["type"] == "json_invalid":  # never echo a (possibly huge) unparsable body
                error["input"] = {}
            errors.append(error)
        raise RequestValidationError(errors) from None
    if len(batch.records) > max_batch:
        detail = (
            f"{len(batch.records)} records sent; at most {max_batch} per batch: split the request"
        )
        raise HTTPException(status_code=413, detail=detail)
    return batch


def _batch_body(
    served: ServedModel, records: list[CustomerRecord], request_id: str
) -> tuple[bytes, list[float]]:
    """The ``BatchResponse`` JSON, built from plain values (thousands of rows: no model objects)."""
    probability = served.scorer.columns_probability(records_columns(records))
    probabilities: list[float] = probability.tolist()
    threshold = served.scorer.threshold
    predictions = [
        {
            "customerID": record.customerID,
            "churn_probability": p,
            "churn": p >= threshold,
            "risk_band": band,
            "reasons": None,
        }
        for record, p, band in zip(
            records, probabilities, served.scorer.risk_band(probability).tolist(), strict=True
        )
    ]
    body = {
        "predictions": predictions,
        "threshold": threshold,
        "model_version": served.version,
        "request_id": request_id,
    }
    return json.dumps(body, allow_nan=False).encode(), probabilities


def _score_batch(
    raw: bytes, served: ServedModel, max_batch: int, request_id: str
) -> tuple[list[CustomerRecord], bytes, list[float]]:
    records = _parse_batch(raw, max_batch).records
    content, probabilities = _batch_body(served, records, request_id)
    return records, content, probabilities


@router.post("/predict/batch", response_model=BatchResponse, openapi_extra=json_body(BatchRequest))
async def predict_batch(
    request: Request, served: Served, serving: Serving, metrics: Metrics, request_id: RequestId
) -> Response:
    """Predictions for up to ``serving.max_batch`` customers, in the order sent.

    The body is a ``BatchRequest`` (documented in the schema); it is read and validated here,
    off the event loop together with the scoring.
    """
    started = time.perf_counter()
    raw = await request.body()
    records, content, probabilities = await run_in_threadpool(
        _score_batch, raw, served, serving.max_batch, request_id
    )
    _remember_ids(request, records)
    _record_metrics(metrics, served.version, probabilities, served.scorer.threshold)
    log = request.app.state.prediction_log
    submit_predictions(log, request_id, "/predict/batch", served, records, probabilities, started)
    return Response(content, media_type="application/json")


@router.post("/explain", response_model=ExplanationResponse)
async def explain(
    record: CustomerRecord, request: Request, served: Served, request_id: RequestId
) -> Response:
    """Every field's exact contribution to the churn log-odds, largest first."""
    values = record.model_dump()
    contributions, base = served.scorer.record_contributions(values)
    _remember_ids(request, [record])
    return _json(
        ExplanationResponse(
            customerID=record.customerID,
            churn_probability=served.scorer.record_probability(values),
            base_value=base,
            contributions=_reasons(values, contributions, len(contributions)),
            model_version=served.version,
            request_id=request_id,
        )
    )
