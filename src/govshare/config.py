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
    # Login throttling (orgs.throttle): growing lockouts per username and per client address.
    login_account_failures: int = Field(
        5, ge=1, description="failed logins of one username (since its last success) before it is locked out"
    )
    login_address_failures: int = Field(
        20, ge=1, description="failed logins from one client address (any usernames) before it is locked out"
    )
    login_failure_window_minutes: int = Field(
        1440, ge=1, description="failed logins older than this are no longer counted"
    )
    login_lockout_seconds: int = Field(60, ge=1, description="the first lockout; each further failure doubles it")
    login_lockout_max_minutes: int = Field(30, ge=1, description="the longest lockout")
    login_attempt_retention_days: int = Field(
        180, ge=1, description="login attempts are kept this long, then pruned by `govshare worker`"
    )
    behind_proxy: bool = Field(
        False, description="the node is behind a reverse proxy: a client's address is the last X-Forwarded-For "
                           "entry (the one the proxy added); otherwise X-Forwarded-For is ignored"
    )
    api_token_max_days: int = Field(
        365, ge=1, description="longest lifetime of a program (API) token; also the lifetime when none is asked"
    )
    # Deadlines in working days (R05, R07, R08, R20): settings, never literals in code.
    reply_working_days: int = Field(10, ge=1, description="provider's reply to a conditional request (R07)")
    reminder_working_days: int = Field(2, ge=0, description="remind the provider this many working days before")
    negotiation_working_days: int = Field(5, ge=1, description="dispute step 1: negotiation (R08)")
    authority_working_days: int = Field(10, ge=1, description="dispute step 2: same-level authority (R08)")
    higher_authority_working_days: int = Field(15, ge=1, description="dispute step 3: higher authority (R08)")
    demand_working_days: int = Field(15, ge=1, description="an accepted demand is cataloged within (R20)")
    law_change_working_days: int = Field(15, ge=1, description="a change caused by new law is made within (R05)")
    objection_working_days: int = Field(5, ge=1, description="the provider verifies an objection within (R13)")
    objection_evidence_max_mb: int = Field(
        10, ge=1, le=100, description="largest evidence file an objection may carry (MB; PDF, JPEG or PNG)"
    )
    service_change_notice_days: int = Field(
        5, ge=0, description="working days between approving a service change and its effect (R11)"
    )
    default_rate_limit: int = Field(20, ge=1, description="calls per second of a grant unless the reply sets one")
    default_daily_quota: int = Field(100_000, ge=0, description="calls per day of a grant (0: no quota)")
    gateway_token_minutes: int = Field(15, ge=1, description="lifetime of a consumer system's access token")
    suspend_after_refusals: int = Field(
        5, ge=1, description="out-of-grant attempts (items or rows) that suspend a grant at once (R09)"
    )
    suspend_window_minutes: int = Field(10, ge=1, description="window in which those attempts are counted")
    audit_retention_days: int = Field(1096, ge=1, description="usage records are kept at least this long (R12)")
    work_hours: str = Field("08:00-18:00", description="office hours; access outside them on many calls is flagged")
    anomaly_off_hours_calls: int = Field(50, ge=1, description="calls outside office hours a day before a flag")
    anomaly_volume_factor: float = Field(5.0, gt=1, description="a day's calls above this times the usual: flag")
    anomaly_refusals: int = Field(10, ge=1, description="refused calls of a grant in a day before a flag")
    switch_interval_ms: float = Field(
        1.0, gt=0, le=100, description="how long a server thread may keep the GIL while another waits for it (ms)"
    )
    export_memory_limit: str = Field("512MB", description="DuckDB memory limit of one export (it spills to disk)")
    quality_interval_days: int = Field(
        7, ge=1, description="the worker runs an entry's quality rules again after this many days, or after its "
                             "source changed (R14)"
    )
    max_source_upload_mb: int | None = Field(
        None, ge=1, description="largest data file a provider may upload (MB); unset: 1024 (connect.MAX_UPLOAD_BYTES)"
    )
    max_grant_days: int = Field(1096, ge=1, description="longest period a request may ask for (3 years)")
    timezone: str = Field("Asia/Shanghai", description="the zone whose calendar days deadlines count")
    webhook_max_attempts: int = Field(12, ge=1, description="deliveries tried before an outbox message is dead")
    webhook_timeout_seconds: float = Field(5.0, gt=0)
    worker_interval_seconds: int = Field(60, ge=1, description="pause between two rounds of `govshare worker`")
    secret_key: str = Field(
        "", description="Fernet key that encrypts stored secrets (R18); empty: a key file under data_dir/keys"
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


def settings_of(session) -> Settings:
    """The settings of the node a session belongs to (see db.Database), else the environment's."""
    return session.info.get("settings") or get_settings()
