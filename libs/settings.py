"""Settings (12-factor). Every duration of §5 and §7 is here so tests can run them short."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SLIPWAY_", extra="ignore")

    # Where and how to reach things.
    data_dir: Path = Field(default=Path(".slipway"), description="State of `slipway up`.")
    gateway_port: int = 8000
    api_port: int = 8001
    edge_port: int = 8080
    caddy_admin: str = "127.0.0.1:2019"
    nats_url: str | None = Field(default=None, description="External NATS; else embedded.")
    nats_port: int = 4222
    database_url: str | None = Field(
        default=None, validation_alias="DATABASE_URL", description="PostgreSQL; else SQLite."
    )
    base_domain: str = "localhost"
    admin_token: str | None = None
    secret_key: str | None = Field(default=None, description="Fernet key for the secrets KV.")
    allow_local_repos: bool = False
    build_ca_bundle: Path | None = None
    static_root: Path | None = Field(default=None, description="Static roots; default data_dir.")
    host: str = Field(default="127.0.0.1", description="Host the proxy reaches containers on.")

    # Job mechanism (§5).
    ack_wait_s: float = 10.0
    in_progress_every_s: float = 3.0
    lease_ttl_s: float = 30.0
    lease_refresh_s: float = 5.0
    lost_holder_nak_delay_s: float = 1.0
    cancel_poll_s: float = 0.25
    log_batch_s: float = 0.1
    log_batch_bytes: int = 64 * 1024
    job_slots: int = 4
    build_slots: int = 2
    build_timeout_s: float = 1800.0
    logs_retention_days: int = 90

    # Health (§7).
    health_fast_interval_s: float = 0.1
    health_fast_window_s: float = 10.0
    health_slow_interval_s: float = 2.0
    health_request_timeout_s: float = 5.0
    health_confirm_delay_s: float = 0.1
    health_5xx_limit_s: float = 60.0
    health_total_limit_s: float = 300.0

    # Teardown and retention (§7).
    drain_s: float = 10.0
    stop_grace_s: float = 10.0
    retention_keep: int = 10
    caddy_check_interval_s: float = 1.0

    # Gateway limits.
    max_webhook_bytes: int = 5 * 1024 * 1024
    max_image_upload_bytes: int = 1024 * 1024 * 1024
    max_static_bundle_bytes: int = 500 * 1024 * 1024
    max_archive_files: int = 100_000
    max_archive_expanded_bytes: int = 2 * 1024 * 1024 * 1024

    # Post-deploy.
    cron_tick_s: float = 60.0
    cron_lock_ttl_s: float = 30.0
    cron_minute_s: float = Field(
        default=60.0,
        description="Real seconds in one schedule minute. Only tests shorten it: at 1.0 a "
        "five-field schedule runs sixty times faster (`* * * * *` fires every second).",
    )
    cron_call_timeout_s: float = 60.0
    screenshot_timeout_s: float = 60.0
    scan_timeout_s: float = 600.0

    def base_image(self, preset: str) -> str | None:
        """SLIPWAY_BASE_IMAGE_<PRESET>: read live so tests can point presets at local images."""
        import os

        return os.environ.get(f"SLIPWAY_BASE_IMAGE_{preset.upper()}")

    @property
    def static_dir(self) -> Path:
        return self.static_root or (self.data_dir / "static")
