"""The policy keys beyond criteria: `reference`, `tags`, `grant`, `excludes`, `budget`.

Read from their YAML nodes with located errors; `check_excludes` checks, once a pack is
loaded, that each excluded id names a policy of the pack (with "did you mean").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import yaml

from zhida.errors import PolicyError
from zhida.profiles.schema import SchemaSet
from zhida.rules.ast import Literal
from zhida.rules.checker import Checker
from zhida.rules.parser import parse_expression
from zhida.rules.policy import GRANTS, Grant, Policy
from zhida.rules.types import NUMBER
from zhida.rules.yamlnodes import Doc
from zhida.suggest import did_you_mean

POLICY_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
#: a tag is short text without separators, e.g. 科技创新
MAX_TAG = 20
_ID_LINE = re.compile(r"^id:\s*['\"]?([a-z0-9][a-z0-9-]*)['\"]?\s*(?:#.*)?$", re.MULTILINE)


def read_reference(doc: Doc, node: yaml.Node, what: str) -> str:
    text = doc.scalar(node, what).strip()
    if not text:
        raise doc.fail(f"{what} must not be empty", node)
    return text


def read_tags(doc: Doc, node: yaml.Node) -> list[str]:
    tags: list[str] = []
    for item in doc.sequence(node, "tags"):
        tag = doc.scalar(item, "a tag").strip()
        if not tag or len(tag) > MAX_TAG or any(c in tag for c in ",，;；/"):
            raise doc.fail(
                f"a tag must be 1-{MAX_TAG} characters without separators, got '{tag}'", item
            )
        if tag in tags:
            raise doc.fail(f"duplicate tag '{tag}'", item)
        tags.append(tag)
    return tags


def read_grant(doc: Doc, node: yaml.Node) -> Grant:
    text = doc.scalar(node, "grant")
    for grant in GRANTS:
        if text == grant:
            return grant
    raise doc.fail(
        f"grant must be one of {', '.join(GRANTS)}, got '{text}'",
        node,
        did_you_mean(text, GRANTS),
    )


def read_excludes(doc: Doc, node: yaml.Node, own_id: str) -> list[tuple[str, yaml.Node]]:
    out: list[tuple[str, yaml.Node]] = []
    for item in doc.sequence(node, "excludes"):
        pid = doc.scalar(item, "an excluded policy id")
        if not POLICY_ID.match(pid):
            raise doc.fail(f"excluded policy id '{pid}' must match [a-z0-9][a-z0-9-]*", item)
        if pid == own_id:
            raise doc.fail(f"policy '{pid}' cannot exclude itself", item)
        if pid in (p for p, _ in out):
            raise doc.fail(f"policy '{pid}' is listed twice in excludes", item)
        out.append((pid, item))
    return out


def read_budget(doc: Doc, node: yaml.Node, schemas: SchemaSet, policy: Policy) -> float:
    """`budget: 5000万`: a positive constant amount in CNY."""
    text = doc.scalar(node, "budget")
    expr = parse_expression(text, doc.expr_place(node))
    folded = Checker(schemas[policy.audience], {}).check(expr)
    if not isinstance(folded, Literal) or folded.ty != NUMBER:
        raise doc.fail(f"budget must be an amount such as 5000万, got '{text}'", node)
    value = folded.value
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise doc.fail(f"budget must be a positive amount, got '{text}'", node)
    return float(value)


def sibling_ids(files: Iterable[Path]) -> set[str]:
    """Policy ids of pack files that were not loaded (read from their `id:` line only)."""
    out: set[str] = set()
    for path in files:
        try:
            match = _ID_LINE.search(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
        if match:
            out.add(match.group(1))
    return out


def check_excludes(policies: list[Policy], known: set[str]) -> list[PolicyError]:
    """An excluded id must name a policy of the pack; a policy of another audience
    cannot be held together anyway, so excluding one is a mistake too."""
    errors: list[PolicyError] = []
    audience = {p.id: p.audience for p in policies}
    for policy in policies:
        for pid, loc in zip(policy.excludes, policy.excludes_locs, strict=True):
            if pid not in known:
                errors.append(
                    PolicyError(
                        f"excludes unknown policy '{pid}'", loc, did_you_mean(pid, sorted(known))
                    )
                )
            elif pid in audience and audience[pid] != policy.audience:
                errors.append(
                    PolicyError(
                        f"excludes '{pid}', a policy for {audience[pid].value} profiles "
                        f"(this one is for {policy.audience.value})",
                        loc,
                    )
                )
    return errors
