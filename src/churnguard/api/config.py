"""Configuration of the prediction service (``serving`` section)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class ServingConfig(BaseModel):
    """Which model to serve, how much one request may ask for, and who may administer it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: ``models:/<name>@<alias>`` from the registry, or a local MLflow model folder (a bundle).
    model_uri: str = "models:/churnguard@champion"
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    max_batch: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    explain_top_k: Annotated[int, Field(ge=1, le=19)] = 3
    #: LightGBM threads per batch (0 = every core). One per request keeps concurrent batches
    #: from oversubscribing the cores (each request already runs on its own pool thread).
    predict_threads: Annotated[int, Field(ge=0, le=256)] = 1
    #: How long (ms) a thread keeps the GIL while another waits for it (CPython's default is
    #: 5). The prediction log's writer and the monitor run beside the event loop; a shorter
    #: interval bounds how long a request waits for them. Applied by ``churnguard serve``.
    gil_switch_interval_ms: Annotated[float, Field(gt=0, le=100)] = 1.0
    #: Started without a model (none registered yet, registry down), the service tries again
    #: in the background: after 1 s, then twice as long each time up to this many seconds.
    #: 0 = never (wait for ``/admin/reload`` or a restart).
    load_retry_seconds: Annotated[float, Field(ge=0, le=3600)] = 30.0
    #: Larger request bodies are refused with 413 before they are read.
    max_body_bytes: Annotated[int, Field(ge=1024)] = 16 * 1024 * 1024
    #: Key for ``/admin/*`` and ``/feedback`` (``X-API-Key``). Never written to params.yaml;
    #: set ``CHURNGUARD_SERVING_API_KEY`` or point ``api_key_file`` at a secret file. Without
    #: either, those routes are disabled (403).
    api_key: Annotated[SecretStr | None, Field(exclude=True)] = None
    api_key_file: Path | None = None
    #: Browser origins allowed to call the API; none by default (CORS off).
    cors_origins: tuple[str, ...] = ()
    #: How access logs show customerID: a sha256 prefix, as sent, or not at all.
    log_customer_id: Literal["hashed", "plain", "omit"] = "hashed"
    #: SQLAlchemy URL of the serving store (feedback labels); sqlite file by default.
    store_url: str = "sqlite:///serving.db"
    #: ``single`` serves the champion only; ``shadow`` also scores every request with the
    #: challenger in the background (its answer logged, never returned); ``ab`` sends a sticky
    #: ``ab_share`` of customers to the challenger. Changeable at runtime (``/admin/experiment``).
    experiment_mode: Literal["single", "shadow", "ab"] = "single"
    #: The challenger, loaded like ``model_uri`` when the mode is not ``single``.
    challenger_uri: str = "models:/churnguard@challenger"
    #: Share of customers the challenger answers in ``ab`` mode.
    ab_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.1
    #: Mixed into the assignment hash: a new salt reshuffles which customers see the challenger.
    assignment_salt: Annotated[str, Field(min_length=1)] = "churnguard"


__all__ = ["ServingConfig"]
