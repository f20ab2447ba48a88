"""Reading YAML with the place of every node, so errors can say FILE:LINE:COL.

A document is read with libyaml (`yaml.CSafeLoader`, several times faster) when
PyYAML has it; a document libyaml refuses is read again with the pure-Python
loader, whose words the error messages have always used."""

from __future__ import annotations

import yaml

from zhida.errors import Location, PolicyError
from zhida.rules.parser import ExprPlace

#: deepest nesting of YAML mappings and lists in a policy or schema file
MAX_YAML_DEPTH = 50

_FAST_LOADER: type[yaml.SafeLoader] | None = getattr(yaml, "CSafeLoader", None)
Loader = type[yaml.SafeLoader]


class Doc:
    """One YAML file: its text lines and helpers to read nodes with places."""

    def __init__(self, path: str, text: str, error: type[PolicyError] = PolicyError):
        self.path, self.text, self.error = path, text, error
        self.lines = text.splitlines()

    def compose(self) -> yaml.Node | None:
        if _FAST_LOADER is not None:
            try:
                self._check_depth(_FAST_LOADER)
                return _plain_style_is_none(yaml.compose(self.text, Loader=_FAST_LOADER))
            except Exception:  # the pure loader below says what is wrong, in its words
                pass
        try:
            self._check_depth(yaml.SafeLoader)
            return yaml.compose(self.text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as err:
            mark = err.problem_mark or err.context_mark
            loc = Location(self.path, mark.line + 1, mark.column + 1) if mark else None
            problem = err.problem or err.context or "malformed YAML"
            raise self.error(f"malformed YAML: {problem}", loc) from None
        except yaml.YAMLError as err:
            raise self.error(f"malformed YAML: {err}", Location(self.path, 1, 1)) from None

    def _check_depth(self, loader: Loader) -> None:
        """Refuse collections nested deeper than MAX_YAML_DEPTH, read as a stream of
        events (PyYAML composes nodes recursively: a deeper file is a RecursionError)."""
        depth = 0
        for event in yaml.parse(self.text, Loader=loader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_YAML_DEPTH:
                    mark = event.start_mark
                    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
                    raise self.error(
                        f"nested more than {MAX_YAML_DEPTH} levels deep (the limit; about "
                        f"{MAX_YAML_DEPTH // 2 - 2} levels of all:/any: criteria)",
                        Location(self.path, line, col),
                    )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1

    def loc(self, node: yaml.Node) -> Location:
        return Location(self.path, node.start_mark.line + 1, node.start_mark.column + 1)

    def fail(self, message: str, node: yaml.Node, hint: str | None = None) -> PolicyError:
        return self.error(message, self.loc(node), hint)

    def mapping(self, node: yaml.Node, what: str) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(f"{what} must be a mapping (key: value)", node)
        out: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                raise self.fail(f"keys in {what} must be plain text", key)
            if key.value in out:
                raise self.fail(f"duplicate key '{key.value}' in {what}", key)
            out[key.value] = (key, value)
        return out

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(f"{what} must be a list", node)
        return list(node.value)

    def scalar(self, node: yaml.Node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(f"{what} must be a single value", node)
        return str(node.value)

    def is_null(self, node: yaml.Node) -> bool:
        return (
            isinstance(node, yaml.ScalarNode)
            and node.style is None
            and node.value in ("", "~", "null", "Null", "NULL")
        )

    def expr_place(self, node: yaml.Node) -> ExprPlace:
        """Where the characters of a scalar's value sit in the file."""
        line, col = node.start_mark.line + 1, node.start_mark.column + 1
        style = getattr(node, "style", None)
        if style in ("|", ">"):
            first = line + 1  # the text starts on the next line, its common indent removed
            body = self.lines[first - 1 : node.end_mark.line + 1]
            raw = next((r for r in body if r.strip()), "")
            base = len(raw) - len(raw.lstrip(" ")) + 1
            return ExprPlace(self.path, first, base, [base] * max(1, len(body)))
        if style in ("'", '"'):
            col += 1
        if node.start_mark.line == node.end_mark.line:
            return ExprPlace(self.path, line, col)
        return _FixedPlace(self.path, line, col)


def _plain_style_is_none(root: yaml.Node | None) -> yaml.Node | None:
    """libyaml gives a plain scalar the style '', the pure loader None: make it None."""
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            if node.style == "":
                node.style = None
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.append(key)
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return root


class _FixedPlace(ExprPlace):
    """A folded multi-line plain scalar: report everything at its start."""

    def at(self, line: int, col: int) -> Location:
        return Location(self.file, self.line, self.col)
