"""What a planned message says: its context (name, title, benefit, deadline), and the
in-app texts once per policy version and benefit."""

from __future__ import annotations

import datetime as dt

from zhida.channels.templates import MessageContext, benefit_text, chinese_date, inapp_text
from zhida.rules.policy import Policy


def display_name(name: str | None, policy: Policy) -> str:
    """How a message addresses its recipient: the profile's name, else a polite default."""
    return name or ("贵企业" if policy.audience.value == "enterprise" else "您好")


def context(
    name: str | None, policy: Policy, benefit: float | None, link: str, today: dt.date | None = None
) -> MessageContext:
    enterprise = policy.audience.value == "enterprise"
    closes = policy.window.closes
    return MessageContext(
        name=display_name(name, policy),
        who="贵企业" if enterprise else "您",
        title=policy.title,
        benefit=benefit_text(benefit),
        summary=policy.benefit_summary or "",
        deadline=chinese_date(closes, today) if closes else "",
        link=link,
    )


class Texts:
    """What a message says apart from the name and link, once per (policy version, benefit):
    the context without name and link, and the in-app title and body."""

    def __init__(self, today: dt.date):
        self.today = today
        self.cache: dict[tuple[int, float | None], tuple[MessageContext, str, str]] = {}

    def get(
        self, version_id: int, policy: Policy, benefit: float | None
    ) -> tuple[MessageContext, str, str]:
        key = (version_id, benefit)
        if key not in self.cache:
            ctx = context(None, policy, benefit, "", self.today)
            self.cache[key] = (ctx, *inapp_text(ctx))
        return self.cache[key]
