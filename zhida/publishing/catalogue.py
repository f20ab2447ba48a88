"""Stored policy versions -> checked Policy objects."""

from __future__ import annotations

from zhida.profiles.schema import SchemaSet
from zhida.profiles.schema_file import parse_schema_extension
from zhida.rules.loader import load_policy_text
from zhida.rules.policy import Policy
from zhida.store.models import PolicyVersion


def schemas_from(schema_yaml: str) -> SchemaSet:
    base = SchemaSet.builtin()
    return base.extended(parse_schema_extension(schema_yaml)) if schema_yaml.strip() else base


def policy_of(version: PolicyVersion) -> Policy:
    """The checked Policy of a stored version (with the pack schema it was published with)."""
    return load_policy_text(version.yaml_text, f"{version.policy_id}@v{version.version}",
                            schemas_from(version.schema_yaml))
