"""SMS text rules: signature first, opt-out hint last, segments known before sending.

GSM-7 messages hold 160 characters in one segment and 153 per part when split;
anything outside the GSM-7 alphabet (Chinese, for instance) is sent as UCS-2:
70 characters in one segment, 67 per part (counted in UTF-16 code units).
"""

from __future__ import annotations

import math

_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")  # two septets each


def is_gsm7(text: str) -> bool:
    return all(ch in _GSM_BASIC or ch in _GSM_EXTENDED for ch in text)


def encoding(text: str) -> str:
    return "GSM-7" if is_gsm7(text) else "UCS-2"


def length_units(text: str) -> int:
    """Characters as the network counts them: septets for GSM-7, UTF-16 units for UCS-2."""
    if is_gsm7(text):
        return sum(2 if ch in _GSM_EXTENDED else 1 for ch in text)
    return len(text.encode("utf-16-le")) // 2


def segments(text: str) -> int:
    units = length_units(text)
    single, part = (160, 153) if is_gsm7(text) else (70, 67)
    if units == 0:
        return 0
    return 1 if units <= single else math.ceil(units / part)


def compose(body: str, signature: str, opt_out_hint: str) -> str:
    """The full text: signature first (counted), the body, the opt-out hint last.
    A signature or hint already inside the body is removed, never doubled."""
    core = body.replace(signature, "").strip()
    if core.endswith(opt_out_hint):
        core = core[: -len(opt_out_hint)].rstrip()
    sep = " " if core and core[-1].isascii() and core[-1].isalnum() else ""  # keep links whole
    return f"{signature}{core}{sep}{opt_out_hint}"
