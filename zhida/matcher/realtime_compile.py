"""Compiling one policy into a durable_rules condition over posted values.

The policy's criteria tree (all/any nesting, and/or/not inside `when:`) becomes one
durable_rules condition. durable_rules compares a message property with a constant
or with another property, and combines comparisons with `$and`/`$or`; it cannot
divide, call functions or handle unknowns. So every maximal sub-expression it cannot
evaluate (arithmetic, function calls, `define:` names, date arithmetic, string
functions, `in` lists, ...) is computed before posting with the reference
interpreter's scalar semantics (`rules.semantics`, `rules.functions`, so a derived
number is the very double the other evaluators compute) and posted as a derived
property (see `zhida.matcher.realtime_facts`); `not` is pushed down to the
comparisons (De Morgan, inverted operators).

Limits of durable_rules (measured in this project): one rule's condition holds at
most 31 `$and`/`$or` entries (two each) plus property-to-property comparisons
(ruleset creation fails with error 113), and an `$or` with many matching branches
overflows a 64-entry stack at post time (error 303): larger conditions are shrunk by
computing whole sub-trees before posting. A comparison with a constant its JSON
reader cannot read is computed before posting too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from zhida.matcher.realtime_facts import (
    Compute,
    Ctx,
    Lit,
    Operand,
    Posted,
    Value,
    constant,
    encode,
    hash_name,
    kind_of,
)
from zhida.rules import semantics
from zhida.rules.ast import CMP_OPS, Call, ListLit, Literal, Name, Node, Op
from zhida.rules.functions import FUNCTIONS
from zhida.rules.policy import Criterion, Policy

MAX_SEQUENCE = 30  # durable_rules allows 31 expression-sequence entries per rule
MAX_LEAVES = 48  # comparisons per rule, well below the 64-entry alpha stack
MAX_PROPERTIES = 200  # an event holds at most 255 properties (with sid and id)

_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_INVERT = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}
_DURABLE_OP = {"<": "$lt", "<=": "$lte", ">": "$gt", ">=": "$gte", "!=": "$neq"}
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_]{1,40}$")


@dataclass(eq=False)
class _Cmp:
    op: str
    left: Posted
    right: Operand


@dataclass(eq=False)
class _Group:
    kind: str  # and | or
    items: list[_Cond]


@dataclass(frozen=True)
class _Const:
    value: bool


_Cond = _Cmp | _Group | _Const


class _PolicyCompiler:
    """Turns one policy's criteria into a durable_rules condition over posted values."""

    def __init__(self, policy: Policy, shared: dict[str, Compute]):
        self.policy = policy
        self.shared = shared  # derived name -> memoised compute, across policies
        self.posted: dict[str, Posted] = {}
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
                return self.memoised(
                    hash_name(self.key(node)), self.closure(self.policy.defines[node.name])
                )
            fname = node.name
            return lambda ctx: ctx.profile.get(fname)
        if isinstance(node, Call):
            args = [self.closure(a) for a in node.args]
            fn = FUNCTIONS[node.fn]
            scalar = fn.scalar
            call: Compute
            if fn.dated:
                call = lambda ctx: scalar(*[a(ctx) for a in args], ctx.as_of)  # noqa: E731
            else:
                call = lambda ctx: scalar(*[a(ctx) for a in args])  # noqa: E731
            # a call (years_since(established), ...) is computed once per profile
            return self.memoised(hash_name(self.key(node)), call)
        assert isinstance(node, Op)
        return _op_closure(node.op, [self.closure(a) for a in node.args])

    def memoised(self, name: str, compute: Compute) -> Compute:
        existing = self.shared.get(name)
        if existing is not None:
            return existing

        def value(ctx: Ctx) -> Value:
            memo = ctx.memo
            if name in memo:
                return memo[name]
            result = memo[name] = compute(ctx)
            return result

        self.shared[name] = value
        return value

    # -- posted values
    def post(self, name: str, kind: str, compute: Compute) -> Posted:
        posted = self.posted.get(name)
        if posted is None:
            posted = self.posted[name] = Posted(name, kind, compute)
        return posted

    def field_value(self, node: Name) -> Posted:
        fname = node.name
        name = "f_" + fname if _PLAIN_NAME.match(fname) else hash_name(("field", fname))
        return self.post(name, kind_of(node), lambda ctx: ctx.profile.get(fname))

    def derived(self, node: Node) -> Posted:
        name = hash_name(self.key(node))
        return self.post(name, kind_of(node), self.memoised(name, self.closure(node)))

    def operand(self, node: Node) -> Operand:
        if isinstance(node, Literal) and node.value is not None:
            return Lit(node.value, kind_of(node))
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
        return _Group(
            "and" if crit.kind == "all" else "or", [self.criterion(c) for c in crit.children]
        )

    def cond(self, node: Node, neg: bool) -> _Cond:
        """`node` (or its negation) as a condition; two-valued, valid when all values are known."""
        if isinstance(node, Literal) and isinstance(node.value, bool):
            return _Const(node.value != neg)
        if isinstance(node, Name) and not node.is_define:
            return _Cmp("==", self.field_value(node), Lit(not neg, "bool"))
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
        return _Cmp("==", self.derived(node), Lit(not neg, "bool"))

    def compare(self, op: str, left: Operand, right: Operand) -> _Cond:
        if isinstance(left, Lit) and isinstance(right, Lit):
            value = semantics.compare(op, left.value, right.value)
            if value is not None:
                return _Const(bool(value))
        if isinstance(left, Lit):
            left, right, op = right, left, _FLIP[op]
        assert isinstance(left, Posted)
        if isinstance(right, Lit) and constant(right.value, right.kind) is None:
            return self.collapse(_Cmp(op, left, right))  # a constant durable_rules cannot read
        return _Cmp(op, left, right)

    def collapse(self, cond: _Cond) -> _Cmp:
        """A condition computed before posting, as one derived true/false value."""
        name = hash_name(("cond", _cond_key(cond)))
        compute = self.memoised(name, _cond_closure(cond))
        return _Cmp("==", self.post(name, "bool", compute), Lit(True, "bool"))


