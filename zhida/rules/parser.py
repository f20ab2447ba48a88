"""Parse expression text into a located syntax tree (lark, LALR; never `eval`)."""

from __future__ import annotations

import datetime as dt
import os
import sys
from decimal import Decimal
from importlib import resources
from pathlib import Path

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
    VisitError,
)

from zhida.errors import Location, PolicyError, PolicySyntaxError
from zhida.rules.ast import Call, ListLit, Literal, Name, Node, Op

UNITS = {"%": Decimal("0.01"), "万": Decimal(10) ** 4, "亿": Decimal(10) ** 8}

_GRAMMAR = resources.files("zhida.rules").joinpath("grammar.lark").read_text(encoding="utf-8")


def grammar_cache() -> str | bool:
    """Where lark keeps the analysed grammar between runs (in the user's cache
    directory: loading it takes a tenth of building the LALR tables), or False when
    there is no writable place. lark writes the hash of the grammar, its options and
    its own version at the top and rebuilds the file when they change."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = base / "zhida"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    if not os.access(folder, os.W_OK):
        return False
    return str(folder / "grammar-py{}{}.lark-cache".format(*sys.version_info[:2]))


def build_parser(cache: str | bool) -> Lark:
    return Lark(
        _GRAMMAR, parser="lalr", propagate_positions=True, maybe_placeholders=False, cache=cache
    )


_LARK = build_parser(grammar_cache())

# Characters people type on a Chinese keyboard by mistake, and what they meant.
_FULL_WIDTH_HINTS = {
    "（": "(",
    "）": ")",
    "，": ",",
    "＞": ">",
    "＜": "<",
    "＝": "=",
    "！": "!",
    "“": '"',
    "”": '"',
    "‘": "'",
    "’": "'",
    "［": "[",
    "］": "]",
    "＋": "+",
    "－": "-",
    "＊": "*",
    "／": "/",
    "％": "%",
}

_TOKEN_NAMES = {
    "NUMBER": "a number",
    "STRING": "a string",
    "DATE": "a date",
    "IDENT": "a name",
    "CMP_OP": "a comparison",
    "LPAR": "'('",
    "RPAR": "')'",
    "LSQB": "'['",
    "RSQB": "']'",
    "COMMA": "','",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "STAR": "'*'",
    "SLASH": "'/'",
    "UNIT": "a unit (% 万 亿)",
    "$END": "the end of the expression",
}


class ExprPlace:
    """Maps a (line, column) inside an expression's text to a place in the file."""

    def __init__(self, file: str, line: int, col: int, col_by_line: list[int] | None = None):
        self.file, self.line, self.col = file, line, col
        self.col_by_line = col_by_line  # for block scalars: the file column of each text line

    def at(self, line: int, col: int) -> Location:
        if line <= 1:
            return Location(self.file, self.line, self.col + col - 1)
        start = self.col_by_line[line - 1] if self.col_by_line else 1
        return Location(self.file, self.line + line - 1, start + col - 1)


def number_value(digits: str, unit: str | None = None) -> float:
    """Exact decimal scaling, then one rounding: 15% is the double nearest 0.15."""
    value = Decimal(digits)
    if unit:
        value *= UNITS[unit]
    return float(value)


def _unquote(text: str) -> str:
    body = text[1:-1]
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append({"n": "\n", "t": "\t"}.get(nxt, nxt))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


