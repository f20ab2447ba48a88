"""Type checking, name resolution and constant folding of expressions.

Runs once when a policy is loaded ("parse once, evaluate many"). Every error
carries the place of the offending node. Names resolve to profile fields of the
policy's audience or to the policy's `define:` names; misspellings get a
"did you mean" from rapidfuzz.
"""

from __future__ import annotations

from collections.abc import Callable

from zhida.errors import PolicyTypeError
from zhida.profiles.schema import ProfileSchema
from zhida.rules import semantics
from zhida.rules.ast import (
    ARITH_OPS,
    BOOL_OPS,
    CMP_OPS,
    Call,
    ListLit,
    Literal,
    Name,
    Node,
    Op,
    constant_value,
    is_constant,
)
from zhida.rules.types import ANY, BOOL, DATE, NUMBER, STRING, Type, list_of, of_field, type_name
from zhida.suggest import did_you_mean

FUNCTION_ARITY: dict[str, tuple[int, int | None]] = {
    "years_since": (1, 1), "months_since": (1, 1), "days_since": (1, 1), "days_until": (1, 1),
    "in_region": (2, 2), "starts_with": (2, 2), "contains": (2, 2), "contains_any": (2, 2),
    "fuzzy": (2, 2), "if": (3, 3), "band": (3, 3), "is_known": (1, 1), "coalesce": (2, None),
    "min": (1, None), "max": (1, None), "abs": (1, 1), "len": (1, 1),
}

# Arguments that must be constants (so both evaluators can precompute them).
CONSTANT_ARGS = {"in_region": 1, "starts_with": 1, "contains": 1, "contains_any": 1, "fuzzy": 1,
                 "band": 1}


