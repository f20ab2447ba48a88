"""The console's words: Chinese names of roles, states, triggers, counts and actions,
and the formatting of money, rates and durations on its pages."""

from __future__ import annotations

from typing import Any

from zhida.matcher.explain import format_amount

ROLE_NAMES = {"author": "起草人", "approver": "审核人", "admin": "管理员"}
STATUS_NAMES = {"draft": "待审核", "published": "已发布", "retired": "已停用", "rejected": "已驳回"}
AUDIENCE_NAMES = {"enterprise": "企业", "citizen": "个人"}
RUN_STATUS_NAMES = {"pending": "排队中", "running": "进行中", "done": "已完成", "failed": "失败"}
TRIGGER_NAMES = {"publish": "政策发布", "import": "数据导入", "daily": "每日评估", "manual": "手动"}
COUNT_NAMES = {
    "profiles": "评估主体",
    "newly_eligible": "新增符合",
    "no_longer_eligible": "不再符合",
    "newly_unknown": "新增待补充",
    "no_longer_unknown": "不再待补充",
    "transitions": "判定变化",
}
OUTCOME_NAMES = {"eligible": "符合", "unknown": "待补充信息", "ineligible": "不符合"}
MATCH_NAMES = {"id": "编号", "uscc": "信用代码", "name": "名称相似度"}
ACTION_NAMES = {
    "policy.submit": "提交政策",
    "policy.publish": "批准发布",
    "policy.reject": "驳回",
    "run.start": "启动评估",
    "officer.add": "新增人员",
    "officer.role": "变更角色",
    "officer.password": "设置密码",
    "officer.disable": "停用人员",
    "officer.enable": "启用人员",
    "officer.token": "更换令牌",
    "officer.sign_in": "登录",
    "officer.sign_out": "退出",
    "officer.sign_in_refused": "登录失败",
    "officer.sign_in_throttled": "登录受限",
    "profile.search": "查询主体",
    "profile.view": "查看主体",
    "profile.explain": "查看判定解释",
    "dispute.corrected": "更正数据",
    "dispute.rejected": "驳回异议",
}

LABELS: dict[str, Any] = {
    "role_names": ROLE_NAMES,
    "status_names": STATUS_NAMES,
    "audience_names": AUDIENCE_NAMES,
    "run_status_names": RUN_STATUS_NAMES,
    "trigger_names": TRIGGER_NAMES,
    "count_names": COUNT_NAMES,
    "outcome_names": OUTCOME_NAMES,
    "match_names": MATCH_NAMES,
    "action_names": ACTION_NAMES,
    "dispute_status_names": {"open": "待处理", "corrected": "已更正", "rejected": "已驳回"},
}


def money(value: float | None) -> str:
    return "—" if value is None else format_amount(value)


def pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def spent_hours(hours: float | None) -> str:
    if hours is None:
        return "尚无"
    if hours < 48:
        return f"{hours:.1f} 小时"
    return f"{hours / 24:.1f} 天"
