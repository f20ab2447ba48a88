"""zhida/api/forms.py: which fields are editable, how a submitted field is checked (the
schema's types and validate.py's formats, in Chinese) and what counts as changed."""

from __future__ import annotations

import datetime as dt

from zhida.api.forms import FormField, check_form, form_fields, form_text
from zhida.matcher.reference import evaluate_form
from zhida.profiles.schema import SchemaSet
from zhida.rules.loader import load_policy_text

POLICY = """id: zd-test-citizen
title: 测试市生活补贴
audience: citizen
define:
  monthly_deduction: 1500
apply:
  form:
    姓名: name
    户籍地: hukou_region
    每月扣除标准: monthly_deduction
    社保缴纳月数: social_insurance_months
    毕业日期: graduation_date
    人才层次: talent_level
    工作单位统一社会信用代码: employer_uscc
    年缴纳额: social_insurance_months * 12
criteria:
  - {id: insured, label: 缴纳社保, when: social_insurance_months >= 6}
"""
SCHEMAS = SchemaSet.builtin()
PROFILE = {
    "id": "C1",
    "name": "张三",
    "hukou_region": "330106",
    "social_insurance_months": 24,
    "graduation_date": dt.date(2024, 6, 30),
    "talent_level": "C",
}
TODAY = dt.date(2026, 6, 1)


def fields() -> list[FormField]:
    policy = load_policy_text(POLICY, "zd-test-citizen.yaml", SCHEMAS)
    schema = SCHEMAS[policy.audience]
    return form_fields(policy, schema, evaluate_form(policy, PROFILE, TODAY))


def posted(**changes: str) -> dict[str, str]:
    raw = {f.name: f.prefilled for f in fields()}
    by_label = {f.label: f.name for f in fields()}
    raw.update({by_label[label]: v for label, v in changes.items()})
    return raw


def test_data_fields_are_editable_and_computed_ones_are_not() -> None:
    shown = {f.label: (f.prefilled, f.editable) for f in fields()}
    assert shown == {
        "姓名": ("张三", True),
        "户籍地": ("330106", True),
        "每月扣除标准": ("1500", False),  # a define: the policy computes it
        "社保缴纳月数": ("24", True),
        "毕业日期": ("2024-06-30", True),
        "人才层次": ("C", True),
        "工作单位统一社会信用代码": ("", True),  # no government data: the applicant gives it
        "年缴纳额": ("288", False),
    }


def test_an_unchanged_form_needs_only_what_is_missing() -> None:
    missing = check_form(fields(), posted())
    assert missing.errors == 1
    assert [f.error for f in missing.fields if f.error] == ["此项为必填项"]
    ok = check_form(fields(), posted(工作单位统一社会信用代码="91330106ma27xk0e8j"))
    assert ok.errors == 0
    assert ok.values["工作单位统一社会信用代码"] == "91330106MA27XK0E8J"  # normalised
    assert ok.changes == {"工作单位统一社会信用代码": None}  # supplied by the applicant


def test_each_bad_value_gets_its_reason_in_chinese_and_keeps_what_was_typed() -> None:
    checked = check_form(
        fields(),
        posted(
            姓名="",
            户籍地="北京",
            社保缴纳月数="两年",
            毕业日期="2024-02-30",
            人才层次="Z",
            工作单位统一社会信用代码="91330106MA27XK0E8X",
        ),
    )
    errors = {f.label: (f.error, f.value) for f in checked.fields if f.error}
    assert errors == {
        "姓名": ("此项为必填项", ""),
        "户籍地": ("须为6位行政区划代码（如 330106）", "北京"),
        "社保缴纳月数": ("须为整数", "两年"),
        "毕业日期": ("须为有效日期，格式如 2020-01-31（1800年至2199年）", "2024-02-30"),
        "人才层次": ("须为 A、B、C、D、E 之一", "Z"),
        "工作单位统一社会信用代码": (
            "不是有效的统一社会信用代码（18位，含校验位）",
            "91330106MA27XK0E8X",
        ),
    }
    assert checked.errors == 6


def test_edits_are_checked_by_type_and_flagged_and_computed_values_ignore_the_request() -> None:
    checked = check_form(
        fields(),
        posted(
            每月扣除标准="99999",  # read-only: the computed 1500 is stored
            社保缴纳月数=" 36 ",
            人才层次="c",  # the same value, in another case
            工作单位统一社会信用代码="91330106MA27XK0E8J",
        ),
    )
    assert checked.errors == 0
    assert checked.values["每月扣除标准"] == "1500" and checked.values["社保缴纳月数"] == "36"
    assert checked.changes == {"社保缴纳月数": "24", "工作单位统一社会信用代码": None}


def test_form_text() -> None:
    assert [form_text(v) for v in (None, True, 1.5e8, 0.12345, ["A", "B"])] == [
        "",
        "是",
        "150000000",
        "0.1235",
        "A、B",
    ]
