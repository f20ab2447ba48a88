"""All configuration in one settings object (pydantic-settings, env prefix ZHIDA_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZHIDA_", extra="ignore")

    # embedded default: a SQLite file under ./var; production: postgresql+psycopg://...
    database_url: str = "sqlite:///var/zhida.db"
    # empty: Celery tasks run in-process (eager); production: redis://127.0.0.1:6379/0
    redis_url: str = ""
    var_dir: Path = Path("var")
    # re-evaluation runs
    chunk_size: int = 50_000
    # publishing: an approver other than the author is required unless this is set (demo only)
    allow_self_approval: bool = False

    @property
    def eager(self) -> bool:
        return not self.redis_url


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
