"""The libyaml reading of a policy file gives the nodes (values, styles, places) the
pure-Python reading gives, and a file libyaml refuses gets the pure reader's words."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from zhida.errors import PolicyError
from zhida.rules import yamlnodes
from zhida.rules.yamlnodes import Doc

pytestmark = pytest.mark.skipif(yamlnodes._FAST_LOADER is None, reason="PyYAML without libyaml")


def _shape(node: yaml.Node | None) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    stack = [node] if node is not None else []
    while stack:
        n = stack.pop()
        start, end = n.start_mark, n.end_mark
        value = n.value if isinstance(n, yaml.ScalarNode) else None
        style = getattr(n, "style", None)
        out.append(
            (type(n).__name__, n.tag, style, start.line, start.column, end.line, end.column, value)
        )
        if isinstance(n, yaml.MappingNode):
            stack.extend(x for pair in reversed(n.value) for x in reversed(pair))
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(reversed(n.value))
    return out


def _pure(text: str) -> yaml.Node | None:
    return yaml.compose(text, Loader=yaml.SafeLoader)


_text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))
    | st.sampled_from("中文 甲乙\n:#-'\""),
    max_size=20,
)
_leaf = _text | st.integers() | st.floats(allow_nan=False) | st.booleans() | st.none()
_data = st.recursive(
    _leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(_data, st.sampled_from([None, "'", '"', "|"]), st.booleans())
def test_libyaml_nodes_are_the_pure_loaders(data: object, style: str | None, flow: bool) -> None:
    text = yaml.safe_dump(data, allow_unicode=True, default_style=style, default_flow_style=flow)
    fast = yamlnodes._plain_style_is_none(yaml.compose(text, Loader=yamlnodes._FAST_LOADER))
    assert _shape(fast) == _shape(_pure(text))
    assert _shape(Doc("p.yaml", text).compose()) == _shape(_pure(text))


@pytest.mark.parametrize(
    "text",
    [
        "id: a\ntitle: [unclosed\n",
        "id: a\n  title: b\n",
        "key: 'open\n",
        "a: b: c\n",
        "- a\nb: c\n",
        "\t- tab\n",
    ],
)
def test_a_file_libyaml_refuses_gets_the_pure_loaders_words(text: str) -> None:
    with pytest.raises(yaml.MarkedYAMLError) as pure:
        _pure(text)
    with pytest.raises(PolicyError) as ours:
        Doc("p.yaml", text).compose()
    mark = pure.value.problem_mark or pure.value.context_mark
    assert mark is not None
    problem = pure.value.problem or pure.value.context
    assert ours.value.message == f"malformed YAML: {problem}"
    assert ours.value.loc is not None
    assert (ours.value.loc.line, ours.value.loc.col) == (mark.line + 1, mark.column + 1)
