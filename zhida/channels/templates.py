"""Message templates (Jinja2): per channel, overridable per policy with `sms:`.

The context has only what a message may show: the profile's name (a company
name, or a citizen's surname with 先生/女士 left out), the policy title, the
benefit as people read it (50万元), the deadline as 6月30日, and the link.

Policy text is never trusted to run: templates compile in Jinja2's
`ImmutableSandboxedEnvironment`, and before that `check_template` walks the
template's syntax tree and refuses anything but the context's names, constants,
`{% if %}`, comparisons, `~` and a few filters (no attribute or item access, no
calls, no loops, blocks, macros, imports or assignments). `zhida check` reports a
refused template as an error at its `sms:` key; the planner never renders one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from zhida.channels.sms_text import compose, segments
from zhida.errors import SubjectError
from zhida.matcher.explain import format_amount
from zhida.suggest import did_you_mean

DEFAULT_SMS = (
    "{{ name }}：{{ who }}符合“{{ title }}”申报条件"
    "{% if benefit %}，{{ benefit }}{% endif %}"
    "{% if deadline %}，{{ deadline }}截止{% endif %}。办理：{{ link }}"
)
DEFAULT_INAPP_TITLE = "符合“{{ title }}”申报条件"
MAYBE_INAPP_TITLE = "可能符合“{{ title }}”，需补充信息"
DEFAULT_INAPP = (
    "经评估，{{ who }}符合“{{ title }}”的申报条件"
    "{% if benefit %}，{{ benefit }}{% elif summary %}。{{ summary }}{% endif %}"
    "{% if deadline %}，申报截止{{ deadline }}{% endif %}。申请表已根据政府掌握的信息预先填好，"
    "请核对后提交。"
)
MAYBE_INAPP = (
    "经评估，{{ who }}可能符合“{{ title }}”的申报条件，需补充信息：{{ missing }}。"
    "补充后系统将重新评估。"
)

_ENV = ImmutableSandboxedEnvironment(
    undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False
)

#: filters a template may use (pure string functions of Jinja2's defaults)
ALLOWED_FILTERS = frozenset({"default", "lower", "replace", "trim", "truncate", "upper"})
#: the syntax a template may use: output, text, names, constants, if, tests of values
_ALLOWED_NODES: tuple[type[nodes.Node], ...] = (
    nodes.Template,
    nodes.Output,
    nodes.TemplateData,
    nodes.Name,
    nodes.Const,
    nodes.If,
    nodes.CondExpr,
    nodes.And,
    nodes.Or,
    nodes.Not,
    nodes.Compare,
    nodes.Operand,
    nodes.Concat,
    nodes.Filter,
    nodes.Keyword,
)


class TemplateError(SubjectError):
    """A policy's `sms:` template does not compile, uses an unknown name, or uses
    syntax a message template may not."""


def chinese_date(d: dt.date, today: dt.date | None = None) -> str:
    """6月30日; with the year (2027年1月28日) when it is not the current year."""
    if today is not None and d.year != today.year:
        return f"{d.year}年{d.month}月{d.day}日"
    return f"{d.month}月{d.day}日"


def benefit_text(amount: float | None, summary: str | None = None) -> str:
    """'最高50万元' from an amount; else the summary if given; else ''."""
    if amount is not None and amount > 0:
        return f"最高{format_amount(amount)}"
    return summary or ""


@dataclass(frozen=True)
class MessageContext:
    name: str
    who: str  # 您 / 贵企业
    title: str
    benefit: str
    deadline: str
    link: str
    missing: str = ""
    summary: str = ""  # the policy's benefit summary: in-app only (too long for an SMS)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def context_names() -> list[str]:
    return [f.name for f in dataclasses.fields(MessageContext)]


def check_template(source: str) -> None:
    """Refuse a template that does anything but show the context's names."""
    try:
        tree = _ENV.parse(source)
    except jinja2.TemplateSyntaxError as err:
        raise TemplateError(f"sms template: {err.message} (line {err.lineno})") from None
    names = context_names()
    for node in tree.find_all(nodes.Node):
        if not isinstance(node, _ALLOWED_NODES):
            raise TemplateError(
                f"sms template: {type(node).__name__.lower()} is not allowed (line "
                f"{node.lineno}); a template may show only {', '.join(names)}"
            )
        if isinstance(node, nodes.Name) and (node.ctx != "load" or node.name not in names):
            hint = did_you_mean(node.name, names)
            raise TemplateError(
                f"sms template: '{node.name}' is undefined" + (f" ({hint})" if hint else "")
            )
        if isinstance(node, nodes.Filter) and node.name not in ALLOWED_FILTERS:
            raise TemplateError(
                f"sms template: filter '{node.name}' is not allowed (line {node.lineno}); "
                f"allowed: {', '.join(sorted(ALLOWED_FILTERS))}"
            )


@functools.lru_cache(maxsize=256)
def compile_template(source: str) -> jinja2.Template:
    """Check, then compile in the sandbox (compiled once per source text)."""
    check_template(source)
    try:
        return _ENV.from_string(source)
    except jinja2.TemplateSyntaxError as err:
        raise TemplateError(f"sms template: {err.message} (line {err.lineno})") from None


def render(template: jinja2.Template, ctx: MessageContext) -> str:
    try:
        return " ".join(template.render(**ctx.as_dict()).split())
    except jinja2.exceptions.SecurityError as err:
        raise TemplateError(f"sms template: refused by the sandbox: {err}") from None
    except jinja2.UndefinedError as err:
        name = (err.message or "").split("'")[1] if "'" in (err.message or "") else ""
        hint = did_you_mean(name, list(ctx.as_dict())) if name else None
        raise TemplateError(
            f"sms template: {err.message}" + (f" ({hint})" if hint else "")
        ) from None


