"""A policy pack's `schema.yaml`: extra profile fields per audience.

```yaml
enterprise:
  tech_staff: {type: int, label: 科技人员数, unit: 人}
citizen:
  insured_region: {type: string, label: 社保参保地}
```

Every mistake is a SchemaError at the line and column of the offending node.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from zhida.errors import Location, SchemaError
from zhida.profiles.schema import Audience, Field, FieldType, builtin_schema
from zhida.suggest import did_you_mean

__all__ = ["FIELD_NAME_RE", "RESERVED_NAMES", "load_schema_extension", "parse_schema_extension"]

FIELD_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
# words of the expression language that cannot name a field
RESERVED_NAMES = frozenset({"and", "or", "not", "in", "between", "true", "false", "kind"})
_FIELD_KEYS = ("type", "label", "unit")


def _loc(file: str, node: yaml.Node) -> Location:
    mark = node.start_mark
    return Location(file, mark.line + 1, mark.column + 1)


def _mapping_items(
    node: yaml.Node, file: str, what: str
) -> list[tuple[yaml.ScalarNode, yaml.Node]]:
    """The (key, value) pairs of a mapping node; keys must be unique scalars."""
    if not isinstance(node, yaml.MappingNode):
        raise SchemaError(f"{what} must be a mapping", _loc(file, node))
    seen: set[str] = set()
    out: list[tuple[yaml.ScalarNode, yaml.Node]] = []
    for key, value in node.value:
        if not isinstance(key, yaml.ScalarNode):
            raise SchemaError(f"keys in {what} must be plain names", _loc(file, key))
        if key.value in seen:
            raise SchemaError(f"duplicate key '{key.value}' in {what}", _loc(file, key))
        seen.add(key.value)
        out.append((key, value))
    return out


def _scalar(node: yaml.Node, file: str, what: str) -> str:
    if not isinstance(node, yaml.ScalarNode) or node.tag == "tag:yaml.org,2002:null":
        raise SchemaError(f"{what} must be a single value", _loc(file, node))
    return str(node.value)


def parse_schema_extension(
    text: str, file: str = "schema.yaml"
) -> dict[Audience, dict[str, Field]]:
    """Parse the text of a `schema.yaml`; `file` is used in error locations."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
        raise SchemaError(
            f"invalid YAML: {e.problem or e.context or 'syntax error'}", loc
        ) from None
    except yaml.YAMLError as e:
        raise SchemaError(f"invalid YAML: {e}", Location(file, 1, 1)) from None
    out: dict[Audience, dict[str, Field]] = {}
    if root is None or (isinstance(root, yaml.ScalarNode) and root.value == ""):
        return out
    audiences = [a.value for a in Audience]
    for akey, anode in _mapping_items(root, file, "schema.yaml"):
        if akey.value not in audiences:
            hint = did_you_mean(akey.value, audiences)
            raise SchemaError(
                f"unknown audience '{akey.value}' (expected enterprise or citizen)",
                _loc(file, akey),
                hint,
            )
        audience = Audience(akey.value)
        builtins = builtin_schema(audience).fields
        fields: dict[str, Field] = {}
        if isinstance(anode, yaml.ScalarNode) and anode.tag == "tag:yaml.org,2002:null":
            out[audience] = fields
            continue
        for fkey, fnode in _mapping_items(anode, file, f"'{audience.value}'"):
            name = fkey.value
            if not FIELD_NAME_RE.match(name):
                raise SchemaError(
                    f"invalid field name '{name}' (use lower-case letters, digits and _)",
                    _loc(file, fkey),
                )
            if name in RESERVED_NAMES:
                raise SchemaError(
                    f"'{name}' is a reserved word, not a field name", _loc(file, fkey)
                )
            fields[name] = _parse_field(name, fkey, fnode, file, builtins)
        out[audience] = fields
    return out


def _parse_field(
    name: str, key: yaml.ScalarNode, node: yaml.Node, file: str, builtins: dict[str, Field]
) -> Field:
    if not isinstance(node, yaml.MappingNode):
        raise SchemaError(
            f"field '{name}' must be a mapping like {{type: int, label: ...}}", _loc(file, node)
        )
    items = _mapping_items(node, file, f"field '{name}'")
    values: dict[str, str] = {}
    nodes: dict[str, yaml.Node] = {}
    for k, v in items:
        if k.value not in _FIELD_KEYS:
            raise SchemaError(
                f"unknown key '{k.value}' in field '{name}' (allowed: type, label, unit)",
                _loc(file, k),
                did_you_mean(k.value, list(_FIELD_KEYS)),
            )
        values[k.value] = _scalar(v, file, f"'{k.value}' of field '{name}'")
        nodes[k.value] = v
    if "type" not in values:
        raise SchemaError(f"field '{name}' has no type", _loc(file, key))
    types = [t.value for t in FieldType]
    if values["type"] not in types:
        raise SchemaError(
            f"unknown type '{values['type']}' for field '{name}' (expected {', '.join(types)})",
            _loc(file, nodes["type"]),
            did_you_mean(values["type"], types),
        )
    ftype = FieldType(values["type"])
    label = values.get("label", "").strip()
    if not label:
        where = nodes.get("label", key)
        raise SchemaError(f"field '{name}' has no label", _loc(file, where))
    unit = values.get("unit")
    builtin = builtins.get(name)
    if builtin is not None and builtin.type is not ftype:
        raise SchemaError(
            f"field '{name}' is built in as {builtin.type.value}; it cannot be redefined as "
            f"{ftype.value}",
            _loc(file, nodes["type"]),
        )
    return Field(name, ftype, label, (unit.strip() or None) if unit is not None else None)


def load_schema_extension(path: str | Path) -> dict[Audience, dict[str, Field]]:
    """Parse a pack's `schema.yaml` into extra fields per audience.

    Raises SchemaError (with FILE:LINE:COL) on malformed YAML, an unknown
    audience, key or type, a missing label, or a built-in field redefined with
    another type. Redefining a built-in field with its own type is allowed (it
    may change the label or unit).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SchemaError(f"{p}: no such file") from None
    except UnicodeDecodeError:
        raise SchemaError("not UTF-8 text", Location(str(p), 1, 1)) from None
    except OSError as e:
        raise SchemaError(f"{p}: cannot read ({e.strerror})") from None
    return parse_schema_extension(text, str(p))
