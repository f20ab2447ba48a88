"""SMS text rules: segments, signature and opt-out hint, templates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhida.channels.sms_text import compose, encoding, segments
from zhida.channels.templates import (
    MessageContext,
    TemplateError,
    benefit_text,
    chinese_date,
    sms_text,
)

SIG, HINT = "【浙里办】", "回TD退订"


@pytest.mark.parametrize(
    ("length", "expected"), [(70, 1), (71, 2), (134, 2), (135, 3), (201, 3), (202, 4)]
)
def test_ucs2_segments_at_the_boundaries(length: int, expected: int) -> None:
    text = "政" * length
    assert encoding(text) == "UCS-2"
    assert segments(text) == expected


@pytest.mark.parametrize(("length", "expected"), [(160, 1), (161, 2), (306, 2), (307, 3)])
def test_gsm7_segments_at_the_boundaries(length: int, expected: int) -> None:
    assert segments("a" * length) == expected


def test_gsm_extension_characters_count_twice_and_emoji_two_units() -> None:
    assert segments("€" * 80) == 1 and segments("€" * 81) == 2
    assert segments("政" * 68 + "😀") == 1  # 68 + 2 UTF-16 units = 70
    assert segments("政" * 69 + "😀") == 2


def test_signature_first_hint_last_never_doubled() -> None:
    text = compose(f"{SIG}您好，点击 https://x.cn/a/abc {HINT}", SIG, HINT)
    assert text.startswith(SIG) and text.endswith(HINT)
    assert text.count(SIG) == 1 and text.count(HINT) == 1
    assert "https://x.cn/a/abc 回TD退订" in text  # the link stays whole


@given(st.text(alphabet="政策直达abc 1，。", max_size=200))
def test_composed_text_always_has_signature_and_hint(body: str) -> None:
    text = compose(body, SIG, HINT)
    assert text.startswith(SIG) and text.endswith(HINT)
    assert segments(text) >= 1


def ctx(**kw: str) -> MessageContext:
    base = {
        "name": "杭州某某科技有限公司",
        "who": "贵企业",
        "title": "专精特新“小巨人”",
        "benefit": benefit_text(500_000, None),
        "deadline": chinese_date(dt.date(2026, 6, 30)),
        "link": "https://zld.zj.gov.cn/a/AbCdEfGhIjKlMnOpQrStUv",
    }
    base.update(kw)
    return MessageContext(**base)


def test_default_sms_reads_the_chinese_way() -> None:
    sms = sms_text(ctx(), SIG, HINT)
    assert sms.text == (
        "【浙里办】杭州某某科技有限公司：贵企业符合“专精特新“小巨人””申报条件，最高50万元，"
        "6月30日截止。办理：https://zld.zj.gov.cn/a/AbCdEfGhIjKlMnOpQrStUv 回TD退订"
    )
    assert sms.segments == 2


def test_policy_template_overrides_and_errors_are_clear() -> None:
    assert sms_text(ctx(), SIG, HINT, "{{ name }}请办理{{ link }}").text.startswith(
        "【浙里办】杭州某某科技有限公司请办理https://"
    )
    with pytest.raises(TemplateError, match="did you mean 'name'"):
        sms_text(ctx(), SIG, HINT, "{{ nmae }}")
    with pytest.raises(TemplateError, match="sms template"):
        sms_text(ctx(), SIG, HINT, "{{ name }")


RCE = "{{ cycler.__init__.__globals__.os.popen('touch MARK').read() }}{{ link }}"


@pytest.mark.parametrize(
    "template",
    [
        RCE,
        "{{ name.__class__.__mro__ }}{{ link }}",
        "{{ name['x'] }}",
        "{{ lipsum() }}",
        "{% for c in name %}{{ c }}{% endfor %}",
        "{% set x = 1 %}{{ link }}",
        "{{ name|attr('upper') }}",
        "{% include 'x.txt' %}",
        "{{ self }}",
        "{{ range(10) }}",
    ],
)
def test_a_template_can_use_its_names_and_nothing_else(
    template: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(TemplateError, match="sms template: "):
        sms_text(ctx(), SIG, HINT, template.replace("MARK", str(tmp_path / "ran")))
    assert not (tmp_path / "ran").exists()


def test_allowed_syntax_still_renders() -> None:
    text = sms_text(
        ctx(),
        SIG,
        HINT,
        "{% if benefit %}{{ benefit }}，{% endif %}{{ name|truncate(30) }}{{ ' ' ~ link }}",
    ).text
    assert text.startswith("【浙里办】最高50万元，杭州某某科技有限公司 https://")


def test_the_sandbox_refuses_what_the_check_would_miss() -> None:
    from jinja2.exceptions import SecurityError

    from zhida.channels.templates import _ENV

    with pytest.raises(SecurityError):
        _ENV.from_string("{{ x.__class__.__mro__ }}").render(x="")


def test_amounts_and_dates() -> None:
    assert benefit_text(120_000_000, None) == "最高1.2亿元"
    assert benefit_text(None, "最高奖励50万元") == "最高奖励50万元"
    assert chinese_date(dt.date(2026, 6, 30)) == "6月30日"


TEMPLATES = [
    None,
    "{{ name|upper }} {{ link }}",
    "{{name}}你好 {{link}}",
    "{% if name %}{{ name }}{% endif %}：{{ title }} {{ link }}",
    "{{ name|replace('杭州', '') }} {{ link }}{{ deadline }}",
]


@given(
    name=st.text(alphabet="杭州abcAB 　\t科技", max_size=12),
    link=st.text(alphabet="https:/x.cnAbc_- ", min_size=1, max_size=20),
    template=st.sampled_from(TEMPLATES),
)
def test_rendering_once_per_policy_equals_rendering_each_message(
    name: str, link: str, template: str | None
) -> None:
    from zhida.channels.templates import DEFAULT_SMS, compile_template, render

    c = ctx(name=name, link=link)
    full = compose(render(compile_template(template or DEFAULT_SMS), c), SIG, HINT)
    assert sms_text(c, SIG, HINT, template).text == full


def test_a_5000_character_name_is_shortened_to_the_segment_budget() -> None:
    from zhida.channels.templates import SEGMENT_BUDGET

    sms = sms_text(ctx(name="某" * 5000), SIG, HINT)
    assert sms.segments == SEGMENT_BUDGET
    assert "某某某某…：" in sms.text and sms.text.endswith(HINT)


@given(st.text(alphabet="杭州某科技有限公司abcXYZ ", min_size=1, max_size=300))
def test_the_name_is_kept_whole_when_it_fits_and_cut_as_little_as_needed(name: str) -> None:
    from zhida.channels.templates import ELLIPSIS, MIN_NAME_CHARS, SEGMENT_BUDGET

    name = " ".join(name.split()) or "某"
    whole = compose(render_default(ctx(name=name)), SIG, HINT)
    sms = sms_text(ctx(name=name), SIG, HINT)
    if segments(whole) <= SEGMENT_BUDGET:
        assert sms.text == whole
        return
    kept = sms.text.split("：", 1)[0].removeprefix(SIG)
    assert kept.endswith(ELLIPSIS) and name.startswith(kept[:-1])
    assert len(kept) - 1 >= MIN_NAME_CHARS
    k = len(kept) - 1  # characters of the name kept
    if k > MIN_NAME_CHARS:
        assert sms.segments <= SEGMENT_BUDGET
    one_more = compose(render_default(ctx(name=name[: k + 1] + ELLIPSIS)), SIG, HINT)
    assert segments(one_more) > SEGMENT_BUDGET  # as little cut as needed


def render_default(c: MessageContext) -> str:
    from zhida.channels.templates import DEFAULT_SMS, compile_template, render

    return render(compile_template(DEFAULT_SMS), c)
