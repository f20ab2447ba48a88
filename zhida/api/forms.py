"""The application form's fields: prefilled, typed, checked, and compared for the officer.

A field of a policy's `apply.form` is one of two kinds:

- **a profile field read as is** (`uscc`, `employees`, `established`): prefilled
  from the government's data and editable. A submitted value must not be empty
  and must be of the field's type (parsed as events are, `convert_value`) and, for
  a string field with a format (`format_of`: USCC, phone, region, industry...),
  of that format; both come from zhida/profiles (schema and validate.py), with
  their Chinese words (`PEOPLE_TYPE_REASONS`, `FieldFormat.people_reason`). A
  value other than the prefilled one is recorded in `Submission.changes`
  (label -> the prefilled text, or None when there was none) so the officer sees
  what the applicant changed. Eligibility is still decided on the government's
  data: an edit never makes anyone eligible.
- **anything computed** (`revenue / 1万`, a `define:`, a function): read-only.
  The value stored is the one computed from the government's data, whatever the
  request says; a correction of the data behind it goes through a dispute.

Errors are shown in Chinese next to their field, and the form keeps what was typed.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any

from zhida.errors import ZhidaError
from zhida.profiles.events import convert_value
from zhida.profiles.schema import Field, FieldType, ProfileSchema
from zhida.profiles.validate import PEOPLE_TYPE_REASONS, format_of
from zhida.rules.ast import Name
from zhida.rules.policy import Policy

MAX_VALUE_CHARS = 500
BOOL_CHOICES = ("是", "否")
HINTS = {FieldType.DATE: "格式：YYYY-MM-DD", FieldType.LIST: "多项请用“、”分隔"}


def form_text(value: Any) -> str:
    """A prefilled value as the text of an input."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.4f}".rstrip("0").rstrip(".")
    if isinstance(value, list | tuple):
        return "、".join(str(v) for v in value)
    return str(value)


@dataclass
class FormField:
    """One input of the form as shown: `value` is what the input holds (prefilled, or
    as typed), `prefilled` what the government's data gave."""

    name: str  # the input's name: f0, f1, ...
    label: str
    prefilled: str
    value: str
    editable: bool
    source: Field | None = None  # the profile field, when editable
    error: str = ""

    @property
    def choices(self) -> tuple[str, ...]:
        """The options of a yes/no field (a select), else ()."""
        return BOOL_CHOICES if self.source and self.source.type is FieldType.BOOL else ()

    @property
    def hint(self) -> str:
        return HINTS.get(self.source.type, "") if self.source else ""


@dataclass
class Checked:
    """What a submitted form gives: the values to store, what the applicant changed,
    and the fields (with their errors) to show again when any is wrong."""

    values: dict[str, str]
    changes: dict[str, str | None]
    fields: list[FormField]
    errors: int = field(default=0)


def profile_field(node: Any, schema: ProfileSchema) -> Field | None:
    """The profile field a form expression reads as is, or None (computed)."""
    if isinstance(node, Name) and not node.is_define and node.name != "id":
        return schema.get(node.name)
    return None


def form_fields(
    policy: Policy, schema: ProfileSchema, prefilled: dict[str, Any]
) -> list[FormField]:
    """The inputs of the form, prefilled (`prefilled`: label -> value, as `evaluate_form`
    gives it)."""
    out = []
    for i, (label, node) in enumerate(policy.form.items()):
        text = form_text(prefilled.get(label))
        source = profile_field(node, schema)
        out.append(FormField(f"f{i}", label, text, text, source is not None, source))
    return out


def _parse(source: Field, text: str) -> Any:
    """The typed value of a submitted text, or raise ValueError with the Chinese reason."""
    if not text:
        raise ValueError("此项为必填项")
    if len(text) > MAX_VALUE_CHARS:
        raise ValueError(f"不能超过{MAX_VALUE_CHARS}个字")
    raw = text.replace("、", ";") if source.type is FieldType.LIST else text
    try:
        value = convert_value(source, raw)
    except ZhidaError:
        fmt = format_of(source.name) if source.type is FieldType.STRING else None
        reason = fmt.people_reason if fmt is not None else PEOPLE_TYPE_REASONS.get(source.type)
        raise ValueError(reason or "格式不正确") from None
    if value is None or value == []:
        raise ValueError("此项为必填项")
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, int | float) and isinstance(b, int | float) and math.isclose(a, b)
    return bool(a == b)


def check_form(fields: list[FormField], raw: dict[str, str]) -> Checked:
    """Check a submitted form against its fields (see the module docstring)."""
    values: dict[str, str] = {}
    changes: dict[str, str | None] = {}
    errors = 0
    for f in fields:
        if not f.editable or f.source is None:
            values[f.label] = f.prefilled  # computed: never from the request
            continue
        typed = raw.get(f.name, "").strip()
        f.value = typed[: MAX_VALUE_CHARS + 1]
        try:
            value = _parse(f.source, typed)
        except ValueError as err:
            f.error = str(err)
            errors += 1
            continue
        values[f.label] = form_text(value)
        before = None
        if f.prefilled:
            try:
                before = _parse(f.source, f.prefilled)
            except ValueError:
                before = None  # the stored value itself is bad: any value is a change
        if before is None or not _same(before, value):
            changes[f.label] = f.prefilled or None
    return Checked(values, changes, fields, errors)
