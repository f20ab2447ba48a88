"""Load policy files and packs: YAML -> checked Policy objects, or located errors."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from zhida.errors import Location, PolicyError, SchemaError, ZhidaError
from zhida.profiles.schema import Audience, FieldType, ProfileSchema, SchemaSet
from zhida.rules import policy_keys as pkeys
from zhida.rules.ast import Literal, Node, constant_value, is_constant
from zhida.rules.checker import Checker
from zhida.rules.parser import parse_expression
from zhida.rules.policy import (
    CRITERION_KINDS,
    OUTCOMES,
    Criterion,
    Expectation,
    Outcome,
    Policy,
    PolicyTest,
    Window,
)
from zhida.rules.types import BOOL, NUMBER, of_field
from zhida.rules.yamlnodes import Doc
from zhida.suggest import did_you_mean

POLICY_KEYS = [
    "id",
    "title",
    "department",
    "audience",
    "window",
    "benefit",
    "define",
    "apply",
    "criteria",
    "tests",
    "source",
    "sms",
    "holdout",
    "reference",
    "tags",
    "grant",
    "excludes",
    "budget",
]
CRITERION_KEYS = ["id", "label", "reference", *CRITERION_KINDS]
TEST_KEYS = ["name", "as_of", "profile", "expect"]
EXPECT_KEYS = ["outcome", "failed", "unknown", "benefit"]
CRITERION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
HOLDOUT = re.compile(r"^(\d+(?:\.\d+)?|\.\d+)\s*(%)?$")
DEFINE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SCHEMA_FILE = "schema.yaml"


@dataclass
class Pack:
    """Policies loaded from files and folders, with every error found on the way."""

    policies: list[Policy] = field(default_factory=list)
    errors: list[ZhidaError] = field(default_factory=list)
    schemas: SchemaSet = field(default_factory=SchemaSet.builtin)

    def by_id(self) -> dict[str, Policy]:
        return {p.id: p for p in self.policies}


class _PolicyReader:
    def __init__(self, doc: Doc, schemas: SchemaSet):
        self.doc = doc
        self.schemas = schemas
        self.errors: list[PolicyError] = []

    def _unknown_keys(
        self, keys: dict[str, tuple[yaml.Node, yaml.Node]], allowed: list[str], what: str
    ) -> None:
        for name, (knode, _) in keys.items():
            if name not in allowed:
                self.errors.append(
                    self.doc.fail(
                        f"unknown key '{name}' in {what}", knode, did_you_mean(name, allowed)
                    )
                )

    def _required(
        self, keys: dict[str, tuple[yaml.Node, yaml.Node]], name: str, what: str, node: yaml.Node
    ) -> yaml.Node:
        if name not in keys:
            raise self.doc.fail(f"{what} needs '{name}'", node)
        return keys[name][1]

    def _expr(self, node: yaml.Node, what: str) -> Node:
        text = self.doc.scalar(node, what)
        return parse_expression(text, self.doc.expr_place(node))

    def _date(self, node: yaml.Node, what: str) -> dt.date:
        text = self.doc.scalar(node, what)
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise self.doc.fail(f"{what} must be a date YYYY-MM-DD, got '{text}'", node) from None

    def _collect(self, fn: object, *args: object) -> object:
        try:
            return fn(*args)  # type: ignore[operator]
        except PolicyError as err:
            self.errors.append(err)
            return None

    def read(self, root: yaml.Node) -> Policy:
        doc = self.doc
        top = doc.mapping(root, "a policy")
        self._unknown_keys(top, POLICY_KEYS, "the policy")
        pid = doc.scalar(self._required(top, "id", "a policy", root), "id")
        if not pkeys.POLICY_ID.match(pid):
            raise doc.fail(f"policy id '{pid}' must match [a-z0-9][a-z0-9-]*", top["id"][1])
        title = doc.scalar(self._required(top, "title", "a policy", root), "title")
        aud_node = self._required(top, "audience", "a policy", root)
        aud_text = doc.scalar(aud_node, "audience")
        if aud_text not in ("enterprise", "citizen"):
            raise doc.fail(f"audience must be enterprise or citizen, got '{aud_text}'", aud_node)
        policy = Policy(
            id=pid,
            title=title,
            audience=Audience(aud_text),
            loc=doc.loc(root),
            text=doc.text,
            sha256=hashlib.sha256(doc.text.encode()).hexdigest(),
        )
        if "department" in top:
            policy.department = doc.scalar(top["department"][1], "department")
        if "source" in top:
            policy.source = doc.scalar(top["source"][1], "source")
        if "sms" in top:
            policy.sms_template = doc.scalar(top["sms"][1], "sms")
            policy.sms_loc = doc.loc(top["sms"][1])
        if "holdout" in top:
            self._collect(self._holdout, policy, top["holdout"][1])
        self._collect(self._extra_keys, policy, top)
        schema = self.schemas[policy.audience]
        if "window" in top:
            self._collect(self._window, policy, top["window"][1])
        defines = self._defines(top["define"][1]) if "define" in top else {}
        checker = Checker(schema, defines)
        self._collect(checker.check_defines)
        policy.defines = checker.defines
        if "benefit" in top:
            self._collect(self._benefit, policy, top["benefit"][1], checker)
        if "apply" in top:
            self._collect(self._apply, policy, top["apply"][1], checker)
        crit_node = self._required(top, "criteria", "a policy", root)
        seen: dict[str, Criterion] = {}
        for item in self._nonempty(crit_node, "criteria"):
            crit = self._collect(self._criterion, item, checker, seen)
            if isinstance(crit, Criterion):
                policy.criteria.append(crit)
        if "tests" in top:
            for item in doc.sequence(top["tests"][1], "tests"):
                test = self._collect(self._test, item, schema, policy)
                if isinstance(test, PolicyTest):
                    policy.tests.append(test)
        return policy

    def _nonempty(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        items = self.doc.sequence(node, what)
        if not items:
            raise self.doc.fail(f"{what} must not be empty", node)
        return items

    def _window(self, policy: Policy, node: yaml.Node) -> None:
        keys = self.doc.mapping(node, "window")
        self._unknown_keys(keys, ["opens", "closes"], "window")
        opens = self._date(keys["opens"][1], "window.opens") if "opens" in keys else None
        closes = self._date(keys["closes"][1], "window.closes") if "closes" in keys else None
        if opens and closes and closes < opens:
            raise self.doc.fail("window closes before it opens", keys["closes"][1])
        policy.window = Window(opens, closes)

    def _extra_keys(self, policy: Policy, top: dict[str, tuple[yaml.Node, yaml.Node]]) -> None:
        """`reference`, `tags`, `grant`, `excludes`, `budget` (rules/policy_keys.py): each
        key's error is collected and the others are still read."""
        doc = self.doc
        for name in ("reference", "tags", "grant", "excludes", "budget"):
            if name not in top:
                continue
            node = top[name][1]
            try:
                if name == "reference":
                    policy.reference = pkeys.read_reference(doc, node, "reference")
                elif name == "tags":
                    policy.tags = pkeys.read_tags(doc, node)
                elif name == "grant":
                    policy.grant = pkeys.read_grant(doc, node)
                elif name == "excludes":
                    for pid, item in pkeys.read_excludes(doc, node, policy.id):
                        policy.excludes.append(pid)
                        policy.excludes_locs.append(doc.loc(item))
                else:
                    policy.budget = pkeys.read_budget(doc, node, self.schemas, policy)
            except PolicyError as err:
                self.errors.append(err)

    def _holdout(self, policy: Policy, node: yaml.Node) -> None:
        """`holdout: 5%` (or 0.05): a share in [0, 1) of the newly eligible not notified."""
        text = self.doc.scalar(node, "holdout").strip()
        match = HOLDOUT.match(text)
        share = None
        if match:
            share = float(match.group(1)) / (100.0 if match.group(2) else 1.0)
        if share is None or not 0.0 <= share < 1.0:
            raise self.doc.fail(
                f"holdout must be a share in [0, 1) such as 5% or 0.05, got '{text}'", node
            )
        policy.holdout = share

    def _defines(self, node: yaml.Node) -> dict[str, Node]:
        out: dict[str, Node] = {}
        for name, (knode, vnode) in self.doc.mapping(node, "define").items():
            if not DEFINE_NAME.match(name):
                self.errors.append(
                    self.doc.fail(f"define name '{name}' must be an identifier", knode)
                )
                continue
            expr = self._collect(self._expr, vnode, f"define.{name}")
            if isinstance(expr, Node):
                out[name] = expr
        return out

    def _benefit(self, policy: Policy, node: yaml.Node, checker: Checker) -> None:
        keys = self.doc.mapping(node, "benefit")
        self._unknown_keys(keys, ["amount", "summary"], "benefit")
        if "summary" in keys:
            policy.benefit_summary = self.doc.scalar(keys["summary"][1], "benefit.summary")
        if "amount" in keys:
            expr = self._expr(keys["amount"][1], "benefit.amount")
            policy.benefit_amount = checker.expect(expr, NUMBER, "benefit.amount")
            checker.limit_depth(policy.benefit_amount, "benefit.amount")

    def _apply(self, policy: Policy, node: yaml.Node, checker: Checker) -> None:
        keys = self.doc.mapping(node, "apply")
        self._unknown_keys(keys, ["form"], "apply")
        if "form" not in keys:
            return
        for label, (_, vnode) in self.doc.mapping(keys["form"][1], "apply.form").items():
            expr = self._collect(self._expr, vnode, f"apply.form.{label}")
            if isinstance(expr, Node):
                checked = self._collect(checker.check, expr)
                if isinstance(checked, Node):
                    checker.limit_depth(checked, f"apply.form.{label}")
                    policy.form[label] = checked

    def _criterion(
        self, node: yaml.Node, checker: Checker, seen: dict[str, Criterion]
    ) -> Criterion:
        doc = self.doc
        keys = doc.mapping(node, "a criterion")
        self._unknown_keys(keys, CRITERION_KEYS, "a criterion")
        cid = doc.scalar(self._required(keys, "id", "a criterion", node), "criterion id")
        if not CRITERION_ID.match(cid):
            raise doc.fail(
                f"criterion id '{cid}' must be letters, digits, '-' or '_'", keys["id"][1]
            )
        if cid in seen:
            first = seen[cid].loc
            raise doc.fail(
                f"duplicate criterion id '{cid}' (first used at line {first.line})", keys["id"][1]
            )
        label = doc.scalar(self._required(keys, "label", "a criterion", node), "label")
        kinds = [k for k in CRITERION_KINDS if k in keys]
        if len(kinds) != 1:
            found = " and ".join(kinds) if kinds else "none of them"
            raise doc.fail(
                f"criterion '{cid}' needs exactly one of when/all/any, found {found}", node
            )
        crit = Criterion(cid, label, kinds[0], doc.loc(node))
        if "reference" in keys:
            crit.reference = pkeys.read_reference(
                doc, keys["reference"][1], f"reference of '{cid}'"
            )
        seen[cid] = crit
        body = keys[kinds[0]][1]
        if crit.kind == "when":
            expr = self._expr(body, f"criterion '{cid}'")
            crit.when = checker.expect(expr, BOOL, f"the condition of criterion '{cid}'")
            checker.limit_depth(crit.when, f"the condition of criterion '{cid}'")
        else:
            for item in self._nonempty(body, f"'{crit.kind}:' of criterion '{cid}'"):
                child = self._collect(self._criterion, item, checker, seen)
                if isinstance(child, Criterion):
                    crit.children.append(child)
        return crit

    def _test(self, node: yaml.Node, schema: ProfileSchema, policy: Policy) -> PolicyTest:
        doc = self.doc
        keys = doc.mapping(node, "a test")
        self._unknown_keys(keys, TEST_KEYS, "a test")
        name = doc.scalar(self._required(keys, "name", "a test", node), "test name")
        as_of = self._date(self._required(keys, "as_of", "a test", node), "as_of")
        profile: dict[str, object] = {}
        if "profile" in keys:
            for fname, (knode, vnode) in doc.mapping(keys["profile"][1], "profile").items():
                profile[fname] = self._profile_value(schema, fname, knode, vnode)
        expect = self._expect(self._required(keys, "expect", "a test", node), policy)
        return PolicyTest(name, as_of, profile, expect, doc.loc(node))

    def _profile_value(
        self, schema: ProfileSchema, name: str, knode: yaml.Node, vnode: yaml.Node
    ) -> object:
        doc = self.doc
        fld = schema.get(name)
        if fld is None:
            raise doc.fail(
                f"unknown field '{name}' for {schema.audience.value} profiles",
                knode,
                did_you_mean(name, schema.names()),
            )
        if doc.is_null(vnode):
            return None
        if fld.type is FieldType.LIST:
            return [doc.scalar(i, name) for i in doc.sequence(vnode, name)]
        text = doc.scalar(vnode, name)
        if fld.type is FieldType.STRING:
            if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
                return text[1:-1]
            return text
        expr = parse_expression(text, doc.expr_place(vnode))
        checked = Checker(schema, {}).check(expr)
        want = of_field(fld.type)
        if not is_constant(checked) or checked.ty != want:
            raise doc.fail(f"value of '{name}' must be {want} literal, got '{text}'", vnode)
        value = constant_value(checked)
        if fld.type is FieldType.INT and isinstance(value, float) and not value.is_integer():
            raise doc.fail(f"value of '{name}' must be a whole number, got '{text}'", vnode)
        return value

    def _expect(self, node: yaml.Node, policy: Policy) -> Expectation:
        doc = self.doc
        if isinstance(node, yaml.ScalarNode):
            return Expectation(self._outcome(node.value, node))
        keys = doc.mapping(node, "expect")
        self._unknown_keys(keys, EXPECT_KEYS, "expect")
        outcome = doc.scalar(self._required(keys, "outcome", "expect", node), "outcome")
        listed: dict[str, list[str]] = {}
        ids = policy.criterion_ids()
        for what in ("failed", "unknown"):
            if what in keys:
                listed[what] = [doc.scalar(i, what) for i in doc.sequence(keys[what][1], what)]
                for cid in listed[what]:
                    if cid not in ids:
                        raise doc.fail(
                            f"'{cid}' in expect.{what} is not a top-level criterion id",
                            keys[what][1],
                            did_you_mean(cid, ids),
                        )
        benefit = None
        if "benefit" in keys:
            bnode = keys["benefit"][1]
            if not doc.is_null(bnode):
                lit = parse_expression(doc.scalar(bnode, "benefit"), doc.expr_place(bnode))
                folded = Checker(self.schemas[policy.audience], {}).check(lit)
                if not isinstance(folded, Literal) or folded.ty != NUMBER:
                    raise doc.fail("expect.benefit must be a number", bnode)
                benefit = folded.value
        return Expectation(
            self._outcome(outcome, node),
            listed.get("failed"),
            listed.get("unknown"),
            benefit,
            check_benefit="benefit" in keys,
        )

    def _outcome(self, text: str, node: yaml.Node) -> Outcome:
        for outcome in OUTCOMES:
            if text == outcome:
                return outcome
        raise self.doc.fail(
            f"expected outcome must be one of {', '.join(OUTCOMES)}, got '{text}'", node
        )


