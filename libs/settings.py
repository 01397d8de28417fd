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
    gateway_host: str = Field(default="127.0.0.1", description="Listen address of the gateway.")
    api_port: int = 8001
    api_host: str = Field(default="127.0.0.1", description="Address the query API binds to.")
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
    build_slot_dir: Path | None = Field(
        default=None, description="Lock files of the per-host build limit; default a temp dir."
    )
    clone_timeout_s: float = 600.0
    max_source_bytes: int = 1024 * 1024 * 1024
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
    reconcile_interval_s: float = Field(
        default=5.0, description="Docker reconciler and retention pass interval (deploy)."
    )
    caddy_check_interval_s: float = 1.0

    # Routing (§7).
    routes_dir: Path | None = Field(
        default=None, description="Route files Caddy reads per request; default data_dir/routes."
    )
    route_confirm_timeout_s: float = Field(
        default=60.0, description="How long RouteTrafficJob waits for Caddy to serve its route."
    )
    route_hold_after_claim_s: float = Field(
        default=0.0, description="Test hook: RouteTrafficJob sleeps this long after its claim."
    )

    # Gateway limits.
    max_webhook_bytes: int = 5 * 1024 * 1024
    max_image_upload_bytes: int = 1024 * 1024 * 1024
    max_static_bundle_bytes: int = 500 * 1024 * 1024
    max_archive_files: int = 100_000
    max_archive_expanded_bytes: int = 2 * 1024 * 1024 * 1024

    # Projector and query API (§8).
    projector_batch_size: int = Field(
        default=500, description="Events per fetch (and transaction) of the live consumer."
    )
    projector_catch_up_batch: int = Field(
        default=2000, description="Events per transaction when catching up or rebuilding."
    )
    projector_fetch_wait_s: float = Field(
        default=1.0, description="Long-poll of an idle consumer fetch (lock checks between)."
    )
    projector_standby_poll_s: float = Field(
        default=1.0, description="How often a standby projector tries to take the lock."
    )
    projector_lag_log_s: float = Field(default=10.0, description="Lag log line interval.")
    min_seq_wait_s: float = Field(
        default=2.0, description="Read-your-writes wait for the checkpoint before a direct fold."
    )
    log_level: str = "INFO"

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

    # Compose.
    docker_network: str | None = Field(
        default=None,
        description="App containers join this Docker network (compose); else 127.0.0.1 ports.",
    )

    def base_image(self, preset: str) -> str | None:
        """SLIPWAY_BASE_IMAGE_<PRESET>: read live so tests can point presets at local images."""
        import os

        return os.environ.get(f"SLIPWAY_BASE_IMAGE_{preset.upper()}")

    @property
    def static_dir(self) -> Path:
        return self.static_root or (self.data_dir / "static")

    @property
    def route_files_dir(self) -> Path:
        return (self.routes_dir or (self.data_dir / "routes")).absolute()
