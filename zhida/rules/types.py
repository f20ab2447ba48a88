"""Static types of expressions."""

from __future__ import annotations

from dataclasses import dataclass

from zhida.profiles.schema import FieldType


@dataclass(frozen=True)
class Type:
    kind: str  # number | bool | date | string | list | any
    elem: Type | None = None  # element type of a list

    def __str__(self) -> str:
        if self.kind == "list":
            return f"list[{self.elem}]" if self.elem and self.elem.kind != "any" else "list"
        return self.kind

    @property
    def is_list(self) -> bool:
        return self.kind == "list"

    def compatible(self, other: Type) -> bool:
        """Same type, with `any` (the element of an empty list) matching everything."""
        if self.kind == "any" or other.kind == "any":
            return True
        if self.kind != other.kind:
            return False
        if self.kind == "list":
            assert self.elem is not None and other.elem is not None
            return self.elem.compatible(other.elem)
        return True

    def unify(self, other: Type) -> Type:
        if self.kind == "any":
            return other
        if other.kind == "any" or self.kind != "list":
            return self
        assert self.elem is not None and other.elem is not None
        return list_of(self.elem.unify(other.elem))


NUMBER = Type("number")
BOOL = Type("bool")
DATE = Type("date")
STRING = Type("string")
ANY = Type("any")


def list_of(elem: Type) -> Type:
    return Type("list", elem)


STRING_LIST = list_of(STRING)

_TYPE_NAMES = {
    "number": "a number",
    "bool": "true/false",
    "date": "a date",
    "string": "a string",
    "any": "anything",
}


def type_name(ty: Type) -> str:
    """A type as error messages name it: "a number", "a list of a string"..."""
    if ty.kind == "list":
        return f"a list of {_TYPE_NAMES.get(str(ty.elem), str(ty.elem))}" if ty.elem else "a list"
    return _TYPE_NAMES.get(ty.kind, ty.kind)


# Chinese names of types, for messages shown to policy officers alongside English.
_FIELD_TYPES = {
    FieldType.INT: NUMBER,
    FieldType.NUMBER: NUMBER,
    FieldType.BOOL: BOOL,
    FieldType.DATE: DATE,
    FieldType.STRING: STRING,
    FieldType.LIST: STRING_LIST,
}


def of_field(field_type: FieldType) -> Type:
    return _FIELD_TYPES[field_type]
