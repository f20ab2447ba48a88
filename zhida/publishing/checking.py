"""Checking policy text as an officer types it: the loader's errors and the policy's
tests as located diagnostics (what `zhida check` prints, as data), plus what the
editor completes from: the profile fields of the audience and the expression functions.

`check_text` never raises on bad policy text: every problem is a diagnostic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from zhida.errors import ErrorList, PositionedError, ZhidaError
from zhida.matcher.policy_tests import run_policy_tests
from zhida.profiles.schema import Audience
from zhida.publishing.catalogue import schemas_from
from zhida.rules.functions import FUNCTIONS
from zhida.rules.loader import CRITERION_KEYS, EXPECT_KEYS, POLICY_KEYS, TEST_KEYS, load_policy_text
from zhida.rules.policy import Policy

EDITOR_PATH = "policy.yaml"  # the name diagnostics of unsaved text carry


@dataclass(frozen=True)
class Diagnostic:
    line: int  # 1-based
    col: int  # 1-based
    message: str
    severity: str = "error"  # error | warning
    hint: str | None = None


@dataclass
class CheckReport:
    diagnostics: list[Diagnostic] = field(default_factory=list)
    passed: int = 0
    failed: int = 0
    policy: Policy | None = None

    @property
    def ok(self) -> bool:
        return self.policy is not None and not self.failed and not self.errors

    @property
    def errors(self) -> int:
        return sum(d.severity == "error" for d in self.diagnostics)


def diagnostic_of(err: ZhidaError) -> Diagnostic:
    if isinstance(err, PositionedError):
        loc = err.loc
        return Diagnostic(
            loc.line if loc else 1,
            loc.col if loc else 1,
            err.message,
            getattr(err, "severity", "error"),
            err.hint,
        )
    return Diagnostic(1, 1, str(err).removeprefix(ZhidaError.prefix))


def diagnostics_of(err: ZhidaError) -> list[Diagnostic]:
    errors = err.errors if isinstance(err, ErrorList) else [err]
    return [diagnostic_of(e) for e in errors]


def check_text(
    text: str,
    schema_yaml: str = "",
    path: str = EDITOR_PATH,
    extra: Callable[[Policy], Iterable[PositionedError]] | None = None,
) -> CheckReport:
    """Load the text with the pack's schema, run its tests; `extra` adds checks of the
    loaded policy (the SMS template's, from the layer that renders messages)."""
    report = CheckReport()
    try:
        policy = load_policy_text(text, path, schemas_from(schema_yaml))
    except ZhidaError as err:  # PolicyError, SchemaError, ErrorList: all located
        report.diagnostics = diagnostics_of(err)
        return report
    report.policy = policy
    for outcome in run_policy_tests(policy):
        if outcome.passed:
            report.passed += 1
            continue
        report.failed += 1
        loc = outcome.test.loc
        report.diagnostics.append(
            Diagnostic(
                loc.line,
                loc.col,
                f"test '{outcome.test.name}' failed: " + "; ".join(outcome.problems),
            )
        )
    for problem in extra(policy) if extra else ():
        report.diagnostics.append(diagnostic_of(problem))
    report.diagnostics.sort(key=lambda d: (d.line, d.col))
    return report


def vocabulary(schema_yaml: str = "") -> dict[str, object]:
    """What the editor completes: keys of the policy file, fields per audience, functions."""
    schemas = schemas_from(schema_yaml)
    return {
        "keys": {
            "policy": POLICY_KEYS,
            "criterion": CRITERION_KEYS,
            "test": TEST_KEYS,
            "expect": EXPECT_KEYS,
        },
        "fields": {
            audience.value: [
                {"name": f.name, "type": f.type.value, "label": f.label, "unit": f.unit}
                for f in schemas[audience].fields.values()
            ]
            for audience in Audience
        },
        "functions": [
            {"name": fn.name, "min_args": fn.arity[0], "max_args": fn.arity[1]}
            for fn in FUNCTIONS.values()
        ],
    }
