"""Property-based API tests: schemathesis generates requests from the live server's OpenAPI schema.

Each operation is called over a real socket with cases generated from its schema, valid ones and
(for operations with inputs) invalid ones. schemathesis's default checks judge every response: no
server error, a documented status code, content type and headers, a body that matches the schema,
invalid data rejected and valid data accepted. :data:`PLAN` sends more than 1,000 cases in all;
generation, not the server, is the slow part (a batch of 20-field records takes ~80 ms to draw),
so cheap single-record operations get most of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from live import API_KEY, LiveServer, build_bundle, running_server, train_frame
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance
from schemathesis.generation.case import Case
from schemathesis.schemas import APIOperation, BaseSchema

Operation = APIOperation[Any, Any, Any, Any]

pytestmark = pytest.mark.integration

POSITIVE, NEGATIVE = GenerationMode.POSITIVE, GenerationMode.NEGATIVE
#: (operation, generation mode, cases). Operations without inputs have a single possible request.
PLAN: list[tuple[str, GenerationMode, int]] = [
    ("GET /health", POSITIVE, 1),
    ("GET /ready", POSITIVE, 1),
    ("GET /model", POSITIVE, 1),
    ("GET /metrics", POSITIVE, 1),
    ("GET /dashboard", POSITIVE, 1),
    ("GET /dashboard/data", POSITIVE, 1),  # the monitor refreshes at start: 200
    ("GET /v2", POSITIVE, 1),
    ("GET /v2/health/live", POSITIVE, 1),
    ("GET /v2/health/ready", POSITIVE, 1),
    ("GET /v2/models/churnguard", POSITIVE, 1),
    ("GET /v2/models/churnguard/ready", POSITIVE, 1),
    ("POST /admin/reload", POSITIVE, 1),  # with the key: a real (sub-second) reload
    # With the key; no challenger is registered, so shadow and ab are refused (409).
    ("POST /admin/experiment", POSITIVE, 10),
    ("POST /admin/experiment", NEGATIVE, 20),
    ("POST /predict", POSITIVE, 300),
    ("POST /predict", NEGATIVE, 150),
    ("POST /explain", POSITIVE, 200),
    ("POST /explain", NEGATIVE, 80),
    ("POST /feedback", POSITIVE, 100),
    ("POST /feedback", NEGATIVE, 60),
    ("POST /predict/batch", POSITIVE, 30),
    ("POST /predict/batch", NEGATIVE, 30),
    ("POST /v2/models/churnguard/infer", POSITIVE, 40),
    ("POST /v2/models/churnguard/infer", NEGATIVE, 40),
]
MIN_TOTAL_CASES = 1000
#: Operations guarded by the API key; the cases send it (schemathesis's ``ignored_auth`` check
#: also sends them without a key and with a wrong one, expecting 401).
KEYED = frozenset({"POST /feedback", "POST /admin/reload", "POST /admin/experiment"})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    bundle = build_bundle(tmp_path_factory.mktemp("bundle") / "model", train_frame())
    workdir = tmp_path_factory.mktemp("server")
    with running_server(str(bundle.path), workdir) as live:
        yield live


@pytest.fixture(scope="module")
def api_schema(server: LiveServer) -> BaseSchema:
    # An explicit default configuration, so no schemathesis.toml of the developer applies.
    return schemathesis.openapi.from_url(
        f"{server.base_url}/openapi.json", config=schemathesis.Config()
    )


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        http.trust_env = False  # loopback only: never a proxy from the environment
        yield http


def _operation(schema: BaseSchema, label: str) -> Operation:
    method, path = label.split(" ", 1)
    operation: Operation = schema[path][method]
    return operation


def _send(
    operation: Operation, mode: GenerationMode, examples: int, session: requests.Session
) -> int:
    """Call ``operation`` with up to ``examples`` generated cases; how many were sent."""
    headers = {"X-API-Key": API_KEY} if operation.label in KEYED else {}
    # The V2 protocol names tensors freely in its schema; which names and shapes the model takes
    # is in the model metadata, so a schema-valid request may rightly be refused (400).
    excluded = [positive_data_acceptance] if operation.path.startswith("/v2/") else []
    sent = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,  # the same cases on every run: a failure reproduces
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def call(case: Case[Operation]) -> None:
        nonlocal sent
        sent += 1
        case.call_and_validate(session=session, headers=headers, excluded_checks=excluded)

    call()
    return sent


def test_the_plan_covers_every_operation_with_over_1000_cases(api_schema: BaseSchema) -> None:
    # ``ok()`` raises for an operation whose schema cannot be read.
    operations = {result.ok().label for result in api_schema.get_all_operations()}  # type: ignore[union-attr]
    assert operations == {label for label, _, _ in PLAN}
    assert sum(examples for _, _, examples in PLAN) >= MIN_TOTAL_CASES


@pytest.mark.parametrize(
    ("label", "mode", "examples"),
    PLAN,
    ids=[f"{mode.value} {label}" for label, mode, _ in PLAN],
)
def test_generated_requests_get_no_server_error_and_conform_to_the_schema(
    api_schema: BaseSchema,
    session: requests.Session,
    label: str,
    mode: GenerationMode,
    examples: int,
) -> None:
    sent = _send(_operation(api_schema, label), mode, examples, session)
    assert sent >= examples
