"""The real-time path: one profile at a time, judged by durable_rules.

This is the only module that touches durable_rules. `RealtimeMatcher` compiles
published policies (both audiences) into one durable_rules ruleset per policy
and, for each profile change, posts one event per policy of the profile's
audience.

Compilation. The policy's criteria tree (all/any nesting, and/or/not inside
`when:`) becomes one durable_rules condition. durable_rules compares a message
property with a constant or with another property, and combines comparisons with
`$and`/`$or`; it cannot divide, call functions or handle unknowns. So every
maximal sub-expression it cannot evaluate (arithmetic, function calls, `define:`
names, date arithmetic, string functions, `in` lists, ...) is computed before
posting with the reference interpreter's scalar semantics (`rules.semantics`,
`rules.functions`, so a derived number is the very double the other evaluators
compute) and posted as a derived property named by a stable hash of the
expression; `not` is pushed down to the comparisons (De Morgan, inverted
operators). Dates travel as ordinal day numbers, numbers as decimal text that
durable_rules' parser reads back to the same double.

Judging. If a value to post is unknown (a missing field, a division by zero,
...) or not finite, durable_rules cannot judge that (profile, policy): it has
no three-valued logic. The reference interpreter decides instead
(`via="reference"`). Otherwise durable_rules decides the outcome: eligible when
the policy's rule fired, ineligible when it did not. The failed/unknown
criterion ids and the benefit of such a result come from the reference
interpreter (about 20 µs per policy); its outcome is compared with
durable_rules' and a disagreement is counted in `stats` and logged.

durable_rules pitfalls handled here (all measured in this project):

- a ruleset fires only its first matching rule per event: one ruleset per policy,
  one rule per ruleset;
- an event that matches nothing raises `MessageNotHandledException`: caught
  (exactly that exception), it means "not eligible";
- a handler with two parameters is taken as asynchronous and its errors are
  swallowed: handlers take exactly one parameter (made by a closure factory);
- a ruleset keeps a state per session id in a fixed cache (1,024 entries;
  MemoryError beyond, then crashes): events, not facts, are posted, always with
  one fixed session id, so no per-profile state accumulates;
- the module-level `durable.lang` host runs background threads that dispatch
  pending actions every 0.2 s, so a handler may run on another thread after
  `post` returned (measured: 3 in 200,000 firings). Rulesets here hang off a
  private host without those threads and are driven synchronously;
- its JSON reader rejects numbers like `1e-05` or `1e+16` (an exponent without a
  fraction, as Python writes them): events are serialised here, constants are
  written as integers where integral, and a comparison with a constant it
  cannot read is computed before posting;
- one rule's condition holds at most 31 `$and`/`$or` entries (two each) plus
  property-to-property comparisons (ruleset creation fails with error 113), and
  an `$or` with many matching branches overflows a 64-entry stack at post time
  (error 303): larger conditions are shrunk by computing whole sub-trees before
  posting;
- ruleset names are unique per process here: prefix + policy id + the first 8
  hex digits of the policy's sha256, plus a generation suffix when the same
  version is compiled again while an earlier matcher is alive;
- deleting a ruleset leaks its sessions' pools (about 80 KB each), and deleting
  a session in which no action ever ran crashes the process (its action context
  is uninitialised memory until the first action completes): `close()` posts an
  event only a second, closing rule matches, then deletes the session, then the
  ruleset. That rule cannot match any other event, and the policy's rule cannot
  match the closing event, so "first matching rule" is never in question.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import re
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import durable_rules_engine
from durable import engine

from zhida.errors import ZhidaError
from zhida.matcher.reference import evaluate_policy, normalize_profile
from zhida.profiles.schema import Audience
from zhida.rules import semantics
from zhida.rules.ast import CMP_OPS, Call, ListLit, Literal, Name, Node, Op
from zhida.rules.functions import FUNCTIONS
from zhida.rules.policy import ELIGIBLE, INELIGIBLE, Criterion, Outcome, Policy

__all__ = ["VIA_DURABLE", "VIA_REFERENCE", "RealtimeMatcher", "RealtimeResult"]

log = logging.getLogger(__name__)

VIA_DURABLE = "durable_rules"
VIA_REFERENCE = "reference"

Value = Any
SESSION_ID = "0"  # one fixed session per ruleset: no per-profile state
_EVENT_HEAD = '{"sid":' + json.dumps(SESSION_ID) + ',"t":true'
MAX_SEQUENCE = 30  # durable_rules allows 31 expression-sequence entries per rule
MAX_LEAVES = 48  # comparisons per rule, well below the 64-entry alpha stack
MAX_PROPERTIES = 200  # an event holds at most 255 properties (with sid and id)

_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_INVERT = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}
_DURABLE_OP = {"<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte", "!=": "$neq"}
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_]{1,40}$")


@dataclass(frozen=True)
class RealtimeResult:
    """One (profile, policy) judgement of the real-time path."""

    policy_id: str
    outcome: Outcome
    failed: list[str]
    unknown: list[str]
    benefit: float | None
    via: str  # durable_rules | reference


# --------------------------------------------------------------------------- values


@dataclass
class _Ctx:
    """One profile being matched: its values and the derived values computed so far."""

    profile: dict[str, Value]
    as_of: dt.date
    memo: dict[str, Value] = field(default_factory=dict)


Compute = Callable[[_Ctx], Value]


@dataclass(eq=False)
class _Posted:
    """A value posted as one event property: a profile field or a derived value."""

    name: str  # property name in the event
    kind: str  # number | date | bool | string
    compute: Compute
    prefix: str = ""  # '"name":' ready to join into the event text

    def __post_init__(self) -> None:
        self.prefix = json.dumps(self.name) + ":"


@dataclass(frozen=True)
class _Lit:
    value: Value
    kind: str


_Operand = _Posted | _Lit


@dataclass(eq=False)
class _Cmp:
    op: str
    left: _Posted
    right: _Operand


@dataclass(eq=False)
class _Group:
    kind: str  # and | or
    items: list[_Cond]


@dataclass(frozen=True)
class _Const:
    value: bool


_Cond = _Cmp | _Group | _Const


def _hash_name(key: object) -> str:
    return "d_" + hashlib.blake2b(repr(key).encode("utf-8"), digest_size=8).hexdigest()


def _kind_of(node: Node) -> str:
    return node.ty.kind if node.ty is not None else "any"


def _finite(value: Value) -> float | None:
    """A number (not a bool) as a finite float, else None."""
    if isinstance(value, bool) or not isinstance(value, float | int):
        return None
    x = float(value)
    return x if math.isfinite(x) else None


def _encode(value: Value, kind: str) -> str | None:
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


def _constant(value: Value, kind: str) -> Value:
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


# --------------------------------------------------------------------------- compiling


class _PolicyCompiler:
    """Turns one policy's criteria into a durable_rules condition over posted values."""

    def __init__(self, policy: Policy, shared: dict[str, Compute]):
        self.policy = policy
        self.shared = shared  # derived name -> memoised compute, across policies
        self.posted: dict[str, _Posted] = {}
        self._keys: dict[int, tuple[Any, ...]] = {}

    # -- keys: a node's key with define names replaced by their (expanded) bodies
    def key(self, node: Node) -> tuple[Any, ...]:
        cached = self._keys.get(id(node))
        if cached is not None:
            return cached
        if isinstance(node, Name) and node.is_define:
            out: tuple[Any, ...] = ("define", node.name, self.key(self.policy.defines[node.name]))
        elif isinstance(node, Literal | Name):
            out = node.key()
        elif isinstance(node, ListLit):
            out = ("list", *(self.key(i) for i in node.items))
        elif isinstance(node, Call):
            out = ("call", node.fn, *(self.key(a) for a in node.args))
        else:
            assert isinstance(node, Op)
            out = ("op", node.op, *(self.key(a) for a in node.args))
        self._keys[id(node)] = out
        return out

    # -- value closures: the scalar semantics, exactly as the reference applies them
    def closure(self, node: Node) -> Compute:
        if isinstance(node, Literal):
            value = node.value
            return lambda ctx: value
        if isinstance(node, ListLit):
            items = [self.closure(i) for i in node.items]
            return lambda ctx: [f(ctx) for f in items]
        if isinstance(node, Name):
            if node.is_define:
                return self.memoised(_hash_name(self.key(node)),
                                     self.closure(self.policy.defines[node.name]))
            fname = node.name
            return lambda ctx: ctx.profile.get(fname)
        if isinstance(node, Call):
            args = [self.closure(a) for a in node.args]
            fn = FUNCTIONS[node.fn]
            scalar = fn.scalar
            if fn.dated:
                return lambda ctx: scalar(*[a(ctx) for a in args], ctx.as_of)
            return lambda ctx: scalar(*[a(ctx) for a in args])
        assert isinstance(node, Op)
        op_args = [self.closure(a) for a in node.args]
        op = node.op
        return lambda ctx: semantics.apply_op(op, [a(ctx) for a in op_args])

    def memoised(self, name: str, compute: Compute) -> Compute:
        existing = self.shared.get(name)
        if existing is not None:
            return existing

        def value(ctx: _Ctx) -> Value:
            memo = ctx.memo
            if name in memo:
                return memo[name]
            result = memo[name] = compute(ctx)
            return result

        self.shared[name] = value
        return value

    # -- posted values
    def post(self, name: str, kind: str, compute: Compute) -> _Posted:
        posted = self.posted.get(name)
        if posted is None:
            posted = self.posted[name] = _Posted(name, kind, compute)
        return posted

    def field_value(self, node: Name) -> _Posted:
        fname = node.name
        name = "f_" + fname if _PLAIN_NAME.match(fname) else _hash_name(("field", fname))
        return self.post(name, _kind_of(node), lambda ctx: ctx.profile.get(fname))

    def derived(self, node: Node) -> _Posted:
        name = _hash_name(self.key(node))
        return self.post(name, _kind_of(node), self.memoised(name, self.closure(node)))

    def operand(self, node: Node) -> _Operand:
        if isinstance(node, Literal) and node.value is not None:
            return _Lit(node.value, _kind_of(node))
        if isinstance(node, Name) and not node.is_define:
            return self.field_value(node)
        return self.derived(node)  # includes an unknown constant: always unknown

    # -- conditions
    def criteria(self, criteria: list[Criterion]) -> _Cond:
        return _Group("and", [self.criterion(c) for c in criteria])

    def criterion(self, crit: Criterion) -> _Cond:
        if crit.kind == "when":
            assert crit.when is not None
            return self.cond(crit.when, False)
        return _Group("and" if crit.kind == "all" else "or",
                      [self.criterion(c) for c in crit.children])

    def cond(self, node: Node, neg: bool) -> _Cond:
        """`node` (or its negation) as a condition; two-valued, valid when all values are known."""
        if isinstance(node, Literal) and isinstance(node.value, bool):
            return _Const(node.value != neg)
        if isinstance(node, Name) and not node.is_define:
            return _Cmp("==", self.field_value(node), _Lit(not neg, "bool"))
        if isinstance(node, Op):
            if node.op in ("and", "or"):
                kind = node.op if not neg else ("or" if node.op == "and" else "and")
                return _Group(kind, [self.cond(a, neg) for a in node.args])
            if node.op == "not":
                return self.cond(node.args[0], not neg)
            if node.op in CMP_OPS:
                op = _INVERT[node.op] if neg else node.op
                return self.compare(op, self.operand(node.args[0]), self.operand(node.args[1]))
            if node.op == "between":
                x, lo, hi = (self.operand(a) for a in node.args)
                if neg:
                    return _Group("or", [self.compare(">", lo, x), self.compare(">", x, hi)])
                return _Group("and", [self.compare("<=", lo, x), self.compare("<=", x, hi)])
        # function calls, `in` lists, define names, if/coalesce, unknown constants
        return _Cmp("==", self.derived(node), _Lit(not neg, "bool"))

    def compare(self, op: str, left: _Operand, right: _Operand) -> _Cond:
        if isinstance(left, _Lit) and isinstance(right, _Lit):
            value = semantics.compare(op, left.value, right.value)
            if value is not None:
                return _Const(bool(value))
        if isinstance(left, _Lit):
            left, right, op = right, left, _FLIP[op]
        assert isinstance(left, _Posted)
        if isinstance(right, _Lit) and _constant(right.value, right.kind) is None:
            return self.collapse(_Cmp(op, left, right))  # a constant durable_rules cannot read
        return _Cmp(op, left, right)

    def collapse(self, cond: _Cond) -> _Cmp:
        """A condition computed before posting, as one derived true/false value."""
        name = _hash_name(("cond", _cond_key(cond)))
        compute = self.memoised(name, _cond_closure(cond))
        return _Cmp("==", self.post(name, "bool", compute), _Lit(True, "bool"))


