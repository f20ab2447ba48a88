"""Profile updates and life events, as JSON Lines, for the real-time path.

One event per line:

```
{"type": "profile.updated", "profile": "E1", "kind": "enterprise", "fields": {"revenue": 120000000}}
{"type": "company.registered", "profile": {"id": "E9", "name": "...", "established": "2026-04-01"}}
{"type": "patent.granted", "profile": "E1", "invention": true, "count": 1}
{"type": "graduated", "profile": "P1", "education": "硕士", "date": "2026-06-30"}
```

An optional `"at"` (a timestamp string) is kept as given. `parse_events` reads
a file: a bad line (not JSON, an unknown type or key, a missing profile, a field
not in the schema, a value of the wrong type, a bad date, an invalid USCC,
phone or region code) becomes a `RowError` with its line number and the other
lines go on. `apply_event` returns the updated profile, its values typed as the
profile readers produce them: int, float, `datetime.date`, bool, str, list of
str, None for missing.

Values are converted as the readers convert a JSON Lines cell: a string field
takes a string (surrounding spaces removed, empty means missing) or an integer;
a number may be written `8000万` or `1.5亿`; booleans also accept 是/否, yes/no,
1/0; dates are `YYYY-MM-DD`; a list is a JSON array of strings or `a;b;c`;
`null` clears a field.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from zhida.errors import RowError, SubjectError, ZhidaError
from zhida.profiles.readers.jsonl_input import json_error, json_type
from zhida.profiles.schema import Audience, Field, FieldType, SchemaSet
from zhida.profiles.validate import (
    FALSE_WORDS,
    NUL_REASON,
    NUMBER_UNITS,
    TRUE_WORDS,
    TYPE_REASONS,
    date_reason,
    format_of,
    id_problem,
    is_valid_date,
    show_text,
)
from zhida.suggest import did_you_mean

__all__ = [
    "EDUCATION_LEVELS",
    "EVENT_TYPES",
    "CompanyRegistered",
    "Event",
    "EventError",
    "EventLog",
    "Graduated",
    "PatentGranted",
    "ProfileUpdated",
    "apply_event",
    "convert_value",
    "parse_event",
    "parse_events",
]

EDUCATION_LEVELS = ("大专", "本科", "硕士", "博士")


class EventError(ZhidaError):
    """One event is malformed; `parse_events` reports it with its line and goes on."""

    def __init__(self, reason: str, profile_id: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.profile_id = profile_id


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class ProfileUpdated:
    """Some fields of an existing profile changed (null clears a field)."""

    profile_id: str
    kind: Audience
    fields: dict[str, Any]
    line: int = 0
    at: str | None = None
    type: ClassVar[str] = "profile.updated"


@dataclass(frozen=True)
class CompanyRegistered:
    """A new enterprise: its whole profile (fields not given are missing)."""

    profile: dict[str, Any]
    line: int = 0
    at: str | None = None
    type: ClassVar[str] = "company.registered"
    kind: ClassVar[Audience] = Audience.ENTERPRISE

    @property
    def profile_id(self) -> str:
        return str(self.profile["id"])


@dataclass(frozen=True)
class PatentGranted:
    """`count` patents granted: `patents` grows, and `invention_patents` too for inventions."""

    profile_id: str
    invention: bool
    count: int = 1
    line: int = 0
    at: str | None = None
    type: ClassVar[str] = "patent.granted"
    kind: ClassVar[Audience] = Audience.ENTERPRISE


@dataclass(frozen=True)
class Graduated:
    """A citizen graduated: sets `education` and `graduation_date`."""

    profile_id: str
    education: str
    date: dt.date
    line: int = 0
    at: str | None = None
    type: ClassVar[str] = "graduated"
    kind: ClassVar[Audience] = Audience.CITIZEN


Event = ProfileUpdated | CompanyRegistered | PatentGranted | Graduated

# event type -> (required keys, optional keys); "type" and "at" are always allowed
_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "profile.updated": (("profile", "kind", "fields"), ()),
    "company.registered": (("profile",), ()),
    "patent.granted": (("profile", "invention"), ("count",)),
    "graduated": (("profile", "education", "date"), ()),
}
EVENT_TYPES = tuple(_KEYS)


def _suggest(word: str, choices: Iterable[str]) -> str:
    hint = did_you_mean(word, choices)
    return f" ({hint})" if hint else ""


def _show(v: object) -> str:
    if isinstance(v, str):
        return show_text(v)
    return json.dumps(v, ensure_ascii=False)[:60]


# --------------------------------------------------------------------------- values


def convert_value(f: Field, value: object) -> Any:
    """A JSON value as the profile readers would type it; raises EventError when it cannot be."""
    if value is None:
        return None
    t = f.type
    bad = f"{f.name}: {_show(value)}"
    if t is FieldType.STRING:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise EventError(f"{f.name}: expected a string, got a JSON {json_type(value)}")
        s = value.strip()
        if not s:
            return None
        if "\x00" in s:
            raise EventError(f"{f.name}: {NUL_REASON}")
        fmt = format_of(f.name)
        if fmt is not None:
            s = fmt.normalise(s)
            if not fmt.is_valid(s):
                raise EventError(f"{f.name}: {fmt.event_error(s)}")
        return s
    if t is FieldType.INT:
        if isinstance(value, bool):
            raise EventError(f"{bad} {TYPE_REASONS[FieldType.INT]}")
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            if math.isfinite(value) and value.is_integer():
                return int(value)
            raise EventError(f"{bad} {TYPE_REASONS[FieldType.INT]}")
        if isinstance(value, str):
            s = value.strip()
            if not s:
                return None
            try:
                return int(s)
            except ValueError:
                try:
                    x = float(s)
                except ValueError:
                    raise EventError(f"{bad} {TYPE_REASONS[FieldType.INT]}") from None
                if math.isfinite(x) and x.is_integer():
                    return int(x)
            raise EventError(f"{bad} {TYPE_REASONS[FieldType.INT]}")
        raise EventError(f"{f.name}: expected an integer, got a JSON {json_type(value)}")
    if t is FieldType.NUMBER:
        if isinstance(value, bool):
            raise EventError(f"{bad} {TYPE_REASONS[FieldType.NUMBER]}")
        if isinstance(value, int | float):
            x = float(value)
        elif isinstance(value, str):
            s = value.strip()
            if not s:
                return None
            scale = NUMBER_UNITS.get(s[-1], 1.0)
            try:
                x = float(s[:-1] if scale != 1.0 else s) * scale
            except ValueError:
                raise EventError(f"{bad} {TYPE_REASONS[FieldType.NUMBER]}") from None
        else:
            raise EventError(f"{f.name}: expected a number, got a JSON {json_type(value)}")
        if not math.isfinite(x):
            raise EventError(f"{bad} {TYPE_REASONS[FieldType.NUMBER]}")
        return x
    if t is FieldType.BOOL:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str):
            s = value.strip().lower()
            if not s:
                return None
            if s in TRUE_WORDS:
                return True
            if s in FALSE_WORDS:
                return False
        raise EventError(f"{bad} {TYPE_REASONS[FieldType.BOOL]}")
    if t is FieldType.DATE:
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, str) and is_valid_date(value.strip()):
            return dt.date.fromisoformat(value.strip())
        raise EventError(f"{bad} {date_reason(value)}")
    # LIST
    if isinstance(value, str):
        parts = value.replace("；", ";").split(";")
    elif isinstance(value, list):
        if not all(isinstance(p, str) or p is None for p in value):
            raise EventError(f"{f.name}: expected an array of strings")
        parts = [p for p in value if p is not None]
    else:
        raise EventError(f"{f.name}: expected an array of strings, got a JSON {json_type(value)}")
    if any("\x00" in p for p in parts):
        raise EventError(f"{f.name}: {NUL_REASON}")
    return [p.strip() for p in parts if p.strip()]


def _fields(
    kind: Audience, values: dict[str, Any], schemas: SchemaSet, allow_id: bool
) -> dict[str, Any]:
    schema = schemas[kind]
    out: dict[str, Any] = {}
    problems: list[str] = []
    for name, value in values.items():
        if name == "id" and not allow_id:
            problems.append("the id of a profile cannot be updated")
            continue
        f = schema.get(name)
        if f is None:
            problems.append(
                f"'{name}' is not a field of {kind.value} profiles" + _suggest(name, schema.names())
            )
            continue
        try:
            out[name] = convert_value(f, value)
        except EventError as e:
            problems.append(e.reason)
    if problems:
        raise EventError("; ".join(problems))
    return out


# --------------------------------------------------------------------------- parsing


def _profile_ref(obj: dict[str, Any]) -> str:
    ref = obj.get("profile")
    if isinstance(ref, int) and not isinstance(ref, bool):
        ref = str(ref)
    if not isinstance(ref, str) or not ref.strip():
        raise EventError("'profile' must be the profile's id (a non-empty string)")
    problem = id_problem(ref.strip())
    if problem is not None:
        raise EventError(problem)
    return ref.strip()


def parse_event(
    data: str | dict[str, Any], schemas: SchemaSet | None = None, line: int = 0
) -> Event:
    """One event from its JSON text or object; raises EventError when it is malformed."""
    schemas = schemas or SchemaSet.builtin()
    if isinstance(data, str):
        try:
            obj = json.loads(data)
        except (ValueError, RecursionError) as e:
            raise EventError(json_error(e)) from None
    else:
        obj = data
    if not isinstance(obj, dict):
        raise EventError(f"not a JSON object (a JSON {json_type(obj)})")
    ref = obj.get("profile")
    who = (ref.strip() or None) if isinstance(ref, str) else None
    if isinstance(ref, dict) and isinstance(ref.get("id"), str):
        who = ref["id"].strip() or None
    etype = obj.get("type")
    if etype is None:
        raise EventError(f"missing event type (one of {', '.join(EVENT_TYPES)})", who)
    if not isinstance(etype, str) or etype not in _KEYS:
        shown = _show(etype)
        hint = _suggest(etype, EVENT_TYPES) if isinstance(etype, str) else ""
        raise EventError(
            f"unknown event type {shown}{hint}; expected one of {', '.join(EVENT_TYPES)}", who
        )
    try:
        return _parse(etype, obj, schemas, line)
    except EventError as e:
        raise EventError(f"{etype}: {e.reason}", e.profile_id or who) from None


def _parse(etype: str, obj: dict[str, Any], schemas: SchemaSet, line: int) -> Event:
    required, optional = _KEYS[etype]
    allowed = ("type", "at", *required, *optional)
    for key in obj:
        if key not in allowed:
            raise EventError(f"unknown key '{key}'" + _suggest(key, allowed))
    for key in required:
        if obj.get(key) is None:
            raise EventError(f"missing '{key}'")
    at = obj.get("at")
    if at is not None and not isinstance(at, str):
        raise EventError("'at' must be a timestamp string")
    if etype == "company.registered":
        return _registered(obj["profile"], schemas, line, at)
    pid = _profile_ref(obj)
    if etype == "profile.updated":
        kind_raw = obj["kind"]
        try:
            kind = Audience(kind_raw.strip().lower() if isinstance(kind_raw, str) else kind_raw)
        except ValueError:
            raise EventError(f"kind {_show(kind_raw)} is not enterprise or citizen") from None
        values = obj["fields"]
        if not isinstance(values, dict):
            raise EventError(f"'fields' must be an object, got a JSON {json_type(values)}")
        if not values:
            raise EventError("'fields' is empty: nothing to update")
        return ProfileUpdated(pid, kind, _fields(kind, values, schemas, False), line, at)
    if etype == "patent.granted":
        invention = obj["invention"]
        if not isinstance(invention, bool):
            raise EventError(f"'invention' must be true or false, got {_show(invention)}")
        count = obj.get("count", 1)
        if isinstance(count, float) and count.is_integer():
            count = int(count)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise EventError(f"'count' must be a positive integer, got {_show(count)}")
        return PatentGranted(pid, invention, count, line, at)
    # graduated
    education = obj["education"]
    if not isinstance(education, str) or education.strip() not in EDUCATION_LEVELS:
        raise EventError(f"education {_show(education)} is not one of {'/'.join(EDUCATION_LEVELS)}")
    date = obj["date"]
    if not isinstance(date, str) or not is_valid_date(date.strip()):
        raise EventError(f"date {_show(date)} {date_reason(date)}")
    return Graduated(pid, education.strip(), dt.date.fromisoformat(date.strip()), line, at)


def _registered(
    profile: object, schemas: SchemaSet, line: int, at: str | None
) -> CompanyRegistered:
    if not isinstance(profile, dict):
        raise EventError(
            f"'profile' must be the whole enterprise profile (an object), got a "
            f"JSON {json_type(profile)}"
        )
    values = dict(profile)
    kind = values.pop("kind", None)
    if kind is not None and kind != Audience.ENTERPRISE.value:
        raise EventError(f"a registered company is an enterprise, not {_show(kind)}")
    pid = values.get("id")
    if isinstance(pid, int) and not isinstance(pid, bool):
        values["id"] = pid = str(pid)
    if not isinstance(pid, str) or not pid.strip():
        raise EventError("the profile has no id")
    problem = id_problem(pid.strip())
    if problem is not None:
        raise EventError(problem)
    converted = _fields(Audience.ENTERPRISE, values, schemas, True)
    full = {name: converted.get(name) for name in schemas[Audience.ENTERPRISE].names()}
    return CompanyRegistered(full, line, at)


def parse_events(
    path: str | Path, schemas: SchemaSet | None = None
) -> tuple[list[Event], list[RowError]]:
    """Read a JSON Lines file of events: (good events in file order, bad lines)."""
    p = Path(path)
    fname = str(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise SubjectError(f"{fname}: no such file") from None
    except IsADirectoryError:
        raise SubjectError(f"{fname}: is a directory, not an event file") from None
    except OSError as e:
        raise SubjectError(f"{fname}: cannot read file ({e.strerror})") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SubjectError(f"{fname}: not UTF-8 text (byte {e.start})") from None
    schemas = schemas or SchemaSet.builtin()
    events: list[Event] = []
    errors: list[RowError] = []
    for lineno, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            events.append(parse_event(line, schemas, lineno))
        except EventError as e:
            errors.append(RowError(fname, lineno, e.reason, e.profile_id))
    return events, errors


# --------------------------------------------------------------------------- applying


def apply_event(profile: dict[str, Any] | None, event: Event) -> dict[str, Any]:
    """The profile after the event (a new dict; the given one is not changed).

    `profile` is the current profile, or None when there is none. A registration
    needs None; every other event needs an existing profile of the event's kind
    (a `kind` key in the profile, when present, must match). An unknown patent
    count stays unknown when patents are granted: the new total is not known.
    """
    if isinstance(event, CompanyRegistered):
        if profile is not None:
            raise SubjectError(
                f"company.registered: profile {event.profile_id} already exists; "
                "send profile.updated to change it"
            )
        return dict(event.profile)
    if profile is None:
        raise SubjectError(f"{event.type}: profile {event.profile_id} does not exist")
    if profile.get("id") not in (None, event.profile_id):
        raise SubjectError(
            f"{event.type}: the event is for profile {event.profile_id}, not {profile.get('id')}"
        )
    kind = profile.get("kind")
    if kind is not None and str(getattr(kind, "value", kind)) != event.kind.value:
        raise SubjectError(
            f"{event.type}: profile {event.profile_id} is a {kind} profile, "
            f"the event is for {event.kind.value} profiles"
        )
    out = dict(profile)
    if isinstance(event, ProfileUpdated):
        out.update(event.fields)
    elif isinstance(event, PatentGranted):
        names = ("patents", "invention_patents") if event.invention else ("patents",)
        for name in names:
            current = out.get(name)
            out[name] = None if current is None else int(current) + event.count
    else:
        out["education"] = event.education
        out["graduation_date"] = event.date
    return out


@dataclass
class EventLog:
    """Profiles kept in memory and changed by events, keyed by (kind, id)."""

    profiles: dict[tuple[Audience, str], dict[str, Any]] = field(default_factory=dict)

    def apply(self, event: Event) -> dict[str, Any]:
        key = (event.kind, event.profile_id)
        updated = apply_event(self.profiles.get(key), event)
        self.profiles[key] = updated
        return updated
