"""All configuration in one settings object (pydantic-settings, env prefix ZHIDA_)."""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from zhida.errors import ConfigError

SmsProviderName = Literal["file", "twilio", "aliyun"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZHIDA_", extra="ignore")

    # embedded default: a SQLite file under ./var; production: postgresql+psycopg://...
    database_url: str = "sqlite:///var/zhida.db"
    # empty: Celery tasks run in-process (eager); production: redis://127.0.0.1:6379/0
    redis_url: str = ""
    var_dir: Path = Path("var")
    # re-evaluation runs
    chunk_size: Annotated[int, Field(ge=1)] = 50_000
    # an unacknowledged task is redelivered after
    broker_visibility_timeout: Annotated[float, Field(gt=0)] = 3600.0
    # a run without progress this long gets its chunks re-queued
    stall_minutes: Annotated[float, Field(gt=0)] = 15.0
    plan_after_run: bool = True  # a finished run queues notification planning
    chunk_delay: float = 0.0  # tests only: seconds inside a chunk's transaction (crash window)
    # publishing: an approver other than the author is required unless this is set (demo only)
    allow_self_approval: bool = False

    # notifications (DESIGN.md "Notifications"); hours in Asia/Shanghai
    base_url: str = "http://127.0.0.1:8000"
    sms_signature: str = "【浙里办】"
    sms_opt_out_hint: str = "回TD退订"
    quiet_start_hour: Annotated[int, Field(ge=0, le=23)] = 20  # no SMS from 20:00 ...
    quiet_end_hour: Annotated[int, Field(ge=0, le=23)] = 8  # ... to 08:00: deferred to the morning
    sms_cap: Annotated[int, Field(ge=0)] = 2  # at most this many policy SMS per recipient ...
    sms_cap_days: Annotated[int, Field(ge=1)] = 7  # ... per this many days; the rest go in-app only
    # digests: the SMS planned for one recipient within this many minutes of the first go
    # out as one message, when the first falls due (0: only those of one planning pass;
    # sms_digests off: one SMS per policy, each at once, as the cap allows)
    sms_digests: bool = True
    digest_minutes: Annotated[float, Field(ge=0)] = 60.0
    # notify when the window opens within this many days
    window_lead_days: Annotated[int, Field(ge=0)] = 7
    inapp_for_unknown: bool = True  # "可能符合，需补充信息" in-app message for unknown outcomes
    # /me asks 已申请/不感兴趣/… about a policy this many days after its first notice
    followup_days: Annotated[int, Field(ge=0)] = 3
    # application links expire when the window closes, or after this
    link_ttl_days: Annotated[int, Field(ge=1)] = 30
    # SMS delivery
    sms_provider: SmsProviderName = "file"
    sms_outbox: Path = Path("var/outbox/sms.jsonl")
    sms_echo: bool = True  # the file sink also prints a short line per SMS
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from: str = ""
    twilio_base_url: str = ""  # empty: api.twilio.com; tests: a local Twilio-compatible server
    # Alibaba Cloud SMS: one approved template whose variable carries the text
    aliyun_access_key_id: str = ""
    aliyun_access_key_secret: str = ""
    aliyun_sign_name: str = "浙里办"
    aliyun_template_code: str = ""
    aliyun_template_param: str = "content"
    aliyun_endpoint: str = ""  # empty: dysmsapi.aliyuncs.com; tests: http://127.0.0.1:PORT
    # the secret in the receipt push URL configured at Aliyun (/webhooks/aliyun/report/SECRET)
    aliyun_report_token: str = ""
    # a second provider (empty: none): takes traffic while the first keeps failing
    sms_fallback_provider: SmsProviderName | Literal[""] = ""
    # failover: the first provider's error rate over this window (seconds) ...
    failover_window_seconds: Annotated[float, Field(gt=0)] = 60.0
    # ... above this rate, with at least failover_min_calls calls, moves traffic away ...
    failover_error_rate: Annotated[float, Field(gt=0, le=1)] = 0.5
    failover_min_calls: Annotated[int, Field(ge=1)] = 10
    # ... failover_step of it per failover_step_seconds; it drifts back as fast when healthy
    failover_step: Annotated[float, Field(gt=0, le=1)] = 0.25
    failover_step_seconds: Annotated[float, Field(gt=0)] = 10.0
    # across all workers (Redis token bucket)
    sms_rate_per_second: Annotated[float, Field(gt=0)] = 50.0
    send_max_retries: Annotated[int, Field(ge=0)] = 5
    send_backoff_seconds: Annotated[float, Field(ge=0)] = 2.0  # exponential, with jitter
    # re-queue rows stuck before sending this long; rows stuck in sending become unsure
    sweep_after_seconds: Annotated[int, Field(ge=0)] = 300
    # a provider request unanswered this long is given up on (and the row is unsure)
    sms_timeout_seconds: Annotated[float, Field(gt=0)] = 10.0
    # an unsure row (outcome unknown) is looked up at the provider after this long
    unsure_check_seconds: Annotated[float, Field(ge=0)] = 60.0
    # the sender's PostgreSQL pool (a threaded worker's concurrency)
    sms_db_pool: Annotated[int, Field(ge=1)] = 16
    # web: signs sessions and CSRF tokens. Unset: the file var_dir/secret_key if there is
    # one (the demo writes it), else the public development value, which `zhida serve`
    # accepts only on a loopback http base URL (`require_real_secret`)
    secret_key: str = ""

    @property
    def eager(self) -> bool:
        return not self.redis_url

    @model_validator(mode="after")
    def _resolve_secret(self) -> Settings:
        if not self.secret_key:
            file = self.var_dir / SECRET_FILE
            stored = file.read_text(encoding="utf-8").strip() if file.is_file() else ""
            self.secret_key = stored or DEV_SECRET
        return self


DEV_SECRET = "dev-only-change-me"
SECRET_FILE = "secret_key"
MIN_SECRET_CHARS = 32
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def is_loopback(base_url: str) -> bool:
    """An http URL on this machine only (the demo), where no one else can reach a cookie."""
    url = urlsplit(base_url)
    return url.scheme == "http" and (url.hostname or "") in LOOPBACK_HOSTS


def require_real_secret(settings: Settings) -> None:
    """Refuse to serve anything but the loopback demo with the public development secret
    (or a short one): with it anyone can forge a session cookie and read any inbox."""
    if is_loopback(settings.base_url):
        return
    if settings.secret_key == DEV_SECRET or len(settings.secret_key) < MIN_SECRET_CHARS:
        raise ConfigError(
            f"ZHIDA_SECRET_KEY is not set (or shorter than {MIN_SECRET_CHARS} "
            f"characters): refusing to serve {settings.base_url} with it, since anyone could "
            "forge a session; set it to a long random value, for example the output of "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )


def write_demo_secret(var_dir: Path) -> Path:
    """A random secret in var_dir/secret_key (kept if there is one), readable by its
    owner only; Settings read it when ZHIDA_SECRET_KEY is unset."""
    file = var_dir / SECRET_FILE
    if not file.is_file() or not file.read_text(encoding="utf-8").strip():
        var_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
    return file


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings from the environment; a bad value is a ConfigError naming it."""
    try:
        return Settings()
    except ValidationError as err:
        problems = "; ".join(
            f"ZHIDA_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in err.errors()
        )
        raise ConfigError(f"bad configuration: {problems}") from None