def _cond_key(cond: _Cond) -> tuple[Any, ...]:
    if isinstance(cond, _Const):
        return ("const", cond.value)
    if isinstance(cond, _Group):
        return (cond.kind, *(_cond_key(c) for c in cond.items))
    right = cond.right
    rkey = right.name if isinstance(right, _Posted) else ("lit", right.kind, repr(right.value))
    return ("cmp", cond.op, cond.left.name, rkey)


def _cond_closure(cond: _Cond) -> Compute:
    """Two-valued evaluation of a condition; None (not judgeable) if a value is unknown."""

    def operand(o: _Operand, ctx: _Ctx) -> Value:
        if isinstance(o, _Lit):
            return o.value
        value = o.compute(ctx)
        return None if _encode(value, o.kind) is None else value

    def run(c: _Cond, ctx: _Ctx) -> bool | None:
        if isinstance(c, _Const):
            return c.value
        if isinstance(c, _Cmp):
            return semantics.compare(c.op, operand(c.left, ctx), operand(c.right, ctx))
        values = [run(i, ctx) for i in c.items]
        if any(v is None for v in values):
            return None
        return all(values) if c.kind == "and" else any(values)

    return lambda ctx: run(cond, ctx)


def _simplify(cond: _Cond) -> _Cond:
    """Flatten nested groups of one kind, fold constants, unwrap single items."""
    if not isinstance(cond, _Group):
        return cond
    items: list[_Cond] = []
    for item in (_simplify(i) for i in cond.items):
        if isinstance(item, _Group) and item.kind == cond.kind:
            items.extend(item.items)
        elif isinstance(item, _Const):
            if item.value == (cond.kind == "or"):
                return _Const(item.value)  # false in an and, true in an or
        else:
            items.append(item)
    if not items:
        return _Const(cond.kind == "and")
    return items[0] if len(items) == 1 else _Group(cond.kind, items)