def load_policy_text(text: str, path: str, schemas: SchemaSet) -> Policy:
    """Parse and check one policy. Raises PolicyError; several errors raise ErrorList."""
    from zhida.errors import ErrorList

    doc = Doc(path, text)
    root = doc.compose()
    if root is None:
        raise PolicyError("empty policy file", Location(path, 1, 1))
    reader = _PolicyReader(doc, schemas)
    try:
        policy = reader.read(root)
    except PolicyError as err:
        reader.errors.append(err)
        policy = None
    if reader.errors:
        unique = {str(e): e for e in reader.errors}  # a bad define is met by each use of it
        errs = sorted(unique.values(), key=lambda e: (e.loc.line, e.loc.col) if e.loc else (0, 0))
        raise errs[0] if len(errs) == 1 else ErrorList(list(errs))
    assert policy is not None
    return policy


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise PolicyError("file is not UTF-8 text", Location(str(path), 1, 1)) from None
    except OSError as err:
        raise PolicyError(f"cannot read file: {err.strerror}", Location(str(path), 1, 1)) from None


def _schemas_for(folder: Path, cache: dict[Path, SchemaSet]) -> SchemaSet:
    if folder not in cache:
        schema_path = folder / SCHEMA_FILE
        base = SchemaSet.builtin()
        if schema_path.exists():
            from zhida.profiles.schema_file import load_schema_extension

            base = base.extended(load_schema_extension(schema_path))
        cache[folder] = base
    return cache[folder]


