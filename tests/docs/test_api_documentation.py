"""docs/api_documentation.md and the service's OpenAPI schema cannot drift apart.

The schema comes from ``create_app(config).openapi()`` (no model is needed for it). The page is
parsed by its conventions: one ``### METHOD /path`` heading per operation, an ``**Auth:**`` line,
fenced examples whose info string is ``json request [label]`` or ``json response CODE [label]``,
and a status table whose rows start ``| CODE |`` (``| CODE * |`` for a code the service answers
but the schema does not declare). Every check is also run on a deliberately broken copy of the
page or of the schema, so none of them can pass vacuously.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from churnguard.api.app import create_app
from churnguard.config import load_config

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[2]
DOC = REPO_ROOT / "docs" / "api_documentation.md"
METHODS = ("get", "post", "put", "patch", "delete")
HEADING = re.compile(r"^### (GET|POST|PUT|PATCH|DELETE) (/\S*)\s*$")
FENCE = re.compile(r"^```(\w+) (request|response)(?: (\d{3}))?(?: ([\w-]+))?\s*$")
STATUS_ROW = re.compile(r"^\|\s*(\d{3})\s*(\*?)\s*\|")
AUTH = re.compile(r"^\*\*Auth:\*\*\s*(.+?)\s*$")
#: The body of an error the schema declares without a schema (FastAPI's HTTPException).
ERROR_BODY = {"type": "object", "required": ["detail"], "properties": {"detail": {}}}


@dataclass
class Example:
    """One fenced example of a section."""

    kind: str
    status: str | None
    language: str
    text: str
    line: int


@dataclass
class Section:
    """The documentation of one operation."""

    method: str
    path: str
    line: int
    text: list[str] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)
    statuses: dict[str, bool] = field(default_factory=dict)  # code → marked undeclared (*)
    auth: str | None = None

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


def parse_doc(text: str) -> list[Section]:
    """The operation sections of the page, with their examples, status rows and auth line."""
    sections: list[Section] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if heading := HEADING.match(line):
            sections.append(Section(heading[1], heading[2], index))
            continue
        if line.startswith("## ") or not sections:
            if line.startswith("## "):
                sections.append(Section("", "", index))  # text outside any operation
            continue
        section = sections[-1]
        section.text.append(line)
        if line.startswith("```"):
            opened = index
            body, index = _fenced(lines, index)
            if fence := FENCE.match(line):
                section.examples.append(Example(fence[2], fence[3], fence[1], body, opened))
        elif row := STATUS_ROW.match(line):
            section.statuses[row[1]] = bool(row[2])
        elif auth := AUTH.match(line):
            section.auth = auth[1]
    return [s for s in sections if s.method]


def _fenced(lines: list[str], start: int) -> tuple[str, int]:
    for end in range(start, len(lines)):
        if lines[end].startswith("```"):
            return "\n".join(lines[start:end]), end + 1
    msg = f"the code block opened at line {start} is never closed"
    raise ValueError(msg)


def _operations(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{method.upper()} {path}": operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    }


def _validate(instance: Any, fragment: dict[str, Any], schema: dict[str, Any]) -> str | None:
    """The first validation error of ``instance`` against an OpenAPI schema fragment."""
    # The fragment's "#/components/..." references resolve against this root.
    root = {"components": schema.get("components", {}), "allOf": [fragment]}
    validator = jsonschema.Draft202012Validator(root)
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"{where}: {error.message[:300]}"


def _json_schema(container: dict[str, Any]) -> dict[str, Any] | None:
    content = container.get("content", {}).get("application/json")
    return None if content is None else content.get("schema", {})


def _example_problems(
    section: Section, operation: dict[str, Any], schema: dict[str, Any]
) -> list[str]:
    problems = []
    for example in section.examples:
        where = f"{section.name}, {example.kind} example at line {example.line}"
        if example.language != "json":
            if example.kind == "response" and example.status not in operation["responses"]:
                problems.append(f"{where}: status {example.status} is not in the schema")
            continue
        try:
            instance = json.loads(example.text)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: not JSON ({exc})")
            continue
        if example.kind == "request":
            body = _json_schema(operation.get("requestBody", {}))
            if body is None:
                problems.append(f"{where}: the schema declares no JSON request body")
            elif error := _validate(instance, body, schema):
                problems.append(f"{where} does not match the schema: {error}")
            continue
        response = operation["responses"].get(example.status or "")
        if response is None and not section.statuses.get(example.status or ""):
            problems.append(
                f"{where}: status {example.status} is neither in the schema nor marked * in the table"
            )
            continue
        body = _json_schema(response or {}) or ERROR_BODY
        if error := _validate(instance, body, schema):
            problems.append(f"{where} does not match the schema: {error}")
    return problems


def _status_problems(section: Section, operation: dict[str, Any]) -> list[str]:
    declared = set(operation["responses"])
    documented = {code for code, undeclared in section.statuses.items() if not undeclared}
    marked = {code for code, undeclared in section.statuses.items() if undeclared}
    problems = [
        f"{section.name}: status {code} is documented but not in the schema (mark it * if the service answers it anyway)"
        for code in sorted(documented - declared)
    ]
    problems += [
        f"{section.name}: the schema declares status {code}; add it to the status table"
        for code in sorted(declared - set(section.statuses))
    ]
    problems += [
        f"{section.name}: status {code} is marked * (not in the schema) but the schema declares it: remove the mark"
        for code in sorted(marked & declared)
    ]
    return problems


def _operation_problems(
    section: Section, operation: dict[str, Any], schema: dict[str, Any]
) -> list[str]:
    problems = _example_problems(section, operation, schema) + _status_problems(section, operation)
    secured = bool(operation.get("security"))
    if section.auth is None:
        problems.append(f"{section.name}: no **Auth:** line")
    elif secured != ("X-API-Key" in section.auth) or (not secured and section.auth != "none"):
        problems.append(
            f"{section.name}: the auth line says {section.auth!r} but the schema "
            f"{'requires the API key' if secured else 'requires nothing'}"
        )
    kinds = {example.kind for example in section.examples}
    if operation.get("requestBody", {}).get("required") and "request" not in kinds:
        problems.append(
            f"{section.name}: the schema requires a body; add a ```json request example"
        )
    has_json_200 = _json_schema(operation["responses"].get("200", {})) is not None
    if has_json_200 and not any(e.status == "200" for e in section.examples):
        problems.append(f"{section.name}: add a ```json response 200 example")
    text = "\n".join(section.text)
    problems += [
        f"{section.name}: the {parameter['in']} parameter {parameter['name']!r} is not described"
        for parameter in operation.get("parameters", [])
        if f"`{parameter['name']}`" not in text
    ]
    return problems


def problems(doc: str, schema: dict[str, Any]) -> list[str]:
    """Every disagreement between the page ``doc`` and the OpenAPI ``schema``."""
    sections = parse_doc(doc)
    operations = _operations(schema)
    names = [section.name for section in sections]
    found = [
        f"{name} is documented twice" for name in sorted({n for n in names if names.count(n) > 1})
    ]
    found += [
        f"{name} is in the schema but not documented"
        for name in sorted(set(operations) - set(names))
    ]
    found += [
        f"{name} is documented but not in the schema"
        for name in sorted(set(names) - set(operations))
    ]
    for section in sections:
        if section.name in operations:
            found += _operation_problems(section, operations[section.name], schema)
    return found


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    config = load_config(REPO_ROOT / "configs" / "config.yaml", use_env=False)
    store = tmp_path_factory.mktemp("store") / "serving.db"
    serving = config.serving.model_copy(update={"store_url": f"sqlite:///{store}"})
    app = create_app(config.model_copy(update={"serving": serving}))
    return app.openapi()


@pytest.fixture(scope="module")
def doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _section(doc: str, name: str) -> tuple[int, int]:
    """Start and end offsets of the section ``### name`` in ``doc``."""
    start = doc.index(f"\n### {name}\n")
    following = [doc.find(mark, start + 1) for mark in ("\n### ", "\n## ")]
    end = min([i for i in following if i > 0] or [len(doc)])
    return start, end