class Checker:
    """Checks expressions of one policy against one audience's schema and its defines."""

    def __init__(self, schema: ProfileSchema, defines: dict[str, Node]):
        self.schema = schema
        self.define_src = defines
        self.defines: dict[str, Node] = {}  # checked and folded
        self._in_progress: list[str] = []

    # -- defines ----------------------------------------------------------------
    def check_defines(self) -> dict[str, Node]:
        for name, node in self.define_src.items():
            if self.schema.get(name) is not None:
                raise PolicyTypeError(
                    f"define name '{name}' hides the profile field of the same name", node.loc
                )
            self._define(name)
        return self.defines

    def _define(self, name: str) -> Node:
        if name in self.defines:
            return self.defines[name]
        src = self.define_src[name]
        if name in self._in_progress:
            cycle = " -> ".join([*self._in_progress[self._in_progress.index(name):], name])
            raise PolicyTypeError(f"define names refer to each other in a cycle: {cycle}", src.loc)
        self._in_progress.append(name)
        try:
            checked = self.check(src)
        finally:
            self._in_progress.pop()
        self.defines[name] = checked
        return checked

    # -- expressions --------------------------------------------------------------
    def check(self, node: Node) -> Node:
        if isinstance(node, Literal):
            node.ty = _literal_type(node.value)
            return node
        if isinstance(node, ListLit):
            return self._list(node)
        if isinstance(node, Name):
            return self._name(node)
        if isinstance(node, Call):
            return self._call(node)
        assert isinstance(node, Op)
        return self._op(node)

    def expect(self, node: Node, ty: Type, what: str) -> Node:
        checked = self.check(node)
        assert checked.ty is not None
        if not checked.ty.compatible(ty):
            raise PolicyTypeError(f"{what} must be {type_name(ty)}, got {type_name(checked.ty)}",
                                  checked.loc)
        return checked

    def _list(self, node: ListLit) -> Node:
        node.items = [self.check(i) for i in node.items]
        elem = ANY
        for item in node.items:
            assert item.ty is not None
            if not item.ty.compatible(elem):
                raise PolicyTypeError(
                    "list items must all have one type: "
                    f"{type_name(elem)} and {type_name(item.ty)}",
                    item.loc,
                )
            elem = elem.unify(item.ty)
        node.ty = list_of(elem)
        return node

    def _name(self, node: Name) -> Node:
        field = self.schema.get(node.name)
        if field is not None:
            node.ty = of_field(field.type)
            return node
        if node.name in self.define_src:
            node.is_define = True
            node.ty = self._define(node.name).ty
            return node
        if node.name in FUNCTION_ARITY:
            raise PolicyTypeError(f"'{node.name}' is a function; call it as {node.name}(...)",
                                  node.loc)
        choices = [*self.schema.names(), *self.define_src]
        raise PolicyTypeError(
            f"unknown field '{node.name}' for {self.schema.audience.value} profiles",
            node.loc, did_you_mean(node.name, choices),
        )

    def _call(self, node: Call) -> Node:
        if node.fn not in FUNCTION_ARITY:
            raise PolicyTypeError(f"unknown function '{node.fn}'", node.loc,
                                  did_you_mean(node.fn, list(FUNCTION_ARITY)))
        lo, hi = FUNCTION_ARITY[node.fn]
        n = len(node.args)
        if n < lo or (hi is not None and n > hi):
            want = f"{lo}" if lo == hi else (f"at least {lo}" if hi is None else f"{lo} to {hi}")
            plural = "" if want == "1" else "s"
            raise PolicyTypeError(
                f"{node.fn}() takes {want} argument{plural}, got {n}", node.loc
            )
        node.args = [self.check(a) for a in node.args]
        if node.fn in CONSTANT_ARGS:
            arg = node.args[CONSTANT_ARGS[node.fn]]
            if not is_constant(arg):
                raise PolicyTypeError(
                    f"argument {CONSTANT_ARGS[node.fn] + 1} of {node.fn}() must be a constant",
                    arg.loc,
                )
        node.ty = _FUNCTION_TYPES[node.fn](self, node)
        return self._fold(node)

    def _op(self, node: Op) -> Node:
        op = node.op
        if op in BOOL_OPS or op == "not":
            node.args = [self.expect(a, BOOL, f"operand of '{op}'") for a in node.args]
            node.ty = BOOL
        elif op == "neg":
            node.args = [self.expect(node.args[0], NUMBER, "operand of '-'")]
            node.ty = NUMBER
        elif op in ARITH_OPS:
            node.args = [self.check(a) for a in node.args]
            for a in node.args:
                assert a.ty is not None
                if a.ty != NUMBER:
                    hint = "use days_since/days_until for dates" if a.ty == DATE else None
                    raise PolicyTypeError(
                        f"'{op}' needs numbers, got {type_name(a.ty)}", a.loc, hint
                    )
            node.ty = NUMBER
        elif op in CMP_OPS or op == "between":
            node.args = [self.check(a) for a in node.args]
            self._comparable(node)
            node.ty = BOOL
        else:  # in, not in
            node.args = [self.check(a) for a in node.args]
            item, items = node.args
            assert item.ty is not None and items.ty is not None
            if items.ty.kind != "list":
                raise PolicyTypeError(
                    f"the right side of '{op}' must be a list, got {type_name(items.ty)}",
                    items.loc,
                    "use contains(s, sub) to search in a string" if items.ty == STRING else None,
                )
            assert items.ty.elem is not None
            if not items.ty.elem.compatible(item.ty):
                raise PolicyTypeError(
                    f"cannot look for {type_name(item.ty)} in {type_name(items.ty)}", item.loc
                )
            node.ty = BOOL
        return self._fold(node)

    def _comparable(self, node: Op) -> None:
        first = node.args[0]
        assert first.ty is not None
        for other in node.args[1:]:
            assert other.ty is not None
            if not first.ty.compatible(other.ty):
                raise PolicyTypeError(
                    f"cannot compare {type_name(first.ty)} with {type_name(other.ty)}", other.loc
                )
        ordered = node.op not in ("==", "!=")
        if ordered and first.ty not in (NUMBER, DATE):
            raise PolicyTypeError(
                f"'{node.op}' compares numbers or dates, not {type_name(first.ty)}", node.loc
            )
        if first.ty.kind == "list" or first.ty.kind == "any":
            raise PolicyTypeError(f"cannot compare {type_name(first.ty)} values", node.loc)

    def _fold(self, node: Call | Op) -> Node:
        if isinstance(node, Call) and node.fn in semantics.DATE_FUNCTIONS:
            return node
        if not all(is_constant(a) for a in node.args):
            return node
        values = [constant_value(a) for a in node.args]
        if isinstance(node, Call):
            value = semantics.PURE_FUNCTIONS[node.fn](*values)
        else:
            value = semantics.apply_op(node.op, values)
        folded = Literal(node.loc, value, "")
        folded.ty = node.ty
        return folded


def _literal_type(value: object) -> Type:
    import datetime as dt

    if isinstance(value, bool):
        return BOOL
    if isinstance(value, float | int):
        return NUMBER
    if isinstance(value, dt.date):
        return DATE
    if isinstance(value, str):
        return STRING
    return ANY  # a folded unknown constant


# -- per-function typing ---------------------------------------------------------

