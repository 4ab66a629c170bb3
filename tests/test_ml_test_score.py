"""docs/ml_test_score.md stays true: 28 rubric rows, real test ids and files, sums that add up.

The checks are plain functions over the document's text, so the tests below also feed them
broken copies and show that each kind of staleness is caught.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO_ROOT = Path(__file__).resolve().parents[1]
DOC = REPO_ROOT / "docs" / "ml_test_score.md"
SECTIONS = {"Data": "D", "Model": "M", "Infrastructure": "I", "Monitoring": "MON"}
EXPECTED_IDS = [f"{prefix}{n}" for prefix in SECTIONS.values() for n in range(1, 8)]
POINTS = {"0": 0.0, "0.5": 0.5, "1": 1.0}
FINAL = "Final (minimum)"

_CELL_SEPARATOR = re.compile(r"(?<!\\)\|")
_ROW_ID = re.compile(r"(D|M|I|MON)[1-7]")
_CODE = re.compile(r"`([^`]+)`")
_NODE_ID = re.compile(r"(?P<path>[\w./-]+\.py)::(?P<names>[\w:]+)(\[[^\]]*\])?")
_FILE = re.compile(r"[\w.-]+(/[\w.-]+)*\.\w+")
_LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


@dataclass(frozen=True)
class RubricRow:
    """One rubric test as the document states it."""

    id: str
    test: str
    automated_by: str
    points: str
    reason: str


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in _CELL_SEPARATOR.split(line.strip())[1:-1]]


def rubric_rows(text: str) -> list[RubricRow]:
    """The table rows whose first cell is a rubric id (D1 … MON7), in document order."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = _cells(line)
        if cells and _ROW_ID.fullmatch(cells[0]):
            if len(cells) != 6:
                msg = f"row {cells[0]} has {len(cells)} cells, expected 6: {line[:80]}"
                raise ValueError(msg)
            rows.append(RubricRow(cells[0], cells[1], cells[3], cells[4], cells[5]))
    return rows


def stated_scores(text: str) -> dict[str, str]:
    """The summary table: section name (and ``FINAL``) → the score written in the document."""
    scores = {}
    for line in text.splitlines():
        cells = [cell.strip("* ") for cell in _cells(line)] if line.startswith("|") else []
        if len(cells) == 2 and cells[0] in (*SECTIONS, FINAL):
            scores[cells[0]] = cells[1]
    return scores


def node_ids(cell: str) -> list[tuple[str, list[str]]]:
    """``(file, [class, ..., test])`` of every pytest node id in a cell, parametrisation dropped."""
    found = []
    for code in _CODE.findall(cell):
        match = _NODE_ID.fullmatch(code)
        if match:
            found.append((match["path"], match["names"].split("::")))
    return found


def referenced_files(cell: str) -> list[str]:
    """Backticked repository paths in a cell that are not pytest node ids."""
    return [c for c in _CODE.findall(cell) if "::" not in c and "/" in c and _FILE.fullmatch(c)]


