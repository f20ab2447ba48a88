"""A profile's values as the properties of a durable_rules event.

A posted value is a profile field or a derived value (a sub-expression durable_rules
cannot evaluate, computed here with the scalar semantics of `zhida.rules.semantics`,
named by a stable hash of the expression). `encode` writes a value as durable_rules'
JSON reader reads it back: dates as ordinal day numbers, numbers as positional
decimal text (its reader rejects `1e-05` or `1e+16`, an exponent without a
fraction, as Python writes them); an unknown or non-finite value has no encoding.
`constant` does the same for the constants of a rule definition.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from zhida.rules.ast import Node

Value = Any


@dataclass
class Ctx:
    """One profile being matched: its values and the derived values computed so far."""

    profile: dict[str, Value]
    as_of: dt.date
    memo: dict[str, Value] = field(default_factory=dict)


Compute = Callable[[Ctx], Value]


@dataclass(eq=False)
class Posted:
    """A value posted as one event property: a profile field or a derived value."""

    name: str  # property name in the event
    kind: str  # number | date | bool | string
    compute: Compute
    prefix: str = ""  # '"name":' ready to join into the event text

    def __post_init__(self) -> None:
        self.prefix = json.dumps(self.name) + ":"


@dataclass(frozen=True)
class Lit:
    """A constant operand of a comparison in a rule."""

    value: Value
    kind: str


Operand = Posted | Lit


def hash_name(key: object) -> str:
    """A stable property name for a derived value (the same across policies and runs)."""
    return "d_" + hashlib.blake2b(repr(key).encode("utf-8"), digest_size=8).hexdigest()


def kind_of(node: Node) -> str:
    return node.ty.kind if node.ty is not None else "any"


def _finite(value: Value) -> float | None:
    """A number (not a bool) as a finite float, else None."""
    if isinstance(value, bool) or not isinstance(value, float | int):
        return None
    x = float(value)
    return x if math.isfinite(x) else None


def encode(value: Value, kind: str) -> str | None:
    """A value as durable_rules reads it, or None when it cannot judge it (unknown...)."""
    if value is None:
        return None
    if kind == "number":
        x = _finite(value)
        if x is None:
            return None
        text = repr(x)
        if "e" in text:  # its reader wants positional notation
            text = format(Decimal(text), "f")
        return text if "." in text else text + ".0"
    if kind == "date":
        return str(value.toordinal()) if isinstance(value, dt.date) else None
    if kind == "bool":
        return ("true" if value else "false") if isinstance(value, bool) else None
    if kind == "string":
        return json.dumps(value, ensure_ascii=False) if isinstance(value, str) else None
    return None


def constant(value: Value, kind: str) -> Value:
    """A constant for the rule definition (written by json.dumps), or None if unreadable."""
    if value is None:
        return None
    if kind == "number":
        x = _finite(value)
        if x is None:
            return None
        if x.is_integer() and abs(x) < 2**62:
            return int(x)  # exact: the double converts back to itself
        return x if "e" not in repr(x) or "." in repr(x) else None
    if kind == "date":
        return value.toordinal() if isinstance(value, dt.date) else None
    if kind == "bool":
        return value if isinstance(value, bool) else None
    if kind == "string":
        return value if isinstance(value, str) else None
    return None