def _arg_type(node: Call, i: int) -> Type:
    t = node.args[i].ty
    assert t is not None
    return t


def _need(c: Checker, node: Call, i: int, ty: Type, what: str = "") -> None:
    t = _arg_type(node, i)
    if not t.compatible(ty):
        raise PolicyTypeError(
            f"argument {i + 1} of {node.fn}() must be {what or type_name(ty)}, got {type_name(t)}",
            node.args[i].loc,
        )


def _date_fn(c: Checker, node: Call) -> Type:
    _need(c, node, 0, DATE)
    return NUMBER


def _string_pred(c: Checker, node: Call) -> Type:
    _need(c, node, 0, STRING)
    _need(c, node, 1, STRING)
    return BOOL


def _in_region(c: Checker, node: Call) -> Type:
    _need(c, node, 0, STRING)
    _need(c, node, 1, list_of(STRING))
    return BOOL


def _contains(c: Checker, node: Call) -> Type:
    t = _arg_type(node, 0)
    if t == STRING or t.kind == "list":
        _need(c, node, 1, STRING)
        return BOOL
    raise PolicyTypeError(
        f"argument 1 of contains() must be a string or a list, got {type_name(t)}",
        node.args[0].loc)


def _contains_any(c: Checker, node: Call) -> Type:
    t = _arg_type(node, 0)
    if not (t == STRING or t.kind == "list"):
        raise PolicyTypeError(
            f"argument 1 of contains_any() must be a string or a list, got {type_name(t)}",
            node.args[0].loc)
    _need(c, node, 1, list_of(STRING))
    return BOOL


def _fuzzy(c: Checker, node: Call) -> Type:
    _need(c, node, 0, STRING)
    _need(c, node, 1, STRING)
    return NUMBER


def _if(c: Checker, node: Call) -> Type:
    _need(c, node, 0, BOOL)
    a, b = _arg_type(node, 1), _arg_type(node, 2)
    if not a.compatible(b):
        raise PolicyTypeError(f"both branches of if() must have one type: {type_name(a)} and "
                              f"{type_name(b)}", node.args[2].loc)
    return a.unify(b)


def _band(c: Checker, node: Call) -> Type:
    _need(c, node, 0, NUMBER)
    pairs = node.args[1]
    ok = isinstance(pairs, ListLit) and all(
        isinstance(p, ListLit) and len(p.items) == 2 and all(i.ty == NUMBER for i in p.items)
        for p in pairs.items
    )
    if not ok:
        raise PolicyTypeError(
            "argument 2 of band() must be a list of [threshold, points] number pairs",
            pairs.loc,
        )
    _need(c, node, 2, NUMBER)
    return NUMBER


def _any_type(c: Checker, node: Call) -> Type:
    return BOOL


def _same_type(c: Checker, node: Call) -> Type:
    first = _arg_type(node, 0)
    for i in range(1, len(node.args)):
        t = _arg_type(node, i)
        if not first.compatible(t):
            raise PolicyTypeError(
                f"arguments of {node.fn}() must have one type: "
                f"{type_name(first)} and {type_name(t)}",
                node.args[i].loc,
            )
        first = first.unify(t)
    return first


def _ordered(c: Checker, node: Call) -> Type:
    t = _same_type(c, node)
    if t not in (NUMBER, DATE):
        raise PolicyTypeError(f"{node.fn}() takes numbers or dates, got {type_name(t)}",
                              node.args[0].loc)
    return t


def _abs(c: Checker, node: Call) -> Type:
    _need(c, node, 0, NUMBER)
    return NUMBER


def _len(c: Checker, node: Call) -> Type:
    t = _arg_type(node, 0)
    if not (t == STRING or t.kind == "list"):
        raise PolicyTypeError(f"len() takes a string or a list, got {type_name(t)}",
                              node.args[0].loc)
    return NUMBER


def _coalesce(c: Checker, node: Call) -> Type:
    t = _same_type(c, node)
    if t.kind == "list":
        raise PolicyTypeError("coalesce() takes single values, not lists", node.loc)
    return t


_FUNCTION_TYPES: dict[str, Callable[[Checker, Call], Type]] = {
    "years_since": _date_fn, "months_since": _date_fn, "days_since": _date_fn,
    "days_until": _date_fn, "in_region": _in_region, "starts_with": _string_pred,
    "contains": _contains, "contains_any": _contains_any, "fuzzy": _fuzzy, "if": _if,
    "band": _band, "is_known": _any_type, "coalesce": _coalesce, "min": _ordered,
    "max": _ordered, "abs": _abs, "len": _len,
}
