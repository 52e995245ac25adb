"""Settings, read once from ``SIKA_*`` environment variables (see the README's table)."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SIKA_", extra="ignore")

    database_url: str = "sqlite:///./sika.db"
    redis_url: str | None = None
    whatsapp_verify_token: str | None = None
    whatsapp_app_secret: str | None = None
    whatsapp_token: str | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_api_url: str = "https://graph.facebook.com/v21.0"

    # Database connections held by one process; the group-commit writer uses one of them.
    db_pool_size: int = Field(default=10, ge=1, le=200)
    # How long a SQLite writer waits for the lock before giving up.
    sqlite_busy_timeout_ms: int = Field(default=10_000, ge=0, le=600_000)
    # Largest group one commit carries when concurrent requests share it.
    ledger_group_max: int = Field(default=8_190, ge=1, le=65_536)
    # How often the background worker releases pending transfers whose timeout has passed.
    ledger_expiry_interval_s: float = Field(default=1.0, gt=0, le=3_600)


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings()
