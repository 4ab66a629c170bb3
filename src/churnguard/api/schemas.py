"""Request and response bodies of the prediction API.

Every Telco field is typed: categorical fields are enums of their allowed values, numbers have
ranges, unknown fields are rejected and NaN/Infinity are refused, so a bad request is a 422 that
names the field, the value and what is allowed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.config import JsonDict

YesNo = Literal["No", "Yes"]
#: Which model of an experiment answered: the registry's ``champion`` or ``challenger``.
VariantName = Literal["champion", "challenger"]
AddOn = Literal["No", "No internet service", "Yes"]

EXAMPLE_CUSTOMER: dict[str, Any] = {
    "customerID": "7590-VHVEG",
    "gender": "Female",
    "SeniorCitizen": 0,
    "Partner": "Yes",
    "Dependents": "No",
    "tenure": 1,
    "PhoneService": "No",
    "MultipleLines": "No phone service",
    "InternetService": "DSL",
    "OnlineSecurity": "No",
    "OnlineBackup": "Yes",
    "DeviceProtection": "No",
    "TechSupport": "No",
    "StreamingTV": "No",
    "StreamingMovies": "No",
    "Contract": "Month-to-month",
    "PaperlessBilling": "Yes",
    "PaymentMethod": "Electronic check",
    "MonthlyCharges": 29.85,
    "TotalCharges": 29.85,
}


def _examples(example: dict[str, Any]) -> JsonDict:
    return {"examples": [example]}


class CustomerRecord(BaseModel):
    """One customer, with every field of the Telco layout (the target excepted)."""

    model_config = ConfigDict(
        extra="forbid", allow_inf_nan=False, json_schema_extra=_examples(EXAMPLE_CUSTOMER)
    )

    customerID: str | None = Field(default=None, min_length=1, max_length=64)
    gender: Literal["Female", "Male"]
    SeniorCitizen: Literal[0, 1]
    Partner: YesNo
    Dependents: YesNo
    tenure: Annotated[int, Field(ge=0, le=120)]
    PhoneService: YesNo
    MultipleLines: Literal["No", "No phone service", "Yes"]
    InternetService: Literal["DSL", "Fiber optic", "No"]
    OnlineSecurity: AddOn
    OnlineBackup: AddOn
    DeviceProtection: AddOn
    TechSupport: AddOn
    StreamingTV: AddOn
    StreamingMovies: AddOn
    Contract: Literal["Month-to-month", "One year", "Two year"]
    PaperlessBilling: YesNo
    PaymentMethod: Literal[
        "Bank transfer (automatic)", "Credit card (automatic)", "Electronic check", "Mailed check"
    ]
    MonthlyCharges: Annotated[float, Field(ge=0, le=500)]
    TotalCharges: Annotated[float, Field(ge=0, le=60_000)]


class BatchRequest(BaseModel):
    """Several customers to score in one call (order is kept)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra=_examples({"records": [EXAMPLE_CUSTOMER]})
    )

    records: Annotated[list[CustomerRecord], Field(min_length=1)]


class ReasonOut(BaseModel):
    """One field's contribution to the churn log-odds (positive raises the risk)."""

    field: str
    value: str | int | float
    contribution: float


class PredictionOut(BaseModel):
    """The prediction for one customer."""

    customerID: str | None
    churn_probability: float
    churn: bool
    risk_band: Literal["low", "medium", "high"]
    reasons: list[ReasonOut] | None = None
    #: The model version that answered (in an A/B test, records of one batch may differ).
    model_version: str | None = None
    variant: VariantName = "champion"


class PredictionResponse(PredictionOut):
    """``POST /predict``: the prediction plus the model and request it came from."""

    threshold: float
    model_version: str
    request_id: str


class BatchResponse(BaseModel):
    """``POST /predict/batch``: one prediction per record, in order.

    ``threshold`` and ``model_version`` are the champion's; each prediction names the variant
    and version that answered it.
    """

    predictions: list[PredictionOut]
    threshold: float
    model_version: str
    request_id: str


class ExplanationResponse(BaseModel):
    """``POST /explain``: every field's contribution, largest first."""

    customerID: str | None
    churn_probability: float
    base_value: float
    contributions: list[ReasonOut]
    model_version: str
    request_id: str


