"""Opt-out and opt-in words as people write them (issue 14.7), and the confirmation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhida.channels import optout
from zhida.settings import Settings

TABLE = [
    ("退订", (True, "退订")),
    ("退订。", (True, "退订")),
    ("退订 谢谢", (True, "退订")),
    ("退订,谢谢", (True, "退订")),
    ("取消", (True, "取消")),
    ("取消订阅！", (True, "取消订阅")),
    ("TD", (True, "TD")),
    ("td", (True, "TD")),
    ("Td。", (True, "TD")),
    ("ＴＤ", (True, "TD")),
    ("STOP", (True, "STOP")),
    ("stop.", (True, "STOP")),
    ("麻烦退订吧", (True, "退订")),
    ("thanks, unsubscribe", (True, "UNSUBSCRIBE")),
    ("START", (False, "START")),
    ("订阅", (False, "订阅")),
    ("恢复订阅~", (False, "恢复订阅")),
    ("hello", None),
    ("TD TD", None),
    ("退订 订阅", None),
    ("S TOP", None),
    ("STOPPED", None),
    ("请问怎么申请", None),
    ("", None),
    ("谢谢！", None),
]


@pytest.mark.parametrize(("text", "want"), TABLE)
def test_words_as_people_write_them(text: str, want: tuple[bool, str] | None) -> None:
    assert optout.keyword_action(text) == want


def _full_width(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in s)


SEPARATORS = st.lists(
    st.sampled_from(
        [" ", "\u3000", "\t", "。", "，", "！", ".", ",", "!", "?", "～", "“", "”", "【", "】"]
    ),
    max_size=3,
).map("".join)
COURTESY = st.sampled_from(["", "谢谢", "谢谢您", "您好", "please", "thanks"])
PREFIX = st.sampled_from(["", "请", "我要", "麻烦"])
SUFFIX = st.sampled_from(["", "了", "吧", "谢谢"])
KEYWORDS = sorted(optout.OPT_OUT_KEYWORDS | optout.OPT_IN_KEYWORDS)


@given(
    keyword=st.sampled_from(KEYWORDS),
    before=SEPARATORS,
    after=SEPARATORS,
    lead=COURTESY,
    tail=COURTESY,
    prefix=PREFIX,
    suffix=SUFFIX,
    lower=st.booleans(),
    wide=st.booleans(),
)
def test_decoration_never_changes_what_a_keyword_asks(
    keyword: str,
    before: str,
    after: str,
    lead: str,
    tail: str,
    prefix: str,
    suffix: str,
    lower: bool,
    wide: bool,
) -> None:
    """Punctuation, spaces, case, width and courtesy words around a keyword: the same
    action, the same keyword. Letters are never glued to a Latin keyword, which would
    make another word (TD + 了 stays readable, TD + PLEASE without a space does not)."""
    word = keyword.lower() if lower else keyword
    if word.isascii():
        prefix = suffix = ""
    core = f"{prefix}{word}{suffix}"
    text = f"{lead} {before}{core}{after} {tail}"
    if wide:
        text = _full_width(text)
    want = (keyword in optout.OPT_OUT_KEYWORDS, keyword)
    assert optout.keyword_action(text) == want


@given(a=st.sampled_from(KEYWORDS), b=st.sampled_from(KEYWORDS), sep=SEPARATORS)
def test_two_keywords_are_never_one_action(a: str, b: str, sep: str) -> None:
    assert optout.keyword_action(f"{a} {sep} {b}") is None


def test_the_confirmations_say_what_changed_and_how_to_undo_it() -> None:
    settings = Settings()
    out = optout.confirmation_text(True, settings)
    assert out == "【浙里办】您已退订政策直达短信，今后不再向您发送。如需恢复，请回复“订阅”。"
    assert optout.keyword_action("订阅") == (False, "订阅")  # the word the reply names works
    assert optout.confirmation_text(False, settings).endswith("回TD退订")
