"""One error hierarchy for everything a user can get wrong.

Every error a user can cause is a ZhidaError; the command line prints its
`str()` and exits 1, never a traceback. How an error reads is decided here, once:

- `error: message`: the rule, for every ZhidaError (raise `ZhidaError("no run 42")`,
  never `ZhidaError("error: no run 42")`);
- `FILE:LINE:COL: error: message`: an error at a place in a file (PositionedError);
- `SUBJECT: message`: an error whose message starts with what it is about, a file or
  an event (SubjectError, ProfileDataError: `x.csv: no such file`), and a ConfigError.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


class ZhidaError(Exception):
    """Base of every user-facing error; `str()` is `error: <message>`."""

    #: what `str()` puts before the message
    prefix: ClassVar[str] = "error: "

    def __str__(self) -> str:
        return f"{self.prefix}{super().__str__()}"


@dataclass(frozen=True)
class Location:
    file: str
    line: int  # 1-based
    col: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class PositionedError(ZhidaError):
    """An error at a place in a file."""

    severity = "error"

    def __init__(self, message: str, loc: Location | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.loc = loc
        self.hint = hint

    def __str__(self) -> str:
        where = f"{self.loc}: " if self.loc else ""
        text = f"{where}{self.severity}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class PolicyError(PositionedError):
    """A policy file is malformed: YAML, structure, syntax or types."""


class PolicySyntaxError(PolicyError):
    """An expression does not parse."""


class PolicyTypeError(PolicyError):
    """An expression is well-formed but ill-typed (unknown name, wrong arity, date vs number...)."""


class SchemaError(PositionedError):
    """A pack's schema.yaml is malformed."""


class SubjectError(ZhidaError):
    """An error whose message starts with what it is about, a file, an event or a
    template (`events.jsonl: no such file`, `patent.granted: profile E1 does not
    exist`, `sms template: ...`): printed as the message alone."""

    prefix = ""


class ProfileDataError(SubjectError):
    """A whole profile file cannot be read (empty, not CSV/JSON Lines/Parquet, unreadable);
    the message starts with the file's name."""


@dataclass(frozen=True)
class RowError:
    """One bad profile row: reported and skipped, the good rows go on."""

    file: str
    line: int  # 1-based line (CSV/JSONL) or row number (Parquet)
    reason: str
    profile_id: str | None = None

    def __str__(self) -> str:
        who = f" (id {self.profile_id})" if self.profile_id else ""
        return f"{self.file}:{self.line}: error: {self.reason}{who}"


class ConfigError(ZhidaError):
    """The configuration (settings, environment) cannot work: a missing credential, an
    unknown choice. Raised when the part that needs it is built, not at import."""


class DeliveryError(ZhidaError):
    """A message a channel could not hand over (the SMS providers' `ProviderError`)."""


class ErrorList(ZhidaError):
    """Several errors found in one pass; printed one per line, each as it reads alone."""

    prefix = ""

    def __init__(self, errors: list[ZhidaError]):
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors
