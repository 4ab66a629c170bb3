"""Change injection: what may drift in the simulated stream, from which day, and its CLI syntax.

A drift spec is written ``KIND:key=value,key=value`` (repeat ``--drift`` for several):

- ``new-pattern:from=DAY[,days=N][,cards=K][,burst=B]`` — card testing, fraud scenario 4.
- ``amount-shift:from=DAY[,days=N][,factor=F]`` — every genuine amount multiplied by ``F``.
- ``terminal-burst:from=DAY[,days=N][,terminals=T]`` — ``T`` terminals compromised at once.

``from`` is a day index (0 = the start date). ``days`` bounds the effect to ``[from, from+days)``;
without it the effect lasts to the end (``terminal-burst`` defaults to 7 days). See
``docs/simulator.md`` for the effects.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

#: The CLI spelling of a spec's first day; ``from`` is a Python keyword, the field is ``from_day``.
_KEY_ALIASES = {"from": "from_day"}


class _DriftBase(BaseModel):
    """Fields every drift spec has: when it starts and how long it lasts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    from_day: int = Field(ge=0, description="First day index affected (0 = the start date).")
    days: int | None = Field(
        default=None, ge=1, description="Days affected; None means until the end."
    )

    def end_day(self, total_days: int) -> int:
        """The first day index no longer affected, at most ``total_days``."""
        if self.days is None:
            return total_days
        return min(self.from_day + self.days, total_days)


class NewPatternDrift(_DriftBase):
    """A fraud pattern the handbook's scenarios do not contain: card testing (scenario 4).

    Each affected day, ``cards`` random cards are stolen; each makes a burst of about ``burst``
    small payments (0.50 to 5.00) a minute or two apart, starting between midnight and 05:00,
    all at one terminal drawn from the whole square (the fraudster is not near the cardholder).
    """

    kind: Literal["new-pattern"] = "new-pattern"
    cards: int = Field(default=5, ge=1, description="Cards tested per day.")
    burst: float = Field(default=8.0, ge=1.0, le=100.0, description="Mean payments per burst.")


class AmountShiftDrift(_DriftBase):
    """Every genuine amount from ``from_day`` multiplied by ``factor`` (before the 220 rule)."""

    kind: Literal["amount-shift"] = "amount-shift"
    factor: float = Field(default=1.5, gt=0.0, le=100.0, description="Amount multiplier.")


class TerminalBurstDrift(_DriftBase):
    """``terminals`` random terminals compromised at once on ``from_day``, for ``days`` days."""

    kind: Literal["terminal-burst"] = "terminal-burst"
    days: int = Field(default=7, ge=1, description="Days the terminals stay compromised.")
    terminals: int = Field(default=40, ge=1, description="Terminals compromised at once.")


DriftSpec = Annotated[
    NewPatternDrift | AmountShiftDrift | TerminalBurstDrift, Field(discriminator="kind")
]
#: The spec kinds, as written before the colon.
DRIFT_KINDS = ("new-pattern", "amount-shift", "terminal-burst")

_SPEC_ADAPTER: TypeAdapter[NewPatternDrift | AmountShiftDrift | TerminalBurstDrift] = TypeAdapter(
    DriftSpec
)


def _split_pairs(text: str, body: str) -> dict[str, str]:
    """``key=value,key=value`` → dict, rejecting empty, malformed and repeated keys."""
    pairs: dict[str, str] = {}
    for item in (part.strip() for part in body.split(",")):
        key, equals, value = (piece.strip() for piece in item.partition("="))
        if not equals or not key or not value:
            msg = f"drift spec {text!r}: {item!r} is not key=value (example: from=120)"
            raise ValueError(msg)
        field = _KEY_ALIASES.get(key, key.replace("-", "_"))
        if field in pairs:
            msg = f"drift spec {text!r}: {key!r} is given twice"
            raise ValueError(msg)
        pairs[field] = value
    return pairs


def _describe(error: ValidationError, text: str) -> str:
    """One line per problem, naming the key as written on the command line."""
    names = {field: key for key, field in _KEY_ALIASES.items()}
    problems = []
    for item in error.errors():
        where = [str(part) for part in item["loc"] if str(part) not in DRIFT_KINDS]
        key = names.get(where[-1], where[-1]) if where else "spec"
        problems.append(f"{key}: {item['msg']}")
    return f"drift spec {text!r}: " + "; ".join(problems)


def parse_drift(text: str) -> NewPatternDrift | AmountShiftDrift | TerminalBurstDrift:
    """Parse one ``KIND:key=value,...`` drift spec (the ``--drift`` syntax).

    Raises:
        ValueError: naming the unknown kind, the malformed ``key=value`` item, the unknown key
            or the out-of-range value.
    """
    kind, colon, body = (piece.strip() for piece in text.partition(":"))
    if kind not in DRIFT_KINDS:
        msg = f"drift spec {text!r}: unknown kind {kind!r}; use one of {', '.join(DRIFT_KINDS)}"
        raise ValueError(msg)
    if not colon or not body:
        msg = f"drift spec {text!r}: missing parameters; write {kind}:from=DAY[,key=value...]"
        raise ValueError(msg)
    try:
        return _SPEC_ADAPTER.validate_python({"kind": kind, **_split_pairs(text, body)})
    except ValidationError as exc:
        raise ValueError(_describe(exc, text)) from None


def format_drift(spec: NewPatternDrift | AmountShiftDrift | TerminalBurstDrift) -> str:
    """Write a spec back in the ``--drift`` syntax (``parse_drift`` reads it back equal)."""
    names = {field: key for key, field in _KEY_ALIASES.items()}
    values = spec.model_dump(exclude={"kind"}, exclude_none=True)
    body = ",".join(f"{names.get(field, field)}={value}" for field, value in values.items())
    return f"{spec.kind}:{body}"


__all__ = [
    "DRIFT_KINDS",
    "AmountShiftDrift",
    "DriftSpec",
    "NewPatternDrift",
    "TerminalBurstDrift",
    "format_drift",
    "parse_drift",
]