def _edit_section(doc: str, name: str, old: str, new: str) -> str:
    start, end = _section(doc, name)
    part = doc[start:end]
    assert old in part, f"{old!r} not in the section {name}"
    return doc[:start] + part.replace(old, new, 1) + doc[end:]


# The page as it is.


def test_the_documentation_matches_the_openapi_schema(doc: str, schema: dict[str, Any]) -> None:
    assert problems(doc, schema) == []


def test_every_operation_has_examples_and_a_status_table(doc: str, schema: dict[str, Any]) -> None:
    sections = {section.name: section for section in parse_doc(doc)}
    assert len(sections) == len(_operations(schema)) >= 17
    requests = [e for s in sections.values() for e in s.examples if e.kind == "request"]
    responses = [e for s in sections.values() for e in s.examples if e.kind == "response"]
    assert len(requests) >= 6
    assert len(responses) >= 25
    assert all(section.statuses for section in sections.values())


def test_the_documented_customer_is_the_schema_example(doc: str, schema: dict[str, Any]) -> None:
    (predict,) = [s for s in parse_doc(doc) if s.name == "POST /predict"]
    (request,) = [e for e in predict.examples if e.kind == "request"]
    example = schema["components"]["schemas"]["CustomerRecord"]["examples"][0]
    assert json.loads(request.text) == example


# Each check catches its kind of drift.


def test_an_undocumented_route_is_reported(doc: str, schema: dict[str, Any]) -> None:
    changed = copy.deepcopy(schema)
    changed["paths"]["/predict/stream"] = {"post": {"responses": {"200": {"description": "ok"}}}}
    assert problems(doc, changed) == ["POST /predict/stream is in the schema but not documented"]


def test_a_documented_route_the_service_lacks_is_reported(doc: str, schema: dict[str, Any]) -> None:
    changed = copy.deepcopy(schema)
    del changed["paths"]["/explain"]
    assert problems(doc, changed) == ["POST /explain is documented but not in the schema"]


