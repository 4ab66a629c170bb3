"""Predictions, batches and explanations."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query

from churnguard.api.deps import RequestId, Served, Serving
from churnguard.api.schemas import (
    BatchRequest,
    BatchResponse,
    CustomerRecord,
    ExplanationResponse,
    PredictionOut,
    PredictionResponse,
    ReasonOut,
)
from churnguard.api.state import ServedModel, records_frame

router = APIRouter(tags=["predict"])


def _predictions(
    served: ServedModel, records: list[CustomerRecord], top_k: int | None
) -> list[PredictionOut]:
    frame = records_frame(records)
    table = served.scorer.score(frame)
    reasons = served.scorer.top_reasons(frame, top_k) if top_k else [None] * len(frame)
    rows = zip(
        records,
        table["churn_probability"].tolist(),
        table["churn"].tolist(),
        table["risk_band"].tolist(),
        reasons,
        strict=True,
    )
    return [
        PredictionOut(
            customerID=record.customerID,
            churn_probability=probability,
            churn=churn,
            risk_band=band,
            reasons=None if why is None else [ReasonOut(**vars(reason)) for reason in why],
        )
        for record, probability, churn, band, why in rows
    ]


@router.post("/predict", response_model=PredictionResponse)
def predict(
    record: CustomerRecord,
    served: Served,
    serving: Serving,
    request_id: RequestId,
    explain: bool = Query(
        default=False, description="Add the top reasons (field, value, contribution)."
    ),
) -> PredictionResponse:
    """Churn probability, decision at the model's threshold and risk band for one customer."""
    (prediction,) = _predictions(served, [record], serving.explain_top_k if explain else None)
    return PredictionResponse(
        **prediction.model_dump(),
        threshold=served.scorer.threshold,
        model_version=served.info.version or "bundle",
        request_id=request_id,
    )


@router.post("/predict/batch", response_model=BatchResponse)
def predict_batch(
    body: BatchRequest, served: Served, serving: Serving, request_id: RequestId
) -> BatchResponse:
    """Predictions for up to ``serving.max_batch`` customers, in the order sent."""
    if len(body.records) > serving.max_batch:
        detail = f"{len(body.records)} records sent; at most {serving.max_batch} per batch: split the request"
        raise HTTPException(status_code=413, detail=detail)
    return BatchResponse(
        predictions=_predictions(served, body.records, None),
        threshold=served.scorer.threshold,
        model_version=served.info.version or "bundle",
        request_id=request_id,
    )


@router.post("/explain", response_model=ExplanationResponse)
def explain(record: CustomerRecord, served: Served, request_id: RequestId) -> ExplanationResponse:
    """Every field's exact contribution to the churn log-odds, largest first."""
    frame = records_frame([record])
    per_field, base = served.scorer.field_contributions(frame)
    row = per_field.iloc[0]
    ordered = row.reindex(row.abs().sort_values(ascending=False).index)
    values = record.model_dump()
    return ExplanationResponse(
        customerID=record.customerID,
        churn_probability=float(served.scorer.churn_probability(frame)[0]),
        base_value=float(base[0]),
        contributions=[
            ReasonOut(field=str(f), value=values[str(f)], contribution=float(c))
            for f, c in ordered.items()
        ],
        model_version=served.info.version or "bundle",
        request_id=request_id,
    )
