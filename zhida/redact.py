"""What logs, consoles and tables may hold of secrets and personal data: phone numbers
with their middle hidden (the last four digits are enough to debug), application,
sign-in and officer tokens never (the store keeps only their hash)."""

from __future__ import annotations

import hashlib
import re

#: an E.164 number, or a mainland mobile written without +86
_PHONE = re.compile(r"(?<![\w+])(\+\d{8,15}|1[3-9]\d{9})(?!\w)")
#: the secret part of an application link, a sign-in link or the Aliyun receipt URL
_TOKEN_PATH = re.compile(r"(/(?:a|login|report)/)[A-Za-z0-9_\-.~%]+")


def mask_phone(value: str) -> str:
    """Hide the middle of a phone number for messages: ``+8613812345678`` -> ``+86138****5678``."""
    if len(value) >= 11:  # hide at least 4 digits: 138****5678, +86138****5678
        return value[: min(6, len(value) - 8)] + "****" + value[-4:]
    if len(value) >= 8:
        return value[:2] + "****" + value[-2:]
    return "****"


def redact(text: str) -> str:
    """The text with every phone number masked and every /a/TOKEN, /login/TOKEN and
    /report/SECRET path shown as /a/… (for log lines and error texts from providers)."""
    text = _TOKEN_PATH.sub(r"\1…", text)
    return _PHONE.sub(lambda m: mask_phone(m.group(1)), text)


def hash_token(token: str) -> str:
    """What the store keeps of a secret token: its SHA-256, hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
