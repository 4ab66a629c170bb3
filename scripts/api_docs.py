"""Refresh the examples of docs/api_documentation.md from the running prediction service.

    python scripts/api_docs.py [--doc docs/api_documentation.md] [--dry-run]

Request bodies are the examples of the app's own OpenAPI schema (``create_app(config).openapi()``);
responses are what the app answers to them. The script trains a small blend (the configured
estimator and hyperparameters) on synthetic customers, saves it as a bundle with a manifest like
the one ``churnguard export`` writes and its drift reference, starts the app in process
(``TestClient``: lifespan, middleware and error handlers all run) in a temporary folder, and plays
the scenarios below. It then rewrites every fenced block of the document whose info string names
a scenario (````json request``, ````json response 200``, ````json response 422 label``) in the
section ``### METHOD /path``; hand-written text is left as it is. A scenario without its block
in the document is an error (exit 1), so a new example is never silently dropped.

``tests/docs/test_api_documentation.py`` checks the document against the schema without a model;
this script is what keeps the examples real. Timestamps, ids of runs and the probabilities of the
synthetic model change from one run to the next machine; nothing in the tests depends on them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr

from churnguard.api.app import create_app
from churnguard.config import ChurnguardConfig, load_config
from churnguard.data.preprocess import preprocess_data
from churnguard.data.schema import FEATURE_COLUMNS, ID_COLUMN, TARGET_COLUMN
from churnguard.data.synthetic import generate_customers
from churnguard.io import sha256_file, write_model_json
from churnguard.models.bundle import MANIFEST_NAME, ModelRecord
from churnguard.models.estimators import build_model_pipeline
from churnguard.models.evaluate import classification_metrics
from churnguard.models.fastpath import encoded_mean
from churnguard.models.tracking import save_bundle
from churnguard.monitoring.reference import DRIFT_REFERENCE_FILE, build_drift_reference

REPO_ROOT = Path(__file__).resolve().parents[1]
DOC = REPO_ROOT / "docs" / "api_documentation.md"
API_KEY = "example-key"
THRESHOLD = 0.4
#: Synthetic training data has no file to hash: the manifest says so with zeros.
DATA_SHA256 = "0" * 64
HEADING = re.compile(r"^### (GET|POST|PUT|PATCH|DELETE) (/\S*)\s*$")
FENCE = re.compile(r"^```(\w+) ((?:request|response)\b.*?)\s*$")
#: Metric families shown in the /metrics excerpt (the whole exposition is ~300 lines).
METRIC_EXCERPT = ("churnguard_model_loaded", "churnguard_predictions_total")
#: Lines of JSON up to this width keep a container of plain values on one line.
WIDTH = 96


@dataclass(frozen=True)
class Scenario:
    """One documented call: what to send, and which blocks of the document it fills."""

    method: str
    path: str
    status: int
    label: str = ""
    body: Any = None
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    #: Render the body as this section's request block (``request`` + label).
    request_block: bool = False
    #: Trim a large answer before it is shown (must keep it valid against the schema).
    trim: Callable[[Any], Any] | None = None
    language: str = "json"

    @property
    def section(self) -> str:
        return f"{self.method} {self.path}"

    def key(self, kind: str) -> str:
        code = "" if kind == "request" else f" {self.status}"
        return f"{kind}{code}{' ' + self.label if self.label else ''}"


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def _compact(value: Any, indent: int = 0) -> str:
    """JSON with small containers (two levels at most) on one line when they fit (readable)."""
    inline = json.dumps(value, ensure_ascii=False)
    fits = _depth(value) <= 2 and indent + len(inline) <= WIDTH
    if fits or not value or not isinstance(value, dict | list):
        return inline
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(k)}: {_compact(v, indent + 2)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    items = [f"{pad}{_compact(v, indent + 2)}" for v in value]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


def _object_schema(fragment: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """The fragment with ``$ref`` followed (and an ``anyOf`` branch that is not null)."""
    if "$ref" in fragment:
        return _object_schema(components[fragment["$ref"].rsplit("/", 1)[1]], components)
    for branch in fragment.get("anyOf", []):
        if branch.get("type") != "null":
            return _object_schema(branch, components)
    return fragment


def _ordered(value: Any, fragment: dict[str, Any], components: dict[str, Any]) -> Any:
    """``value`` with object keys in the order the schema declares them (pydantic sorts examples)."""
    schema = _object_schema(fragment, components)
    if isinstance(value, dict) and "properties" in schema:
        props = schema["properties"]
        keys = [k for k in props if k in value] + [k for k in value if k not in props]
        return {k: _ordered(value[k], props.get(k, {}), components) for k in keys}
    if isinstance(value, list) and "items" in schema:
        return [_ordered(item, schema["items"], components) for item in value]
    return value


def _schema_example(schema: dict[str, Any], component: str) -> Any:
    components = schema["components"]["schemas"]
    examples = components[component].get("examples")
    if not examples:
        raise SystemExit(f"the OpenAPI component {component} has no example: add one to its model")
    return _ordered(examples[0], components[component], components)


def _v2_inputs(customers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def datatype(value: Any) -> str:
        return (
            "BYTES" if isinstance(value, str) else "FP64" if isinstance(value, float) else "INT64"
        )

    return [
        {
            "name": column,
            "shape": [len(customers)],
            "datatype": datatype(customers[0][column]),
            "data": [c[column] for c in customers],
        }
        for column in FEATURE_COLUMNS
    ]


def _first(n: int, *keys: str) -> Callable[[Any], Any]:
    """Keep the first ``n`` items of the lists under ``keys`` (the last ``n`` for ``traffic``)."""

    def trim(body: Any) -> Any:
        kept = {k: body[k][-n:] if k == "traffic" else body[k][:n] for k in keys}
        return {**body, **kept}

    return trim


def _metric_name(line: str) -> str:
    if line.startswith("#"):  # "# HELP name ..." or "# TYPE name ..."
        return line.split(" ")[2]
    return line.split("{", 1)[0].split(" ", 1)[0]


def _metrics_excerpt(text: str) -> str:
    lines = text.splitlines()
    return "\n".join(line for line in lines if _metric_name(line) in METRIC_EXCERPT)


def _scenarios(schema: dict[str, Any]) -> list[Scenario]:
    """The calls against the service with a model and an API key, in the order they run."""
    customer = _schema_example(schema, "CustomerRecord")
    bad = {**customer, "tenure": -1, "Contract": "Weekly"}
    v2 = {"id": "req-v2", "inputs": _v2_inputs([customer])}
    key = {"X-API-Key": API_KEY}
    return [
        Scenario("GET", "/health", 200),
        Scenario("GET", "/ready", 200),
        Scenario("GET", "/model", 200),
        Scenario(
            "POST",
            "/predict",
            200,
            body=customer,
            request_block=True,
            headers={"X-Request-ID": "req-42"},
        ),
        Scenario(
            "POST",
            "/predict",
            200,
            "explain",
            body=customer,
            query="?explain=true",
            headers={"X-Request-ID": "req-43"},
        ),
        Scenario("POST", "/predict", 422, body=bad, headers={"X-Request-ID": "req-44"}),
        Scenario(
            "POST",
            "/predict/batch",
            200,
            body=_schema_example(schema, "BatchRequest"),
            request_block=True,
            headers={"X-Request-ID": "req-45"},
        ),
        Scenario(
            "POST",
            "/explain",
            200,
            body=customer,
            request_block=True,
            headers={"X-Request-ID": "req-46"},
        ),
        Scenario(
            "POST",
            "/feedback",
            200,
            body=_schema_example(schema, "FeedbackRequest"),
            request_block=True,
            headers={**key, "X-Request-ID": "req-47"},
        ),
        Scenario(
            "POST",
            "/feedback",
            401,
            body=_schema_example(schema, "FeedbackRequest"),
            headers={"X-API-Key": "wrong-key", "X-Request-ID": "req-48"},
        ),
        Scenario("GET", "/v2/health/live", 200),
        Scenario("GET", "/v2/health/ready", 200),
        Scenario("GET", "/v2", 200),
        Scenario("GET", "/v2/models/churnguard", 200, trim=_first(3, "inputs")),
        Scenario("GET", "/v2/models/churnguard/ready", 200),
        Scenario("POST", "/v2/models/churnguard/infer", 200, body=v2, request_block=True),
        Scenario(
            "POST",
            "/v2/models/churnguard/infer",
            400,
            "missing-inputs",
            body=_schema_example(schema, "InferenceRequest"),
            request_block=True,
        ),
        Scenario("GET", "/dashboard/data", 200, trim=_first(3, "features", "traffic")),
        Scenario("GET", "/metrics", 200, language="text"),
        Scenario("POST", "/admin/reload", 200, headers={**key, "X-Request-ID": "req-49"}),
    ]


def _call(client: TestClient, scenario: Scenario) -> tuple[int, Any]:
    response = client.request(
        scenario.method,
        scenario.path + scenario.query,
        json=scenario.body,
        headers=scenario.headers,
    )
    if response.status_code != scenario.status:
        raise SystemExit(
            f"{scenario.section} ({scenario.label or 'main'}) answered {response.status_code}, "
            f"expected {scenario.status}: {response.text[:500]}"
        )
    if scenario.language == "text":
        return response.status_code, _metrics_excerpt(response.text)
    return response.status_code, response.json()


def _render(scenario: Scenario, answer: Any) -> dict[tuple[str, str], tuple[str, str]]:
    blocks: dict[tuple[str, str], tuple[str, str]] = {}
    if scenario.request_block:
        blocks[(scenario.section, scenario.key("request"))] = ("json", _compact(scenario.body))
    if scenario.trim is not None:
        answer = scenario.trim(answer)
    text = answer if scenario.language == "text" else _compact(answer)
    blocks[(scenario.section, scenario.key("response"))] = (scenario.language, text)
    return blocks


def _train_bundle(config: ChurnguardConfig, path: Path) -> None:
    """The configured estimator on 3,000 synthetic customers, saved as an exported bundle."""
    splits = preprocess_data(generate_customers(3000, seed=11))
    model = build_model_pipeline(config.features, config.model)
    train = splits.train[list(FEATURE_COLUMNS)]
    model.fit(train, splits.train[TARGET_COLUMN])
    metadata = {
        "threshold": THRESHOLD,
        "estimator": config.model.estimator,
        "calibration": "none",
        "data_sha256": DATA_SHA256,
        "linear_background": encoded_mean(model, train),
    }
    save_bundle(model, train, metadata, path)
    test_probability = model.predict_proba(splits.test[list(FEATURE_COLUMNS)])[:, 1]
    metrics = classification_metrics(splits.test[TARGET_COLUMN], test_probability, THRESHOLD)
    record = ModelRecord(
        name="churnguard",
        version="1",
        alias="champion",
        run_id=None,
        data_sha256=DATA_SHA256,
        model_sha256=sha256_file(path / "model.skops"),
        metrics={
            f"test_{k}": round(v, 4) for k, v in metrics.items() if k in ("roc_auc", "pr_auc", "f1")
        },
    )
    write_model_json(path / MANIFEST_NAME, record)
    write_model_json(
        path / DRIFT_REFERENCE_FILE, build_drift_reference(splits.train, test_probability)
    )


def _app_config(
    base: ChurnguardConfig, model_uri: str, api_key: str | None, store: str
) -> ChurnguardConfig:
    """``base`` serving ``model_uri`` with its store in ``store`` and an embedded registry."""
    serving = base.serving.model_copy(
        update={
            "model_uri": model_uri,
            "store_url": f"sqlite:///{store}",
            "api_key": SecretStr(api_key) if api_key else None,
        }
    )
    mlflow = base.mlflow.model_copy(update={"tracking_uri": "sqlite:///mlflow.db"})
    return base.model_copy(update={"serving": serving, "mlflow": mlflow})


def _traffic(client: TestClient, app: FastAPI, rows: int = 300) -> None:
    """Undocumented calls that fill the prediction log, so the dashboard has a window to show."""
    customers = generate_customers(rows, seed=12).drop(columns=[TARGET_COLUMN])
    records = [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in customers[[ID_COLUMN, *FEATURE_COLUMNS]].to_dict("records")
    ]
    for record in records:
        record["TotalCharges"] = float(record["TotalCharges"] or 0.0)
    response = client.post("/predict/batch", json={"records": records})
    response.raise_for_status()
    deadline = time.monotonic() + 20
    while app.state.monitor.refresh().window_rows < rows:
        if time.monotonic() > deadline:
            raise SystemExit("the prediction log did not reach the store within 20 s")
        time.sleep(0.2)


def _service_examples(config: ChurnguardConfig) -> dict[tuple[str, str], tuple[str, str]]:
    blocks: dict[tuple[str, str], tuple[str, str]] = {}
    app = create_app(_app_config(config, "models/bundle", API_KEY, "serving.db"))
    scenarios = _scenarios(app.openapi())
    with TestClient(app) as client:
        for scenario in scenarios:
            if scenario.path == "/dashboard/data":
                _traffic(client, app)
            blocks |= _render(scenario, _call(client, scenario)[1])
        # A reload that fails verification: the model file no longer has its recorded sha256.
        (Path("models/bundle") / "model.skops").write_bytes(b"not the registered model")
        refused = Scenario(
            "POST", "/admin/reload", 409, headers={"X-API-Key": API_KEY, "X-Request-ID": "req-50"}
        )
        blocks |= _render(refused, _call(client, refused)[1])
    return blocks


def _unready_examples(config: ChurnguardConfig) -> dict[tuple[str, str], tuple[str, str]]:
    """A service whose registry has no champion yet (a fresh stack) and that has no API key."""
    blocks: dict[tuple[str, str], tuple[str, str]] = {}
    unready_config = _app_config(config, "models:/churnguard@champion", None, "unready.db")
    app = create_app(unready_config)
    feedback = _schema_example(app.openapi(), "FeedbackRequest")
    unready = [
        Scenario("GET", "/ready", 503),
        Scenario("POST", "/predict", 503, body=_schema_example(app.openapi(), "CustomerRecord")),
        Scenario("POST", "/feedback", 403, body=feedback),
    ]
    with TestClient(app) as client:
        for scenario in unready:
            blocks |= _render(scenario, _call(client, scenario)[1])
    # Before its lifespan has run, a new app's monitor has no snapshot yet.
    before_start = Scenario("GET", "/dashboard/data", 503)
    blocks |= _render(before_start, _call(TestClient(create_app(unready_config)), before_start)[1])
    return blocks


def replace_blocks(
    doc: str, blocks: dict[tuple[str, str], tuple[str, str]]
) -> tuple[str, list[tuple[str, str]]]:
    """``doc`` with the named fenced blocks replaced, and the blocks it has no place for."""
    out: list[str] = []
    lines = iter(doc.splitlines())
    section = ""
    placed: set[tuple[str, str]] = set()
    for line in lines:
        if match := HEADING.match(line):
            section = f"{match[1]} {match[2]}"
        fence = FENCE.match(line)
        if fence is None or (section, fence[2]) not in blocks:
            out.append(line)
            continue
        language, text = blocks[(section, fence[2])]
        out.extend([f"```{language} {fence[2]}", *text.splitlines(), "```"])
        placed.add((section, fence[2]))
        for skipped in lines:  # drop the old content up to the closing fence
            if skipped.startswith("```"):
                break
    return "\n".join(out) + "\n", sorted(set(blocks) - placed)


@contextmanager
def _working_directory() -> Iterator[Path]:
    previous = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="churnguard-api-docs-") as tmp:
        os.chdir(tmp)
        try:
            yield Path(tmp)
        finally:
            os.chdir(previous)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--doc", type=Path, default=DOC, help="the markdown file to update")
    parser.add_argument("--dry-run", action="store_true", help="print the blocks, write nothing")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", module="starlette")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    config = load_config(REPO_ROOT / "configs" / "config.yaml", use_env=False)
    with _working_directory():
        _train_bundle(config, Path("models/bundle"))
        blocks = _service_examples(config) | _unready_examples(config)
    if args.dry_run:
        for (section, key), (_, text) in blocks.items():
            print(f"--- {section} · {key}\n{text}")
        return 0
    updated, missing = replace_blocks(args.doc.read_text(encoding="utf-8"), blocks)
    if missing:
        for section, key in missing:
            print(
                f"no block for {section} · {key}: add ```json {key} in its section", file=sys.stderr
            )
        return 1
    args.doc.write_text(updated, encoding="utf-8")
    print(f"{len(blocks)} examples written to {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