class _Build(Transformer[Token, Node]):
    def __init__(self, place: ExprPlace):
        super().__init__()
        self.place = place

    def _loc(self, meta: object) -> Location:
        return self.place.at(getattr(meta, "line", 1), getattr(meta, "column", 1))

    def _tok(self, tok: Token) -> Location:
        return self.place.at(tok.line or 1, tok.column or 1)

    @v_args(meta=True)
    def number(self, meta: object, children: list[Token]) -> Node:
        unit = str(children[1]) if len(children) > 1 else None
        text = "".join(str(c) for c in children)
        return Literal(self._loc(meta), number_value(str(children[0]), unit), text)

    @v_args(meta=True)
    def string(self, meta: object, children: list[Token]) -> Node:
        return Literal(self._loc(meta), _unquote(str(children[0])), str(children[0]))

    @v_args(meta=True)
    def date(self, meta: object, children: list[Token]) -> Node:
        text = str(children[0])
        loc = self._loc(meta)
        try:
            value = dt.date.fromisoformat(text)
        except ValueError as err:  # 2026-02-30, 0000-01-01
            raise PolicySyntaxError(f"invalid date {text} ({err})", loc) from None
        return Literal(loc, value, text)

    @v_args(meta=True)
    def true(self, meta: object, children: list[Token]) -> Node:
        return Literal(self._loc(meta), True, "true")

    @v_args(meta=True)
    def false(self, meta: object, children: list[Token]) -> Node:
        return Literal(self._loc(meta), False, "false")

    @v_args(meta=True)
    def list_lit(self, meta: object, children: list[Node]) -> Node:
        return ListLit(self._loc(meta), [c for c in children if c is not None])

    @v_args(meta=True)
    def name(self, meta: object, children: list[Token]) -> Node:
        return Name(self._loc(meta), str(children[0]))

    @v_args(meta=True)
    def call(self, meta: object, children: list[Token | Node]) -> Node:
        fn = children[0]
        assert isinstance(fn, Token)
        args = [c for c in children[1:] if isinstance(c, Node)]
        return Call(self._tok(fn), str(fn), args)

    def _op(self, op: str, meta: object, args: list[Node]) -> Node:
        return Op(self._loc(meta), op, args)

    @v_args(meta=True)
    def compare(self, meta: object, children: list[Node | Token]) -> Node:
        left, op, right = children
        assert isinstance(op, Token) and isinstance(left, Node) and isinstance(right, Node)
        return Op(self._tok(op), str(op), [left, right])

    @v_args(meta=True)
    def or_op(self, meta: object, c: list[Node]) -> Node:
        return self._op("or", meta, c)

    @v_args(meta=True)
    def and_op(self, meta: object, c: list[Node]) -> Node:
        return self._op("and", meta, c)

    @v_args(meta=True)
    def not_op(self, meta: object, c: list[Node]) -> Node:
        return self._op("not", meta, c)

    @v_args(meta=True)
    def in_op(self, meta: object, c: list[Node]) -> Node:
        return self._op("in", meta, c)

    @v_args(meta=True)
    def not_in_op(self, meta: object, c: list[Node]) -> Node:
        return self._op("not in", meta, c)

    @v_args(meta=True)
    def between(self, meta: object, c: list[Node]) -> Node:
        return self._op("between", meta, c)

    @v_args(meta=True)
    def add(self, meta: object, c: list[Node]) -> Node:
        return self._op("+", meta, c)

    @v_args(meta=True)
    def sub(self, meta: object, c: list[Node]) -> Node:
        return self._op("-", meta, c)

    @v_args(meta=True)
    def mul(self, meta: object, c: list[Node]) -> Node:
        return self._op("*", meta, c)

    @v_args(meta=True)
    def div(self, meta: object, c: list[Node]) -> Node:
        return self._op("/", meta, c)

    @v_args(meta=True)
    def neg(self, meta: object, c: list[Node]) -> Node:
        return self._op("neg", meta, c)


def _describe_expected(expected: set[str]) -> str:
    names = sorted({_TOKEN_NAMES.get(e, repr(e.lower()) if e.isalpha() else e) for e in expected})
    if len(names) > 6:
        return ""
    return ", expected " + " or ".join(names)


