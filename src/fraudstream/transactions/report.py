"""The validation report: every failure and warning, as JSON and as text for people."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict


class Failure(BaseModel):
    """One broken rule: where, how often, examples and the fix."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    check: str
    column: str | None
    message: str
    fix: str
    failing_rows: int = 0
    examples: list[str] = []


class ValidationReport(BaseModel):
    """Everything validation found about one dataset (no time stamp: reproducible output)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    passed: bool
    rows: int
    columns: list[str]
    failures: list[Failure]
    warnings: list[Failure]
    handled_quirks: dict[str, int]
    raw_sha256: str | None = None


def format_report(report: ValidationReport) -> str:
    """Render a report as plain text: a verdict line, then one paragraph per finding."""
    verdict = "PASSED" if report.passed else f"FAILED with {len(report.failures)} failure(s)"
    lines = [f"Validation {verdict}: {report.rows} rows, {len(report.columns)} columns."]
    quirks = ", ".join(f"{name}={count}" for name, count in report.handled_quirks.items())
    lines.append(f"Handled quirks: {quirks or 'none'}.")
    for title, findings in (("Failure", report.failures), ("Warning", report.warnings)):
        for number, item in enumerate(findings, start=1):
            lines.append(f"{title} {number} [{item.check}]: {item.message}.")
            if item.examples:
                lines.append(f"  examples: {', '.join(item.examples)}")
            lines.append(f"  fix: {item.fix}.")
    return "\n".join(lines) + "\n"


def validation_error(report: ValidationReport, where: str, report_path: Path | None) -> str:
    """One paragraph naming how many rules broke, the first one with examples, and its fix."""
    first = report.failures[0]
    examples = ", ".join(first.examples[:3]) or "no examples"
    full = f" Full report: {report_path}." if report_path else ""
    return (
        f"validation of {where} failed with {len(report.failures)} problem(s); the first: "
        f"{first.message} ({examples}); fix: {first.fix}.{full} Nothing downstream was changed."
    )


__all__ = ["Failure", "ValidationReport", "format_report", "validation_error"]
