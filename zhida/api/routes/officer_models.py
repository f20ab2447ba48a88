"""Request and response models of `/api/officer/` (what `/api/openapi.json` documents)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

MAX_YAML = 200_000  # characters: a policy is a few hundred lines


class CheckIn(BaseModel):
    yaml: str = Field(max_length=MAX_YAML, description="The policy text.")
    schema_: str | None = Field(
        None,
        alias="schema",
        max_length=MAX_YAML,
        description="The pack's schema.yaml text (extra profile fields), if any.",
    )


class DiagnosticOut(BaseModel):
    line: int
    col: int
    message: str
    severity: str = "error"
    hint: str | None = None


class TestsOut(BaseModel):
    passed: int
    failed: int


class CheckOut(BaseModel):
    ok: bool
    diagnostics: list[DiagnosticOut]
    tests: TestsOut
    policy: str | None = None
    audience: str | None = None


class FieldOut(BaseModel):
    name: str
    type: str
    label: str
    unit: str | None = None


class FunctionOut(BaseModel):
    name: str
    min_args: int
    max_args: int | None


class VocabularyOut(BaseModel):
    keys: dict[str, list[str]]
    fields: dict[str, list[FieldOut]]
    functions: list[FunctionOut]


class SubmitIn(CheckIn):
    pass


class SubmitOut(BaseModel):
    policy: str
    version: int
    status: str


class WindowOut(BaseModel):
    opens: str | None
    closes: str | None


class VersionOut(BaseModel):
    policy: str
    version: int
    version_id: int
    status: str
    title: str
    audience: str
    author: str | None
    approver: str | None
    created_at: str | None
    published_at: str | None
    review_comment: str | None


class VersionDetailOut(VersionOut):
    yaml: str
    schema_: str = Field(alias="schema")
    window: WindowOut

    model_config = {"populate_by_name": True}


class PolicyRowOut(VersionOut):
    window: WindowOut
    tags: list[str] = Field(default_factory=list, description="The policy's `tags:`.")
    published_version: int | None
    latest_version: int
    drafts: int
    eligible: int
    unknown: int
    reached: int
    applied: int
    granted: int


class DiffRowOut(BaseModel):
    op: str
    left_no: int | None
    left: str | None
    right_no: int | None
    right: str | None


class DiffOut(BaseModel):
    policy: str
    version: int
    base_version: int | None
    unified: str
    rows: list[DiffRowOut]
    schema_diff: str


class SampleOut(BaseModel):
    profile: str
    change: str
    explanation: str


class ForecastOut(BaseModel):
    budget: float = Field(description="The policy's `budget:`, CNY.")
    spend: float = Field(description="Sum of the benefits of the newly eligible, CNY.")
    eligible_spend: float = Field(description="Sum of the benefits of every eligible, CNY.")
    share: float = Field(description="spend / budget.")
    eligible_share: float = Field(description="eligible_spend / budget.")
    over_budget: bool = Field(description="eligible_spend exceeds the budget.")
    unpriced: int = Field(description="Newly eligible whose amount is unknown (counted 0).")
    budget_text: str
    spend_text: str
    eligible_spend_text: str


class ImpactOut(BaseModel):
    policy: str
    as_of: str
    profiles: int
    newly_eligible: int
    no_longer_eligible: int
    newly_unknown: int
    unchanged: int
    outcomes: dict[str, int]
    by_city: dict[str, dict[str, int]]
    by_industry: dict[str, dict[str, int]]
    samples: list[SampleOut]
    seconds: float
    forecast: ForecastOut | None = Field(
        None, description="With the policy's `budget:`: the forecast spend against it."
    )


class PreviewIn(CheckIn):
    as_of: str | None = Field(None, description="Evaluation date YYYY-MM-DD (default today).")


class ReviewIn(BaseModel):
    comment: str = Field("", max_length=4000)


class RejectIn(BaseModel):
    comment: str = Field(min_length=1, max_length=4000)


class ApproveOut(BaseModel):
    status: str
    run: int | None
    impact: ImpactOut


class RejectOut(BaseModel):
    status: str


class RunOut(BaseModel):
    id: int
    trigger: str
    status: str
    kind: str
    policy_version_ids: list[int]
    as_of: str
    chunks_done: int
    chunks_total: int
    counts: dict[str, int]
    error: str | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None


class GroupResultsOut(BaseModel):
    eligible: int
    reached: int
    opened: int
    applied: int
    granted: int


class ResultsOut(BaseModel):
    policy: str
    eligible: int
    reached: int
    opened: int
    applied: int
    granted: int
    reach_rate: float | None = Field(description="知晓覆盖率: reached / eligible.")
    apply_rate: float | None = Field(description="申报率: applied / eligible.")
    grant_rate: float | None = Field(description="兑现率: granted / eligible.")
    published_at: str | None
    hours_to_first_application: float | None
    hours_to_first_grant: float | None
    by_city: dict[str, GroupResultsOut]
    by_industry: dict[str, GroupResultsOut]
    holdout: dict[str, Any] | None


class FoundOut(BaseModel):
    id: str
    kind: str
    name: str | None
    uscc: str | None
    matched_by: str
    score: float


class DecisionOut(BaseModel):
    policy: str
    version: int
    title: str
    outcome: str
    stored: bool
    benefit: float | None
    score: float | None
    unknown: list[str]
    updated_at: str | None


class ProfileOut(BaseModel):
    id: str
    kind: str
    data: dict[str, Any]
    decisions: list[DecisionOut]


class ExplainOut(BaseModel):
    profile: str
    policy: str
    version: int
    as_of: str
    outcome: str
    failed: list[str]
    unknown: list[str]
    lines: list[str]
    text: str


class AuditOut(BaseModel):
    id: int
    at: str
    officer: str | None
    action: str
    subject: str
    detail: dict[str, Any]


class OfficerOut(BaseModel):
    name: str
    role: str
    active: bool
    has_password: bool
    token_expires_at: str | None


class OfficerIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: str
    password: str | None = Field(None, max_length=200)
    token_days: int | None = Field(None, ge=1, le=3650)


class OfficerCreatedOut(OfficerOut):
    token: str = Field(description="The bearer token, shown once (stored hashed).")


class OfficerChangeIn(BaseModel):
    role: str | None = None
    active: bool | None = None
    password: str | None = Field(None, max_length=200)


class TokenIn(BaseModel):
    days: int | None = Field(None, ge=1, le=3650)


class TokenOut(BaseModel):
    token: str
    expires_at: str | None


class MeOut(BaseModel):
    name: str
    role: str
    may_submit: bool
    may_approve: bool
    may_manage: bool
    csrf_token: str | None = None


class DisputeOut(BaseModel):
    id: int
    profile: str
    policy: str | None
    field: str
    comment: str
    status: str  # open | corrected | rejected
    created_at: str
    resolved_at: str | None
    resolved_by: str | None
    resolution: str


class DisputeResolveIn(BaseModel):
    corrected: str | float | bool | None = Field(
        None,
        description="The corrected value (applied, the profile re-evaluated); absent: reject.",
    )
    comment: str = Field("", max_length=1000, description="Why; required for a rejection.")


class DisputeResolvedOut(BaseModel):
    dispute: DisputeOut
    transitions: int = Field(description="Decisions the correction changed.")
