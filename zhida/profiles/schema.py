"""Profile schemas: the built-in enterprise and citizen fields, and pack extensions.

A schema maps a field name to its type, its Chinese label (used in explanations)
and an optional unit used to format values for people (元 -> "8,000万元").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class FieldType(str, Enum):  # noqa: UP042
    INT = "int"
    NUMBER = "number"
    BOOL = "bool"
    DATE = "date"
    STRING = "string"
    LIST = "list"


class Audience(str, Enum):  # noqa: UP042
    ENTERPRISE = "enterprise"
    CITIZEN = "citizen"


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    label: str
    unit: str | None = None  # "元", "人", "月", ... for display only


def _f(name: str, type_: str, label: str, unit: str | None = None) -> Field:
    return Field(name, FieldType(type_), label, unit)


ENTERPRISE_FIELDS: tuple[Field, ...] = (
    _f("id", "string", "编号"),
    _f("uscc", "string", "统一社会信用代码"),
    _f("name", "string", "企业名称"),
    _f("phone", "string", "联系电话"),
    _f("region", "string", "所在地区代码"),
    _f("industry", "string", "行业代码"),
    _f("established", "date", "成立日期"),
    _f("employees", "int", "职工人数", "人"),
    _f("revenue", "number", "上年度营业收入", "元"),
    _f("rd_expense", "number", "研发费用", "元"),
    _f("rd_staff", "int", "研发人员数", "人"),
    _f("invention_patents", "int", "发明专利数", "项"),
    _f("patents", "int", "知识产权数", "项"),
    _f("tax_credit", "string", "纳税信用等级"),
    _f("high_tech", "bool", "高新技术企业"),
    _f("specialized_sme", "bool", "专精特新中小企业"),
    _f("business_scope", "string", "经营范围"),
)

CITIZEN_FIELDS: tuple[Field, ...] = (
    _f("id", "string", "编号"),
    _f("id_hash", "string", "身份标识"),
    _f("name", "string", "姓名"),
    _f("phone", "string", "联系电话"),
    _f("birth_date", "date", "出生日期"),
    _f("education", "string", "学历"),
    _f("graduation_date", "date", "毕业日期"),
    _f("hukou_region", "string", "户籍地区代码"),
    _f("residence_region", "string", "居住地区代码"),
    _f("social_insurance_months", "int", "社保缴纳月数", "月"),
    _f("employer_uscc", "string", "就业单位信用代码"),
    _f("talent_level", "string", "人才层次"),
    _f("household_size", "int", "家庭人口数", "人"),
)

# Fields that identify or contact a person: never read by policy expressions' outputs
# shown to others, and never copied into logs.
CONTACT_FIELDS = frozenset({"phone", "id_hash"})


@dataclass
class ProfileSchema:
    """The fields a profile of one audience may carry."""

    audience: Audience
    fields: dict[str, Field] = field(default_factory=dict)

    def get(self, name: str) -> Field | None:
        return self.fields.get(name)

    def names(self) -> list[str]:
        return list(self.fields)

    def extended(self, extra: dict[str, Field]) -> ProfileSchema:
        merged = dict(self.fields)
        merged.update(extra)
        return ProfileSchema(self.audience, merged)


def builtin_schema(audience: Audience | str) -> ProfileSchema:
    aud = Audience(audience)
    fields = ENTERPRISE_FIELDS if aud is Audience.ENTERPRISE else CITIZEN_FIELDS
    return ProfileSchema(aud, {f.name: f for f in fields})


@dataclass
class SchemaSet:
    """One schema per audience: the built-ins plus a pack's `schema.yaml`."""

    by_audience: dict[Audience, ProfileSchema]

    @classmethod
    def builtin(cls) -> SchemaSet:
        return cls({a: builtin_schema(a) for a in Audience})

    def extended(self, extra: dict[Audience, dict[str, Field]]) -> SchemaSet:
        return SchemaSet({a: s.extended(extra.get(a, {})) for a, s in self.by_audience.items()})

    def __getitem__(self, audience: Audience | str) -> ProfileSchema:
        return self.by_audience[Audience(audience)]