class ExperimentOut(BaseModel):
    """The running experiment: mode, the challenger's A/B share and the challenger itself."""

    mode: Literal["single", "shadow", "ab"]
    ab_share: float
    challenger_uri: str
    challenger_version: str | None = None
    #: Why no challenger is loaded (the service then runs in ``single`` mode).
    challenger_reason: str | None = None


class ModelInfoOut(BaseModel):
    """``GET /model``: the model being served."""

    name: str | None
    version: str | None
    alias: str | None
    model_uri: str
    run_id: str | None
    data_sha256: str | None
    model_sha256: str | None
    estimator: str | None
    calibration: str | None
    threshold: float
    metrics: dict[str, float]
    loaded_at: str
    #: When the model was trained and saved (UTC, ISO 8601); its age drives the staleness alert.
    trained_at: str | None = None
    #: The experiment the service runs (``GET /model`` only).
    experiment: ExperimentOut | None = None


class ExperimentRequest(BaseModel):
    """``POST /admin/experiment``: the mode to run, and the challenger's share in ``ab`` mode."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra=_examples({"mode": "ab", "ab_share": 0.1})
    )

    mode: Literal["single", "shadow", "ab"]
    #: Share of customers the challenger answers in ``ab`` mode; omitted: keep the current one.
    ab_share: Annotated[float | None, Field(ge=0.0, le=1.0)] = None


class ExperimentResponse(ExperimentOut):
    """The experiment now running."""

    request_id: str


class FeedbackItem(BaseModel):
    """The observed outcome for an earlier prediction, found by request id or customerID."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"request_id": "req-42", "customerID": "7590-VHVEG", "churn": True}],
            # What the validator below enforces, stated in the schema clients generate from.
            "anyOf": [
                {"required": ["request_id"], "properties": {"request_id": {"type": "string"}}},
                {"required": ["customerID"], "properties": {"customerID": {"type": "string"}}},
            ],
        },
    )

    request_id: str | None = Field(default=None, min_length=1, max_length=128)
    customerID: str | None = Field(default=None, min_length=1, max_length=64)
    churn: bool
    observed_at: AwareDatetime | None = None

    @field_validator("observed_at")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        # Stored in UTC. An offset that pushes a valid time past year 1 or 9999 (e.g.
        # 0001-01-01T03:00+18:57) is clamped to the representable bound, never a 500.
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            bound = datetime.min if value.year < 5000 else datetime.max
            return bound.replace(tzinfo=UTC)

    @model_validator(mode="after")
    def _identified(self) -> FeedbackItem:
        if self.request_id is None and self.customerID is None:
            msg = "give request_id or customerID (or both) so the label can be joined to its prediction"
            raise ValueError(msg)
        return self


class FeedbackRequest(BaseModel):
    """``POST /feedback``: ground-truth churn labels."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=_examples({"labels": [{"request_id": "req-42", "churn": True}]}),
    )

    labels: Annotated[list[FeedbackItem], Field(min_length=1, max_length=100_000)]


class FeedbackResponse(BaseModel):
    """How many labels were stored."""

    accepted: int
    request_id: str


class ReloadResponse(BaseModel):
    """``POST /admin/reload``: the model served before and after."""

    reloaded: bool
    previous_version: str | None
    version: str | None
    reason: str | None = None
    request_id: str
    #: The experiment after the reload (its challenger reloaded too).
    experiment: ExperimentOut | None = None


class HealthOut(BaseModel):
    """Liveness or readiness."""

    status: Literal["ok", "ready", "not_ready"]
    reason: str | None = None


__all__ = [
    "EXAMPLE_CUSTOMER",
    "BatchRequest",
    "BatchResponse",
    "CustomerRecord",
    "ExperimentOut",
    "ExperimentRequest",
    "ExperimentResponse",
    "ExplanationResponse",
    "FeedbackItem",
    "FeedbackRequest",
    "FeedbackResponse",
    "HealthOut",
    "ModelInfoOut",
    "PredictionOut",
    "PredictionResponse",
    "ReasonOut",
    "ReloadResponse",
    "VariantName",
]