@dataclass(frozen=True)
class SmsText:
    text: str
    segments: int


#: most segments an SMS may take: a longer one has its recipient's name shortened
SEGMENT_BUDGET = 2
#: a shortened name keeps at least this many characters (then "…")
MIN_NAME_CHARS = 4
ELLIPSIS = "…"


def sms_text(
    ctx: MessageContext, signature: str, hint: str, policy_template: str | None = None
) -> SmsText:
    """The SMS for this context, within SEGMENT_BUDGET segments when shortening the name
    can do it: the longest prefix of the name (at least MIN_NAME_CHARS, then "…") that
    fits. A template too long even so keeps the shortest name and its segment count."""
    text = _sms(ctx, signature, hint, policy_template)
    count = segments(text)
    if count <= SEGMENT_BUDGET or len(ctx.name) <= MIN_NAME_CHARS:
        return SmsText(text, count)
    lo, hi = MIN_NAME_CHARS, len(ctx.name) - 1  # segments grow with the prefix length
    best = _sms(
        dataclasses.replace(ctx, name=ctx.name[:lo] + ELLIPSIS), signature, hint, policy_template
    )
    while lo <= hi:
        mid = (lo + hi) // 2
        candidate = _sms(
            dataclasses.replace(ctx, name=ctx.name[:mid] + ELLIPSIS),
            signature,
            hint,
            policy_template,
        )
        if segments(candidate) <= SEGMENT_BUDGET:
            best, lo = candidate, mid + 1
        else:
            hi = mid - 1
    return SmsText(best, segments(best))


def _sms(ctx: MessageContext, signature: str, hint: str, policy_template: str | None) -> str:
    body = _fast_body(ctx, policy_template)
    if body is None:
        body = render(compile_template(policy_template or DEFAULT_SMS), ctx)
    return compose(body, signature, hint)


_NAME_MARK, _LINK_MARK = "\x01name\x01", "\x01link\x01"
_PLAIN_USE = re.compile(r"\{\{\s*(name|link)\s*\}\}")
_ANY_USE = re.compile(r"\b(name|link)\b")


@functools.lru_cache(maxsize=256)
def _verbatim(source: str) -> bool:
    """True when the template uses `name` and `link` only as plain {{ name }} / {{ link }}."""
    return not _ANY_USE.search(_PLAIN_USE.sub("", source))


def _fast_body(ctx: MessageContext, policy_template: str | None) -> str | None:
    """The body rendered once per policy context, with the name and link put in by plain
    substitution; None when that might differ from a full render: a template that uses
    `name` or `link` other than as a plain `{{ name }}` / `{{ link }}`, or values with
    whitespace the render would normalise."""
    source = policy_template or DEFAULT_SMS
    name, link = ctx.name, ctx.link
    if not _verbatim(source) or " ".join(name.split()) != name or link.split() != [link]:
        return None
    shape = _body_shape(
        source, ctx.who, ctx.title, ctx.benefit, ctx.deadline, ctx.missing, ctx.summary
    )
    return shape.replace(_NAME_MARK, name).replace(_LINK_MARK, link)


@functools.lru_cache(maxsize=4096)
def _body_shape(
    source: str, who: str, title: str, benefit: str, deadline: str, missing: str, summary: str
) -> str:
    ctx = MessageContext(_NAME_MARK, who, title, benefit, deadline, _LINK_MARK, missing, summary)
    return render(compile_template(source), ctx)


#: a digest: one SMS for several policies, linking to the recipient's policy page
DIGEST_SMS = "{{ name }}：{{ title }}。查看：{{ link }}"


def digest_summary(count: int, amounts: list[float], nearest: str) -> str:
    """「您有3项政策可申报，合计最高62万元，最早6月30日截止」: `amounts` those of the
    policies that have one (fewer than `count`: 「其中2项合计…」; none: no total),
    `nearest` the earliest deadline as people read it ('' : none)."""
    parts = [f"您有{count}项政策可申报"]
    total = sum(a for a in amounts if a > 0)
    if total > 0:
        some = sum(1 for a in amounts if a > 0)
        share = "" if some == count else f"其中{some}项"
        parts.append(f"{share}合计最高{format_amount(total)}")
    if nearest:
        parts.append(f"最早{nearest}截止")
    return "，".join(parts)


def digest_text(name: str, summary: str, link: str, signature: str, hint: str) -> SmsText:
    """The digest SMS, within SEGMENT_BUDGET segments (the name shortened as `sms_text`
    does)."""
    ctx = MessageContext(name=name, who="您", title=summary, benefit="", deadline="", link=link)
    return sms_text(ctx, signature, hint, DIGEST_SMS)


def inapp_text(ctx: MessageContext, maybe: bool = False) -> tuple[str, str]:
    """(title, body) of an in-app message. They name neither the recipient nor the link,
    so they are rendered once per distinct policy context, not once per profile."""
    return _inapp_text(
        ctx.who, ctx.title, ctx.benefit, ctx.deadline, ctx.missing, ctx.summary, maybe
    )


@functools.lru_cache(maxsize=4096)
def _inapp_text(
    who: str, title: str, benefit: str, deadline: str, missing: str, summary: str, maybe: bool
) -> tuple[str, str]:
    ctx = MessageContext("", who, title, benefit, deadline, "", missing, summary)
    title = render(compile_template(MAYBE_INAPP_TITLE if maybe else DEFAULT_INAPP_TITLE), ctx)
    body = render(compile_template(MAYBE_INAPP if maybe else DEFAULT_INAPP), ctx)
    return title, body