def _cost(cond: _Cond) -> tuple[int, int]:
    """(expression-sequence entries, comparisons) of a condition in durable_rules."""
    if isinstance(cond, _Const):
        return 0, 1
    if isinstance(cond, _Cmp):
        return (1 if isinstance(cond.right, _Posted) else 0), 1
    seq, leaves = 2, 0
    for item in cond.items:
        s, n = _cost(item)
        seq, leaves = seq + s, leaves + n
    return seq, leaves


def _fits(cond: _Cond) -> bool:
    seq, leaves = _cost(cond)
    return seq <= MAX_SEQUENCE and leaves <= MAX_LEAVES


def _shrink(cond: _Cond, compiler: _PolicyCompiler) -> _Cond:
    """Compute the largest sub-trees before posting until the condition fits durable_rules."""
    while not _fits(cond):
        assert isinstance(cond, _Group)
        groups = [g for g in _groups(cond) if g is not cond]
        if groups:
            biggest = max(groups, key=lambda g: _cost(g)[1])
            cond = _replace(cond, biggest, compiler.collapse(biggest))
            continue
        # a flat group that is too wide: compute its tail as one value
        keep = MAX_LEAVES // 2
        tail = _Group(cond.kind, cond.items[keep:])
        cond = _Group(cond.kind, [*cond.items[:keep], compiler.collapse(tail)])
    return cond


