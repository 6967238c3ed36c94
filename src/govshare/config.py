"""Settings from the environment (GOVSHARE_*), one object for the whole process."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GOVSHARE_", extra="ignore")

    data_dir: Path = Field(Path("var"), description="where the SQLite file, search index and keys live")
    database_url: str = Field("", description="SQLAlchemy URL; empty means SQLite under data_dir")
    index_dir: Path | None = Field(None, description="search index folder; default data_dir/index")
    session_hours: int = Field(12, description="lifetime of a login session token")
    api_token_max_days: int = Field(
        365, ge=1, description="longest lifetime of a program (API) token; also the lifetime when none is asked"
    )
    host: str = "127.0.0.1"
    port: int = 8000

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'govshare.db'}"

    @property
    def resolved_index_dir(self) -> Path:
        return self.index_dir or self.data_dir / "index"


@lru_cache
def get_settings() -> Settings:
    return Settings()