def _op_closure(op: str, args: list[Compute]) -> Compute:
    """`semantics.apply_op(op, ...)` over closures, its dispatch done once, here."""
    if op in CMP_OPS:
        cmp, (a, b) = semantics.compare, args
        return lambda ctx: cmp(op, a(ctx), b(ctx))
    if op in ("and", "or"):
        both, (a, b) = semantics.kleene_and if op == "and" else semantics.kleene_or, args
        return lambda ctx: both(a(ctx), b(ctx))
    if op in ("+", "-", "*", "/"):
        arith, (a, b) = semantics.arith, args
        return lambda ctx: arith(op, a(ctx), b(ctx))
    if op == "not":
        inv, (a,) = semantics.kleene_not, args
        return lambda ctx: inv(a(ctx))
    apply = semantics.apply_op
    return lambda ctx: apply(op, [a(ctx) for a in args])


def _cond_key(cond: _Cond) -> tuple[Any, ...]:
    if isinstance(cond, _Const):
        return ("const", cond.value)
    if isinstance(cond, _Group):
        return (cond.kind, *(_cond_key(c) for c in cond.items))
    right = cond.right
    rkey = right.name if isinstance(right, Posted) else ("lit", right.kind, repr(right.value))
    return ("cmp", cond.op, cond.left.name, rkey)


def _cond_closure(cond: _Cond) -> Compute:
    """Two-valued evaluation of a condition; None (not judgeable) if a value is unknown."""

    def operand(o: Operand, ctx: Ctx) -> Value:
        if isinstance(o, Lit):
            return o.value
        value = o.compute(ctx)
        return None if encode(value, o.kind) is None else value

    def run(c: _Cond, ctx: Ctx) -> bool | None:
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
        return (1 if isinstance(cond.right, Posted) else 0), 1
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
    if isinstance(cond.right, Posted):
        right = {"$m": cond.right.name}
    else:
        right = constant(cond.right.value, cond.right.kind)
    if cond.op == "==":
        return {cond.left.name: right}
    return {_DURABLE_OP[cond.op]: {cond.left.name: right}}


def _posted_in(cond: _Cond) -> list[Posted]:
    if isinstance(cond, _Const):
        return []
    if isinstance(cond, _Group):
        seen: dict[str, Posted] = {}
        for item in cond.items:
            for p in _posted_in(item):
                seen.setdefault(p.name, p)
        return list(seen.values())
    out = [cond.left]
    if isinstance(cond.right, Posted) and cond.right.name != cond.left.name:
        out.append(cond.right)
    return out


def compile_condition(
    policy: Policy, shared: dict[str, Compute]
) -> tuple[dict[str, Any], list[Posted]]:
    """The durable_rules condition (JSON) of a policy and the values each event posts.

    `shared`: derived name -> memoised compute, shared by the policies of one matcher
    so that a value several policies post is computed once per profile."""
    compiler = _PolicyCompiler(policy, shared)
    cond = _shrink(_simplify(compiler.criteria(policy.criteria)), compiler)
    posted = _posted_in(cond)
    if len(posted) > MAX_PROPERTIES:
        cond = compiler.collapse(cond)
        posted = _posted_in(cond)
    return _definition(cond), posted


@dataclass(frozen=True)
class Judges:
    """A policy's top-level criteria and benefit as closures over the same (memoised)
    values its events post: what durable_rules' yes/no leaves out."""

    criteria: list[Compute]  # each: True / False / None (unknown), as the reference says
    benefit: Compute | None  # the benefit amount (None: the policy has none)


def compile_judges(policy: Policy, shared: dict[str, Compute]) -> Judges:
    """Each top-level criterion's three-valued truth and the benefit, with the scalar
    semantics the reference interpreter applies (Kleene logic over unknowns; `all:` /
    `any:` as `semantics.all_of` / `any_of`); values shared with the policy's condition
    are computed once per profile."""
    compiler = _PolicyCompiler(policy, shared)
    criteria = [_criterion_closure(compiler, c) for c in policy.criteria]
    amount = policy.benefit_amount
    return Judges(criteria, None if amount is None else compiler.closure(amount))


def _criterion_closure(compiler: _PolicyCompiler, crit: Criterion) -> Compute:
    if crit.kind == "when":
        assert crit.when is not None
        return compiler.closure(crit.when)
    children = [_criterion_closure(compiler, c) for c in crit.children]
    combine = semantics.all_of if crit.kind == "all" else semantics.any_of
    return lambda ctx: combine([c(ctx) for c in children])
