"""Ground-truth labels for earlier predictions (API key required)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from churnguard.api.deps import RequestId, Store
from churnguard.api.schemas import FeedbackRequest, FeedbackResponse
from churnguard.api.security import ApiKey
from churnguard.monitoring.store import Label, StoreUnavailableError

router = APIRouter(tags=["feedback"], dependencies=[ApiKey])


@router.post(
    "/feedback",
    response_model=FeedbackResponse,
    responses={
        401: {},
        403: {},
        503: {"description": "the store is unavailable; nothing was stored"},
    },
)
def feedback(body: FeedbackRequest, store: Store, request_id: RequestId) -> FeedbackResponse:
    """Store churn labels, joined later to predictions by request id or customerID."""
    labels = [
        Label(
            churn=item.churn,
            request_id=item.request_id,
            customer_id=item.customerID,
            observed_at=item.observed_at,
        )
        for item in body.labels
    ]
    try:
        accepted = store.add_labels(labels)
    except StoreUnavailableError as exc:
        raise HTTPException(
            status_code=503, detail=f"{exc}; nothing was stored, send the labels again"
        ) from exc
    return FeedbackResponse(accepted=accepted, request_id=request_id)