def _groups(cond: _Cond) -> list[_Group]:
    if not isinstance(cond, _Group):
        return []
    out = [cond]
    for item in cond.items:
        out.extend(_groups(item))
    return out


def _replace(cond: _Cond, old: _Cond, new: _Cond) -> _Cond:
    if cond is old:
        return new
    if isinstance(cond, _Group):
        return _Group(cond.kind, [_replace(i, old, new) for i in cond.items])
    return cond


def _definition(cond: _Cond) -> dict[str, Any]:
    """The durable_rules JSON of a condition."""
    if isinstance(cond, _Const):
        return {"t": cond.value}  # every event carries "t": true
    if isinstance(cond, _Group):
        return {"$" + cond.kind: [_definition(i) for i in cond.items]}
    right: Any
    if isinstance(cond.right, _Posted):
        right = {"$m": cond.right.name}
    else:
        right = _constant(cond.right.value, cond.right.kind)
    if cond.op == "==":
        return {cond.left.name: right}
    return {_DURABLE_OP[cond.op]: {cond.left.name: right}}


def _posted_in(cond: _Cond) -> list[_Posted]:
    if isinstance(cond, _Const):
        return []
    if isinstance(cond, _Group):
        seen: dict[str, _Posted] = {}
        for item in cond.items:
            for p in _posted_in(item):
                seen.setdefault(p.name, p)
        return list(seen.values())
    out = [cond.left]
    if isinstance(cond.right, _Posted) and cond.right.name != cond.left.name:
        out.append(cond.right)
    return out