@cache
def _definitions(path: Path) -> dict[str, set[str]]:
    """Top-level test functions (under ``""``) and the test methods of each class of a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: dict[str, set[str]] = {"": set()}
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    for node in tree.body:
        if isinstance(node, functions):
            found[""].add(node.name)
        elif isinstance(node, ast.ClassDef):
            found[node.name] = {n.name for n in node.body if isinstance(n, functions)}
    return found


def node_problem(root: Path, path: str, names: list[str]) -> str | None:
    """Why ``path::names`` is not a collectable test under ``root``, or None when it is."""
    shown = "::".join([path, *names])
    file = root / path
    if not path.startswith("tests/") or not Path(path).name.startswith("test_"):
        return f"{shown}: not a test file under tests/"
    if not file.is_file():
        return f"{shown}: {path} does not exist"
    definitions = _definitions(file)
    if len(names) == 1:
        container, test = "", names[0]
    elif len(names) == 2:
        container, test = names
        if container not in definitions:
            return f"{shown}: {path} defines no class {container}"
    else:
        return f"{shown}: nested classes are not supported"
    if not test.startswith("test") or test not in definitions[container]:
        return f"{shown}: {path} defines no test {test}"
    return None


def _slug(heading: str) -> str:
    # GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens.
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(markdown: str) -> set[str]:
    return {_slug(m) for m in re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE)}


def link_problems(text: str, doc: Path) -> list[str]:
    """Relative links of the document whose file or heading anchor does not exist."""
    problems = []
    for target in _LINK.findall(text):
        if "://" in target or target.startswith("mailto:"):
            continue
        file_part, _, anchor = target.partition("#")
        file = (doc.parent / file_part).resolve() if file_part else doc
        if not file.exists():
            problems.append(f"link {target}: {file_part} does not exist")
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file.read_text("utf-8")):
            problems.append(f"link {target}: no heading #{anchor} in {file.name}")
    return problems


def score_problems(rows: list[RubricRow], stated: dict[str, str]) -> list[str]:
    """Rows without a valid score, and section or final scores that do not add up."""
    problems = [
        f"{row.id}: points {row.points!r} is not one of {', '.join(POINTS)}"
        for row in rows
        if row.points not in POINTS
    ]
    if problems:
        return problems
    totals = {
        section: sum(POINTS[r.points] for r in rows if re.fullmatch(f"{prefix}\\d", r.id))
        for section, prefix in SECTIONS.items()
    }
    for section, total in totals.items():
        if section not in stated:
            problems.append(f"no score stated for section {section}")
        elif float(stated[section]) != total:
            problems.append(f"{section}: stated {stated[section]}, rows add up to {total:g}")
    expected_final = min(totals.values())
    if FINAL not in stated:
        problems.append("no final score stated")
    elif float(stated[FINAL]) != expected_final:
        problems.append(f"final: stated {stated[FINAL]}, minimum of sections is {expected_final:g}")
    return problems


def reference_problems(rows: list[RubricRow], root: Path) -> list[str]:
    """Node ids naming no test, missing files, and rows scored 1 without an automated test."""
    problems = []
    for row in rows:
        nodes = node_ids(row.automated_by)
        for path, names in nodes:
            problem = node_problem(root, path, names)
            if problem:
                problems.append(f"{row.id}: {problem}")
        for path in referenced_files(row.automated_by):
            if not (root / path).exists():
                problems.append(f"{row.id}: {path} does not exist")
        if row.points == "1" and not nodes:
            problems.append(f"{row.id}: scored 1 (automated) but names no test that automates it")
        if not row.reason:
            problems.append(f"{row.id}: no reason given for the score")
    return problems


def doc_problems(text: str, root: Path = REPO_ROOT, doc: Path = DOC) -> list[str]:
    """Every way the document disagrees with the repository (empty when it is accurate)."""
    rows = rubric_rows(text)
    ids = [row.id for row in rows]
    problems = [] if ids == EXPECTED_IDS else [f"rows {ids}, expected {EXPECTED_IDS}"]
    problems += score_problems(rows, stated_scores(text))
    problems += reference_problems(rows, root)
    problems += link_problems(text, doc)
    return problems


@pytest.fixture(scope="module")
def text() -> str:
    return DOC.read_text(encoding="utf-8")


# -- the document as committed -----------------------------------------------------------------
def test_the_document_has_the_28_rubric_tests_in_order(text: str) -> None:
    assert [row.id for row in rubric_rows(text)] == EXPECTED_IDS
    assert all(row.test for row in rubric_rows(text))


def test_every_referenced_test_exists(text: str) -> None:
    rows = rubric_rows(text)
    referenced = [node for row in rows for node in node_ids(row.automated_by)]
    assert len(referenced) >= 60, "the mapping lost most of its test references"
    missing = [p for path, names in referenced if (p := node_problem(REPO_ROOT, path, names))]
    assert not missing, "\n".join(missing)


def test_every_referenced_file_and_link_exists(text: str) -> None:
    rows = rubric_rows(text)
    missing = [
        f"{row.id}: {path}"
        for row in rows
        for path in referenced_files(row.automated_by)
        if not (REPO_ROOT / path).exists()
    ]
    assert not missing + link_problems(text, DOC)


def test_section_scores_add_up_and_the_final_score_is_their_minimum(text: str) -> None:
    assert score_problems(rubric_rows(text), stated_scores(text)) == []
    stated = stated_scores(text)
    assert float(stated[FINAL]) == min(float(stated[s]) for s in SECTIONS)


def test_a_row_scored_1_names_an_automated_test(text: str) -> None:
    assert reference_problems(rubric_rows(text), REPO_ROOT) == []


def test_the_whole_document_is_consistent(text: str) -> None:
    assert doc_problems(text) == []


# -- the checks catch a stale document ---------------------------------------------------------
def _row_line(text: str, row_id: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(f"| {row_id} |"))


def test_a_renamed_test_is_caught(text: str) -> None:
    stale = text.replace(
        "test_training_twice_gives_identical_probabilities", "test_training_twice_is_identical"
    )
    assert any("defines no test test_training_twice_is_identical" in p for p in doc_problems(stale))


def test_a_missing_test_file_or_benchmark_is_caught(text: str) -> None:
    stale = text.replace("tests/models/test_train.py::", "tests/models/test_training.py::")
    stale = stale.replace("`benchmarks/serving.py`", "`benchmarks/serve.py`")
    problems = doc_problems(stale)
    assert any("tests/models/test_training.py does not exist" in p for p in problems)
    assert any("benchmarks/serve.py does not exist" in p for p in problems)


def test_a_parametrised_or_class_node_id_is_resolved(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text(
        "class TestGroup:\n    def test_a(self):\n        pass\n\ndef test_b():\n    pass\n"
    )
    assert node_problem(tmp_path, "tests/test_x.py", ["TestGroup", "test_a"]) is None
    assert node_ids("`tests/test_x.py::test_b[case-1]`") == [("tests/test_x.py", ["test_b"])]
    assert node_problem(tmp_path, "tests/test_x.py", ["test_b"]) is None
    assert "no class" in str(node_problem(tmp_path, "tests/test_x.py", ["Other", "test_a"]))
    assert "no test" in str(node_problem(tmp_path, "tests/test_x.py", ["TestGroup", "test_b"]))
    assert "not a test file" in str(node_problem(tmp_path, "src/x.py", ["test_b"]))


def test_a_wrong_sum_or_final_score_is_caught(text: str) -> None:
    stale = text.replace("| Infrastructure | 6.5 |", "| Infrastructure | 7 |")
    assert any("Infrastructure: stated 7" in p for p in doc_problems(stale))
    stale = text.replace("| **Final (minimum)** | **4.5** |", "| **Final (minimum)** | **5** |")
    assert any("final: stated 5" in p for p in doc_problems(stale))


def test_a_full_point_without_a_test_and_an_invalid_score_are_caught(text: str) -> None:
    line = _row_line(text, "D6")
    assert "| 0 |" in line
    stale = text.replace(line, line.replace("| 0 |", "| 1 |"))
    assert any("D6: scored 1 (automated) but names no test" in p for p in doc_problems(stale))
    stale = text.replace(line, line.replace("| 0 |", "| 0.25 |"))
    assert any("D6: points '0.25'" in p for p in doc_problems(stale))


def test_a_missing_or_extra_row_is_caught(text: str) -> None:
    line = _row_line(text, "MON7")
    assert any("expected" in p for p in doc_problems(text.replace(line + "\n", "")))
    duplicated = text.replace(line, line + "\n" + line)
    assert any("expected" in p for p in doc_problems(duplicated))


def test_a_broken_link_is_caught(text: str) -> None:
    stale = text.replace("(serving.md#results)", "(serving.md#no-such-heading)")
    stale = stale.replace("(model_card.md#", "(modelcard.md#")
    problems = link_problems(stale, DOC)
    assert any("no heading #no-such-heading in serving.md" in p for p in problems)
    assert any("modelcard.md does not exist" in p for p in problems)
