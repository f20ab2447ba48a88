"""Type checking, name resolution and constant folding of expressions.

Runs once when a policy is loaded ("parse once, evaluate many"). Every error
carries the place of the offending node. Names resolve to profile fields of the
policy's audience or to the policy's `define:` names; misspellings get a
"did you mean" from rapidfuzz. Function calls are checked against their entries
in `zhida.rules.functions` (arity, constant arguments, type rule).
"""

from __future__ import annotations

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
from zhida.rules.functions import FUNCTIONS
from zhida.rules.parser import MAX_DEPTH
from zhida.rules.types import ANY, BOOL, DATE, NUMBER, STRING, Type, list_of, of_field, type_name
from zhida.suggest import did_you_mean


class Checker:
    """Checks expressions of one policy against one audience's schema and its defines."""

    def __init__(self, schema: ProfileSchema, defines: dict[str, Node]):
        self.schema = schema
        self.define_src = defines
        self.defines: dict[str, Node] = {}  # checked and folded
        self._in_progress: list[str] = []
        self._depth: dict[str, int] = {}  # of each checked define, its names expanded

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
            cycle = " -> ".join([*self._in_progress[self._in_progress.index(name) :], name])
            raise PolicyTypeError(f"define names refer to each other in a cycle: {cycle}", src.loc)
        if len(self._in_progress) >= MAX_DEPTH:  # each define's depth is checked below too
            raise PolicyTypeError(
                f"define names refer to each other more than {MAX_DEPTH} deep (the limit)", src.loc
            )
        self._in_progress.append(name)
        try:
            checked = self.check(src)
        finally:
            self._in_progress.pop()
        self._depth[name] = self.limit_depth(checked, f"define '{name}'")
        self.defines[name] = checked
        return checked

    def limit_depth(self, node: Node, what: str) -> int:
        """The levels the evaluators recurse through for this checked expression (a define
        name counts as deep as its own expression); over MAX_DEPTH is an error."""
        deepest = 0
        stack = [(node, 1)]
        while stack:
            item, depth = stack.pop()
            if isinstance(item, Name) and item.is_define:
                depth += self._depth.get(item.name, 0)
            deepest = max(deepest, depth)
            stack.extend((child, depth + 1) for child in item.children())
        if deepest > MAX_DEPTH:
            raise PolicyTypeError(
                f"{what} nests more than {MAX_DEPTH} levels deep, counting "
                "the define names it uses (the limit)",
                node.loc,
            )
        return deepest

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
            raise PolicyTypeError(
                f"{what} must be {type_name(ty)}, got {type_name(checked.ty)}", checked.loc
            )
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
        if node.name in FUNCTIONS:
            raise PolicyTypeError(
                f"'{node.name}' is a function; call it as {node.name}(...)", node.loc
            )
        choices = [*self.schema.names(), *self.define_src]
        raise PolicyTypeError(
            f"unknown field '{node.name}' for {self.schema.audience.value} profiles",
            node.loc,
            did_you_mean(node.name, choices),
        )

    def _call(self, node: Call) -> Node:
        fn = FUNCTIONS.get(node.fn)
        if fn is None:
            raise PolicyTypeError(
                f"unknown function '{node.fn}'", node.loc, did_you_mean(node.fn, list(FUNCTIONS))
            )
        lo, hi = fn.arity
        n = len(node.args)
        if n < lo or (hi is not None and n > hi):
            want = f"{lo}" if lo == hi else (f"at least {lo}" if hi is None else f"{lo} to {hi}")
            plural = "" if want == "1" else "s"
            raise PolicyTypeError(f"{node.fn}() takes {want} argument{plural}, got {n}", node.loc)
        node.args = [self.check(a) for a in node.args]
        for i in fn.constant_args:
            if i < n and not is_constant(node.args[i]):
                raise PolicyTypeError(
                    f"argument {i + 1} of {node.fn}() must be a constant", node.args[i].loc
                )
        node.ty = fn.type_rule(node)
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
        if isinstance(node, Call) and FUNCTIONS[node.fn].dated:
            return node
        if not all(is_constant(a) for a in node.args):
            return node
        values = [constant_value(a) for a in node.args]
        if isinstance(node, Call):
            value = FUNCTIONS[node.fn].scalar(*values)
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