# --------------------------------------------------------------------------- durable_rules


class _Host(engine.Host):
    """A durable_rules host without its background dispatch threads: we drive it."""

    def _run(self) -> None:
        return None


class _Ruleset(engine.Ruleset):
    """A ruleset that posts event text written here (durable's own writer uses json.dumps)."""

    def post_text(self, text: str) -> Any:
        result = durable_rules_engine.assert_event(self._handle, text)
        return self._handle_result(result, text)

    def delete_session(self) -> None:
        durable_rules_engine.delete_state(self._handle, SESSION_ID)

    def delete(self) -> None:
        durable_rules_engine.delete_ruleset(self._handle)


_HOST: _Host | None = None
_NAMES: set[str] = set()
_NAMES_LOCK = threading.Lock()


def _host() -> _Host:
    global _HOST
    if _HOST is None:
        _HOST = _Host()
    return _HOST


def _claim_name(base: str) -> str:
    with _NAMES_LOCK:
        name, generation = base, 1
        while name in _NAMES:
            generation += 1
            name = f"{base}~{generation}"
        _NAMES.add(name)
        return name


def _release_name(name: str) -> None:
    with _NAMES_LOCK:
        _NAMES.discard(name)


class _Fired:
    """Set by a policy's handler when its rule fires."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = False


def _handler(flag: _Fired) -> Callable[[Any], None]:
    # exactly one parameter: durable_rules takes a two-parameter handler as async
    def eligible(c: Any) -> None:
        flag.value = True

    return eligible


@dataclass(eq=False)
class _CompiledPolicy:
    policy: Policy
    name: str
    condition: dict[str, Any]
    posted: list[_Posted]
    ruleset: _Ruleset
    fired: _Fired
    closed: _Fired  # set by the closing rule
    used: bool = False  # an event was posted: the session exists


# The closing rule: only the event posted by close() carries this property, so no
# other event can match it (and the policy's own rule never matches that event).
_CLOSING = "zhida_close"
_CLOSING_EVENT = '{"sid":' + json.dumps(SESSION_ID) + f',"{_CLOSING}":true}}'


# --------------------------------------------------------------------------- matcher


class RealtimeMatcher:
    """Published policies compiled into durable_rules rulesets, one per policy.

    `match` judges one profile against every policy of its audience. A matcher is
    safe to share between threads (calls are serialised); `close()` frees the
    rulesets (it is also a context manager; a matcher that is garbage-collected
    or alive at exit is freed too).
    """

    def __init__(self, policies: Sequence[Policy], name_prefix: str = "zhida-"):
        ids = [p.id for p in policies]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ZhidaError(f"policy ids must be unique in a matcher: {', '.join(dupes)}")
        self.name_prefix = name_prefix
        self._lock = threading.Lock()
        self._shared: dict[str, Compute] = {}
        self._by_audience: dict[Audience, list[_CompiledPolicy]] = {a: [] for a in Audience}
        self._closed = False
        self.stats: dict[str, int] = {VIA_DURABLE: 0, VIA_REFERENCE: 0, "disagreements": 0}
        # frees the rulesets when the matcher is closed, collected, or at exit
        self._free = weakref.finalize(self, _delete_all, self._by_audience)
        try:
            for policy in policies:
                compiled = self._compile(policy)
                self._by_audience[Audience(policy.audience)].append(compiled)
        except BaseException:
            self.close()
            raise

    # -- compiling
    def _compile(self, policy: Policy) -> _CompiledPolicy:
        compiler = _PolicyCompiler(policy, self._shared)
        cond = _shrink(_simplify(compiler.criteria(policy.criteria)), compiler)
        posted = _posted_in(cond)
        if len(posted) > MAX_PROPERTIES:
            cond = compiler.collapse(cond)
            posted = _posted_in(cond)
        definition = _definition(cond)
        digest = (policy.sha256 or hashlib.sha256(policy.text.encode("utf-8")).hexdigest())[:8]
        name = _claim_name(f"{self.name_prefix}{policy.id}-{digest}")
        fired, closed = _Fired(), _Fired()
        rules = {"r_0": {"all": [{"m": definition}], "run": _handler(fired)},
                 "r_1": {"all": [{"m": {_CLOSING: True}}], "run": _handler(closed)}}
        try:
            ruleset = _Ruleset(name, _host(), rules)
        except BaseException:
            _release_name(name)
            raise
        return _CompiledPolicy(policy, name, definition, posted, ruleset, fired, closed)

    @property
    def policies(self) -> list[Policy]:
        return [c.policy for group in self._by_audience.values() for c in group]

    @property
    def ruleset_names(self) -> dict[str, str]:
        """Policy id -> the name of its durable_rules ruleset."""
        return {c.policy.id: c.name for group in self._by_audience.values() for c in group}

    def conditions(self) -> dict[str, dict[str, Any]]:
        """Policy id -> its durable_rules condition (JSON), for inspection."""
        return {c.policy.id: c.condition for group in self._by_audience.values() for c in group}

    # -- matching
    def match(self, profile: dict[str, Value], kind: Audience | str,
              as_of: dt.date) -> list[RealtimeResult]:
        """Judge one profile against every policy of its audience, in compilation order."""
        try:
            audience = Audience(kind)
        except ValueError:
            raise ZhidaError(f"unknown profile kind {kind!r}; expected enterprise or "
                             "citizen") from None
        with self._lock:
            if self._closed:
                raise ZhidaError("this real-time matcher is closed")
            ctx = _Ctx(normalize_profile(profile), as_of)
            return [self._judge(c, profile, ctx) for c in self._by_audience[audience]]

    def _judge(self, compiled: _CompiledPolicy, profile: dict[str, Value],
               ctx: _Ctx) -> RealtimeResult:
        parts = [_EVENT_HEAD]
        for posted in compiled.posted:
            text = _encode(posted.compute(ctx), posted.kind)
            if text is None:  # unknown: durable_rules has no three-valued logic
                return self._by_reference(compiled.policy, profile, ctx.as_of)
            parts.append(posted.prefix + text)
        eligible = self._post(compiled, ",".join(parts) + "}")
        outcome: Outcome = ELIGIBLE if eligible else INELIGIBLE
        ref = evaluate_policy(compiled.policy, profile, ctx.as_of)
        if ref.outcome != outcome:
            self.stats["disagreements"] += 1
            log.warning("durable_rules says %s, the reference %s: policy %s, profile %s",
                        outcome, ref.outcome, compiled.policy.id, profile.get("id"))
        self.stats[VIA_DURABLE] += 1
        return RealtimeResult(compiled.policy.id, outcome, ref.failed, ref.unknown, ref.benefit,
                              VIA_DURABLE)

    @staticmethod
    def _post(compiled: _CompiledPolicy, text: str, flag: _Fired | None = None) -> bool:
        """Post one event; True when the policy's rule (or the rule of `flag`) fired."""
        flag = flag or compiled.fired
        flag.value = False
        ruleset = compiled.ruleset
        compiled.used = True
        try:
            state = ruleset.post_text(text)
        except engine.MessageNotHandledException:
            return False  # the event matched nothing: not eligible
        errors: list[BaseException] = []

        def complete(error: BaseException | None, result: Any) -> None:
            if error:
                errors.append(error)

        ruleset.do_actions(state, complete)
        if errors:
            raise errors[0]
        return flag.value

    def _by_reference(self, policy: Policy, profile: dict[str, Value],
                      as_of: dt.date) -> RealtimeResult:
        ref = evaluate_policy(policy, profile, as_of)
        self.stats[VIA_REFERENCE] += 1
        return RealtimeResult(policy.id, ref.outcome, ref.failed, ref.unknown, ref.benefit,
                              VIA_REFERENCE)

    # -- lifetime
    def close(self) -> None:
        """Delete the rulesets (their memory is the engine's, not Python's). Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._free()

    def __enter__(self) -> RealtimeMatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _delete_all(groups: dict[Audience, list[_CompiledPolicy]]) -> None:
    for group in groups.values():
        while group:
            _delete(group.pop())


def _delete(compiled: _CompiledPolicy) -> None:
    """Free a ruleset and its session.

    durable_rules' delete_ruleset frees the session table but not each session's
    pools (about 80 KB once an event was posted), and delete_state reads the
    session's action context, which is uninitialised memory until an action has
    completed (it crashes the process). So an event only the closing rule matches
    runs one action first, then the session is deleted, then the ruleset.
    """
    try:
        if compiled.used and RealtimeMatcher._post(compiled, _CLOSING_EVENT, compiled.closed):
            compiled.ruleset.delete_session()
    finally:
        compiled.ruleset.delete()
        _release_name(compiled.name)