def _syntax_error(err: UnexpectedInput, text: str, place: ExprPlace) -> PolicySyntaxError:
    line, col = getattr(err, "line", 1), getattr(err, "column", 1)
    if not isinstance(line, int) or line < 1:
        line, col = text.count("\n") + 1, len(text.rsplit("\n", 1)[-1]) + 1
    loc = place.at(line, col)
    if isinstance(err, UnexpectedCharacters):
        pos = int(err.pos_in_stream or 0)
        ch = text[pos] if pos < len(text) else ""
        if ch in _FULL_WIDTH_HINTS:
            return PolicySyntaxError(
                f"full-width character '{ch}' in expression",
                loc,
                f"use '{_FULL_WIDTH_HINTS[ch]}'",
            )
        return PolicySyntaxError(f"unexpected character '{ch}' in expression", loc)
    if isinstance(err, UnexpectedEOF) or (
        isinstance(err, UnexpectedToken) and err.token.type == "$END"
    ):
        expected: set[str] = set(getattr(err, "expected", None) or ())
        return PolicySyntaxError("expression ends too early" + _describe_expected(expected), loc)
    assert isinstance(err, UnexpectedToken)
    return PolicySyntaxError(
        f"unexpected '{err.token}'" + _describe_expected(set(err.expected)), loc
    )


#: deepest nesting an expression may have once `and`/`or` chains are balanced
MAX_DEPTH = 100
_CHAINS = ("and_op", "or_op")


def _balance_chains(tree: Tree) -> None:
    """Rebuild each left-deep chain `a and b and c ...` (one operator) as a balanced tree of
    the same operands in the same order, so 1,000 conditions joined by `and` nest ten
    levels, not a thousand. Kleene `and`/`or` are associative: the meaning is the same.
    Iterative: the tree may be deeper than Python's recursion limit."""
    stack: list[Tree] = [tree]
    while stack:
        node = stack.pop()
        if node.data in _CHAINS:
            operands: list[Tree | Token] = []
            link: Tree | Token = node
            while isinstance(link, Tree) and link.data == node.data:
                operands.append(link.children[1])
                link = link.children[0]
            operands.append(link)
            operands.reverse()
            if len(operands) > 2:
                mid = len(operands) // 2
                node.children = [_chain(node, operands[:mid]), _chain(node, operands[mid:])]
            stack.extend(o for o in operands if isinstance(o, Tree))  # not the new links
        else:
            stack.extend(c for c in node.children if isinstance(c, Tree))


def _chain(head: Tree, operands: list[Tree | Token]) -> Tree | Token:
    if len(operands) == 1:
        return operands[0]
    first = operands[0]
    mid = len(operands) // 2
    return Tree(
        head.data,
        [_chain(head, operands[:mid]), _chain(head, operands[mid:])],
        meta=first.meta if isinstance(first, Tree) else head.meta,
    )


def _check_depth(tree: Tree, place: ExprPlace) -> None:
    """Refuse, at the place where it passes the limit, an expression nested deeper than
    MAX_DEPTH (the checker and both evaluators walk it recursively)."""
    stack: list[tuple[Tree, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            meta = node.meta
            line, col = (meta.line, meta.column) if not meta.empty else (1, 1)
            raise PolicySyntaxError(
                f"expression nested more than {MAX_DEPTH} levels deep (the limit; "
                "conditions joined by 'and' or 'or' do not count)",
                place.at(line, col),
            )
        stack.extend((c, depth + 1) for c in node.children if isinstance(c, Tree))


def parse_expression(text: str, place: ExprPlace | None = None) -> Node:
    """Parse one expression; raise PolicySyntaxError at the offending place."""
    place = place or ExprPlace("<expr>", 1, 1)
    if not text.strip():
        raise PolicySyntaxError("empty expression", place.at(1, 1))
    try:
        tree = _LARK.parse(text)
    except UnexpectedInput as err:
        raise _syntax_error(err, text, place) from None
    if isinstance(tree, Tree):
        _balance_chains(tree)
        _check_depth(tree, place)
    try:
        node = _Build(place).transform(tree)
    except VisitError as err:  # lark wraps what a rule of the transformer raised
        if isinstance(err.orig_exc, PolicyError):
            raise err.orig_exc from None
        raise
    if isinstance(node, Tree):  # pragma: no cover - grammar always reduces to a node
        raise PolicySyntaxError("cannot parse expression", place.at(1, 1))
    return node
