"""Predictions, batches and explanations.

Single records take the compiled fast path (no DataFrame, microseconds) and run on the event
loop; batches are vectorised and run in the thread pool so they never block other requests.
Every prediction is handed to the prediction log (a queue append; the rows are built and written
on the log's own thread). ``/explain`` is not logged: it explains a customer, usually one just
scored by ``/predict``, and logging it would count that customer twice in the drift window.

In an ``ab`` experiment each record is answered by its sticky variant (a batch is split by
variant, each group scored vectorised, the answers merged back in order). In ``shadow`` mode
the champion answers and the challenger scores the same records on the shadow pool afterwards;
its scores are logged (``shadow``) and counted, never returned, and its failures never reach
the client.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any, NamedTuple, cast

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from churnguard.api.deps import Holder, Metrics, RequestId, Served, Serving
from churnguard.api.experiment import ShadowRunner, Variant
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
from churnguard.api.state import ModelHolder, ServedModel, records_columns
from churnguard.data.schema import ID_COLUMN
from churnguard.monitoring.predlog import PredictionLog, ScoredRequest

router = APIRouter(tags=["predict"])


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
    variant: Variant = "champion",
    *,
    shadow: bool = False,
    row_indices: Sequence[int] | None = None,
    columns: dict[str, list[Any]] | None = None,
) -> None:
    """Hand the scored records to the prediction log (``app.state.prediction_log``), if any.

    ``started`` is the ``perf_counter`` time the route began: the logged latency covers
    scoring and the route's own work, not the body parsing FastAPI did before the route.
    ``row_indices`` are the records' positions in the request when they are a subset of it.
    ``columns`` (the records' fields, one list each, ``records`` then empty) is the cheap form
    for batches.
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
                variant,
                shadow,
                row_indices,
                columns,
            )
        )