def policy_files(paths: list[str | Path]) -> list[tuple[Path, Path]]:
    """(policy file, its pack folder) for each file or folder given, in a stable order."""
    out: list[tuple[Path, Path]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for f in sorted([*path.glob("*.yaml"), *path.glob("*.yml")]):
                if f.name != SCHEMA_FILE:
                    out.append((f, path))
        else:
            out.append((path, path.parent))
    return out


def load_pack(paths: list[str | Path]) -> Pack:
    """Load every policy under the given files and folders; collect all errors."""
    pack = Pack()
    cache: dict[Path, SchemaSet] = {}
    seen: dict[str, Policy] = {}
    files = policy_files(paths)
    for path, folder in files:
        if not path.exists():
            pack.errors.append(PolicyError("no such file or folder", Location(str(path), 1, 1)))
            continue
        try:
            schemas = _schemas_for(folder, cache)
            pack.schemas = schemas
            policy = load_policy_text(_read_text(path), str(path), schemas)
        except (PolicyError, SchemaError) as err:
            pack.errors.append(err)
            continue
        except ZhidaError as err:
            pack.errors.append(err)
            continue
        if policy.id in seen:
            pack.errors.append(
                PolicyError(
                    f"policy id '{policy.id}' is also used by {seen[policy.id].path}", policy.loc
                )
            )
            continue
        seen[policy.id] = policy
        pack.policies.append(policy)
    _check_excludes(pack, [p for p, _ in files], cache)
    return pack


def _check_excludes(pack: Pack, loaded: list[Path], folders: dict[Path, SchemaSet]) -> None:
    """Excluded ids name policies of the pack: those loaded, and the other policy files
    of the folders they come from (checking one file of a pack still knows its pack)."""
    if not any(p.excludes for p in pack.policies):
        return
    others = [f for folder in folders for f, _ in policy_files([folder]) if f not in loaded]
    known = {p.id for p in pack.policies} | pkeys.sibling_ids(others)
    pack.errors.extend(pkeys.check_excludes(pack.policies, known))
