"""What `zhida check` says about a policy's messages: template errors and long SMS."""

from __future__ import annotations

from zhida.channels.links import placeholder_link
from zhida.channels.templates import (
    SEGMENT_BUDGET,
    MessageContext,
    TemplateError,
    benefit_text,
    chinese_date,
)
from zhida.channels.templates import sms_text as render_sms
from zhida.errors import Location, PolicyError, PositionedError
from zhida.rules.policy import Policy
from zhida.settings import get_settings

LONG_NAME = "浙江省杭州市西湖区某某某某某某智能科技股份有限公司"  # 26 characters
MAX_SEGMENTS = SEGMENT_BUDGET


class PolicyWarning(PositionedError):
    severity = "warning"


LONG_PERSON = "欧阳某某"


def sample_context(policy: Policy) -> MessageContext:
    settings = get_settings()
    closes = policy.window.closes
    enterprise = policy.audience.value == "enterprise"
    return MessageContext(
        name=LONG_NAME if enterprise else LONG_PERSON,
        who="贵企业" if enterprise else "您",
        title=policy.title,
        benefit=benefit_text(1_000_000.0 if policy.benefit_amount is not None else None),
        summary=policy.benefit_summary or "",
        deadline=chinese_date(closes) if closes else "",
        link=placeholder_link(settings),
        missing="",
    )


def check_messages(policy: Policy) -> list[PositionedError]:
    """A broken `sms:` template is an error; an SMS over 2 segments for a long company name
    is a warning."""
    loc = policy.sms_loc or Location(policy.path, policy.loc.line, policy.loc.col)
    settings = get_settings()
    try:
        sms = render_sms(
            sample_context(policy),
            settings.sms_signature,
            settings.sms_opt_out_hint,
            policy.sms_template,
        )
    except TemplateError as err:
        return [PolicyError(str(err), loc)]
    if sms.segments > MAX_SEGMENTS:
        return [
            PolicyWarning(
                f"the SMS would take {sms.segments} segments ({len(sms.text)} characters) with a "
                f"long name and the link; keep it within {MAX_SEGMENTS} (shorten the title or set "
                f"`sms:`)",
                loc,
            )
        ]
    return []