def _shadow(
    request: Request, holder: ModelHolder, request_id: str, endpoint: str, records: list[Any]
) -> None:
    """Queue the challenger's scoring of ``records`` (dicts or records) on the shadow pool."""
    challenger = holder.challenger
    if holder.experiment.mode != "shadow" or challenger is None:
        return
    state = request.app.state
    runner: ShadowRunner = state.shadow
    metrics: ServiceMetrics = state.metrics
    log: PredictionLog | None = state.prediction_log

    def job() -> None:
        started = time.perf_counter()
        scorer = challenger.scorer
        if endpoint == "/predict":
            probabilities = [scorer.record_probability(records[0])]
        else:
            probabilities = scorer.columns_probability(records_columns(records)).tolist()
        seconds = time.perf_counter() - started
        version = challenger.version
        metrics.record_predictions(version, "challenger", probabilities, scorer.threshold, seconds)
        submit_predictions(
            log,
            request_id,
            endpoint,
            challenger,
            records,
            probabilities,
            started,
            "challenger",
            shadow=True,
        )

    runner.submit(job)


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
    holder: Holder,
    explain: bool = Query(
        default=False, description="Add the top reasons (field, value, contribution)."
    ),
) -> Response:
    """Churn probability, decision at the model's threshold and risk band for one customer."""
    started = time.perf_counter()
    # The hot path reads app state directly: each extra dependency costs FastAPI microseconds.
    state = request.app.state
    request_id = request.state.request_id
    served = cast(ServedModel, holder.served)
    variant: Variant = "champion"
    if holder.experiment.mode == "ab" and holder.challenger is not None:
        variant = holder.experiment.assign(record.customerID, request_id)
        if variant == "challenger":
            served = holder.challenger
            request.state.model_version = served.version
    values = record.model_dump()
    scorer = served.scorer
    probability = scorer.record_probability(values)
    scored = time.perf_counter()
    reasons = None
    if explain:
        top_k = state.config.serving.explain_top_k
        reasons = _reasons(values, scorer.record_contributions(values)[0], top_k)
    _remember_ids(request, [record])
    state.metrics.record_predictions(
        served.version, variant, [probability], scorer.threshold, scored - started
    )
    submit_predictions(
        state.prediction_log,
        request_id,
        "/predict",
        served,
        [values],
        [probability],
        started,
        variant,
    )
    _shadow(request, holder, request_id, "/predict", [values])
    return _json(
        PredictionResponse(
            customerID=record.customerID,
            churn_probability=probability,
            churn=probability >= scorer.threshold,
            risk_band=scorer.band(probability),
            reasons=reasons,
            threshold=scorer.threshold,
            model_version=served.version,
            variant=variant,
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


class _Group(NamedTuple):
    """The records of a batch one variant scored (``indices`` None: all of them)."""

    served: ServedModel
    variant: Variant
    indices: list[int] | None
    probabilities: list[float]
    bands: list[str]
    seconds: float
    columns: dict[str, list[Any]]  # the records' fields (and customerID), one list each


def _groups(
    holder: ModelHolder, records: list[CustomerRecord], request_id: str
) -> list[tuple[ServedModel, Variant, list[int] | None]]:
    """Which model scores which records: the champion all, or each A/B variant its share."""
    champion = cast(ServedModel, holder.served)
    experiment = holder.experiment
    if experiment.mode != "ab" or holder.challenger is None:
        return [(champion, "champion", None)]
    chosen = [experiment.assign(r.customerID, request_id) for r in records]
    split: dict[Variant, list[int]] = {"champion": [], "challenger": []}
    for index, variant in enumerate(chosen):
        split[variant].append(index)
    served = {"champion": champion, "challenger": holder.challenger}
    return [(served[v], v, indices) for v, indices in split.items() if indices]


def _score_group(
    served: ServedModel, variant: Variant, indices: list[int] | None, records: list[CustomerRecord]
) -> _Group:
    started = time.perf_counter()
    subset = records if indices is None else [records[i] for i in indices]
    columns = records_columns(subset)
    probability = served.scorer.columns_probability(columns)
    bands: list[str] = served.scorer.risk_band(probability).tolist()
    seconds = time.perf_counter() - started
    columns[ID_COLUMN] = [r.customerID for r in subset]
    return _Group(served, variant, indices, probability.tolist(), bands, seconds, columns)


def _batch_body(groups: list[_Group], records: list[CustomerRecord], request_id: str) -> bytes:
    """The ``BatchResponse`` JSON, written row by row from plain values.

    Thousands of rows: no model objects, and no ``json.dumps`` of a dict per row (a third of
    the cost); numbers are ``float.__repr__`` as in ``json.dumps``, strings go through it.
    """
    rows = [""] * len(records)
    for group in groups:
        threshold = group.served.scorer.threshold
        tail = (
            f',"reasons":null,"model_version":{json.dumps(group.served.version)},'
            f'"variant":{json.dumps(group.variant)}}}'
        )
        positions = range(len(records)) if group.indices is None else group.indices
        bands = {band: f',"risk_band":{json.dumps(band)}' for band in set(group.bands)}
        rendered = zip(
            positions, group.columns[ID_COLUMN], group.probabilities, group.bands, strict=True
        )
        for i, customer, p, band in rendered:
            rows[i] = (
                f'{{"customerID":{"null" if customer is None else json.dumps(customer)},'
                f'"churn_probability":{float.__repr__(p)},'
                f'"churn":{"true" if p >= threshold else "false"}{bands[band]}{tail}'
            )
    champion = next((g.served for g in groups if g.variant == "champion"), groups[0].served)
    body = (
        f'{{"predictions":[{",".join(rows)}],'
        f'"threshold":{float.__repr__(float(champion.scorer.threshold))},'
        f'"model_version":{json.dumps(champion.version)},"request_id":{json.dumps(request_id)}}}'
    )
    return body.encode()


def _score_batch(
    raw: bytes,
    holder: ModelHolder,
    max_batch: int,
    request_id: str,
    log: PredictionLog | None,
    metrics: ServiceMetrics,
    started: float,
) -> tuple[list[CustomerRecord], bytes]:
    """Parse, score, count and log a batch, and write its JSON body.

    Runs on a pool thread: a full prediction log spilling to its spool never blocks the loop.
    """
    records = _parse_batch(raw, max_batch).records
    groups = [_score_group(*group, records) for group in _groups(holder, records, request_id)]
    content = _batch_body(groups, records, request_id)
    for g in groups:
        threshold = g.served.scorer.threshold
        metrics.record_predictions(
            g.served.version, g.variant, g.probabilities, threshold, g.seconds
        )
        submit_predictions(
            log,
            request_id,
            "/predict/batch",
            g.served,
            [],
            g.probabilities,
            started,
            g.variant,
            row_indices=g.indices,
            columns=g.columns,
        )
    return records, content


@router.post("/predict/batch", response_model=BatchResponse, openapi_extra=json_body(BatchRequest))
async def predict_batch(
    request: Request, holder: Holder, serving: Serving, metrics: Metrics, request_id: RequestId
) -> Response:
    """Predictions for up to ``serving.max_batch`` customers, in the order sent.

    The body is a ``BatchRequest`` (documented in the schema); it is read and validated here,
    off the event loop together with the scoring.
    """
    started = time.perf_counter()
    raw = await request.body()
    records, content = await run_in_threadpool(
        _score_batch,
        raw,
        holder,
        serving.max_batch,
        request_id,
        request.app.state.prediction_log,
        metrics,
        started,
    )
    _remember_ids(request, records)
    _shadow(request, holder, request_id, "/predict/batch", records)
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