def test_a_section_documented_twice_is_reported(doc: str, schema: dict[str, Any]) -> None:
    start, end = _section(doc, "GET /health")
    assert "GET /health is documented twice" in problems(doc + doc[start:end], schema)


def test_a_request_example_the_schema_refuses_is_reported(doc: str, schema: dict[str, Any]) -> None:
    broken = _edit_section(
        doc, "POST /explain", '"Contract": "Month-to-month"', '"Contract": "Weekly"'
    )
    (problem,) = problems(broken, schema)
    assert problem.startswith("POST /explain, request example")
    assert "Contract" in problem


def test_a_request_example_with_an_unknown_field_is_reported(
    doc: str, schema: dict[str, Any]
) -> None:
    broken = _edit_section(
        doc, "POST /feedback", '"churn": true}]\n}', '"churn": true, "score": 1}]\n}'
    )
    (problem,) = problems(broken, schema)
    assert "POST /feedback, request example" in problem
    assert "score" in problem


def test_a_changed_request_schema_is_reported(doc: str, schema: dict[str, Any]) -> None:
    changed = copy.deepcopy(schema)
    record = changed["components"]["schemas"]["CustomerRecord"]
    record["required"] = [*record["required"], "region"]
    found = problems(doc, changed)
    assert any(p.startswith("POST /predict, request example") and "region" in p for p in found)
    assert any(p.startswith("POST /predict/batch, request example") for p in found)


def test_a_response_example_the_schema_refuses_is_reported(
    doc: str, schema: dict[str, Any]
) -> None:
    broken = _edit_section(doc, "GET /model", '"threshold": 0.4', '"threshold": "high"')
    (problem,) = problems(broken, schema)
    assert problem.startswith("GET /model, response example")
    assert "threshold" in problem


def test_a_response_field_dropped_from_the_schema_is_reported(
    doc: str, schema: dict[str, Any]
) -> None:
    changed = copy.deepcopy(schema)
    changed["components"]["schemas"]["HealthOut"]["additionalProperties"] = False
    del changed["components"]["schemas"]["HealthOut"]["properties"]["reason"]
    found = problems(doc, changed)
    assert any(p.startswith("GET /health, response example") and "reason" in p for p in found)


def test_an_example_that_is_not_json_is_reported(doc: str, schema: dict[str, Any]) -> None:
    broken = _edit_section(doc, "GET /v2", '"extensions": []', '"extensions": [,]')
    (problem,) = problems(broken, schema)
    assert problem.startswith("GET /v2, response example")
    assert "not JSON" in problem


def test_a_status_code_the_schema_lacks_is_reported(doc: str, schema: dict[str, Any]) -> None:
    broken = _edit_section(doc, "GET /model", "| 503 * |", "| 503 |")
    assert problems(broken, schema) == [
        "GET /model: status 503 is documented but not in the schema (mark it * if the service answers it anyway)"
    ]


def test_a_status_code_missing_from_the_table_is_reported(doc: str, schema: dict[str, Any]) -> None:
    broken = _edit_section(doc, "POST /admin/reload", "| 409 |", "| 4O9 |")
    assert (
        "POST /admin/reload: the schema declares status 409; add it to the status table"
        in problems(broken, schema)
    )


def test_a_declared_code_still_marked_undeclared_is_reported(
    doc: str, schema: dict[str, Any]
) -> None:
    changed = copy.deepcopy(schema)
    changed["paths"]["/model"]["get"]["responses"]["503"] = {"description": "no model"}
    assert problems(doc, changed) == [
        "GET /model: status 503 is marked * (not in the schema) but the schema declares it: remove the mark"
    ]


def test_a_response_example_for_an_unlisted_code_is_reported(
    doc: str, schema: dict[str, Any]
) -> None:
    broken = _edit_section(doc, "POST /predict", "| 503 * |", "| 504 * |")
    found = problems(broken, schema)
    assert any("status 503 is neither in the schema nor marked *" in p for p in found)


def test_a_wrong_auth_line_is_reported(doc: str, schema: dict[str, Any]) -> None:
    broken = _edit_section(
        doc, "POST /admin/reload", "**Auth:** `X-API-Key` header", "**Auth:** none"
    )
    assert problems(broken, schema) == [
        "POST /admin/reload: the auth line says 'none' but the schema requires the API key"
    ]


def test_an_undescribed_query_parameter_is_reported(doc: str, schema: dict[str, Any]) -> None:
    changed = copy.deepcopy(schema)
    parameter = {"name": "top_k", "in": "query", "schema": {"type": "integer"}}
    changed["paths"]["/predict"]["post"]["parameters"].append(parameter)
    assert problems(doc, changed) == ["POST /predict: the query parameter 'top_k' is not described"]


def test_a_missing_request_example_is_reported(doc: str, schema: dict[str, Any]) -> None:
    broken = _edit_section(doc, "POST /explain", "```json request", "```json")
    assert problems(broken, schema) == [
        "POST /explain: the schema requires a body; add a ```json request example"
    ]


def test_an_unclosed_code_block_is_an_error() -> None:
    with pytest.raises(ValueError, match="never closed"):
        parse_doc("## Health\n\n### GET /health\n\n```json response 200\n{}\n")
