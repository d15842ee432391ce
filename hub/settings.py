"""The one settings object, read once from the environment (see the table in README.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SEVA_", frozen=True, extra="ignore")

    database_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "SEVA_DATABASE_URL"),
        description="PostgreSQL DSN; unset = a private cluster under data_dir (embedded default)",
    )
    redis_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "SEVA_REDIS_URL")
    )
    ray_address: str | None = Field(
        default=None,
        validation_alias=AliasChoices("RAY_ADDRESS", "SEVA_RAY_ADDRESS"),
        description="Ray cluster to join; unset = start Ray locally",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    data_dir: Path = Path(".seva")
    shards: int = Field(default_factory=lambda: os.cpu_count() or 2, ge=1, le=1024)
    wallet_shards: int | None = Field(default=None, ge=1, le=1024)
    ray_namespace: str = "seva"
    max_batch: int = Field(default=512, ge=1, le=10_000)
    db_pool_size: int = Field(default=10, ge=1, le=500)
    jwt_secret: SecretStr | None = Field(
        default=None, description="HS256 signing key (kid 'k1'); unset = random per process"
    )
    jwt_keys: dict[str, SecretStr] | None = Field(
        default=None, description='JSON {"kid": "secret", ...}; overrides jwt_secret'
    )
    jwt_active_kid: str | None = None
    secret_key: SecretStr | None = Field(
        default=None,
        description="base64 of 32 bytes: encrypts gateway secrets at rest (AES-256-GCM); unset = "
        "kept in data_dir/secret-key on the embedded default, refused with DATABASE_URL",
    )
    refresh_token_ttl_secs: int = Field(default=30 * 86_400, ge=60)
    login_max_failures: int = Field(default=5, ge=1)
    login_window_secs: int = Field(default=900, ge=1)
    trust_forwarded_for: bool = False
    session_check_secs: float = Field(default=5.0, gt=0)
    access_token_ttl_secs: int = Field(default=900, ge=30, le=86_400)
    socket_events_per_sec: float = Field(default=50.0, gt=0)
    socket_burst: int = Field(default=100, ge=1)
    max_socket_payload_bytes: int = Field(default=65_536, ge=1024)
    reconcile_every_secs: float = Field(default=30.0, gt=0)
    reconcile_after_secs: float = Field(default=120.0, ge=0)
    log_level: str = "INFO"
    demo: bool = False
    # Cross-hub Socket.IO rooms through Redis (REDIS_URL); see hub/redis_manager.py.
    redis_channel: str = Field(default="seva-socketio", min_length=1)
    redis_buffer_max: int = Field(default=10_000, ge=1)
    redis_retry_max_secs: float = Field(default=5.0, gt=0)
    redis_health_check_secs: float = Field(default=5.0, gt=0)
    redis_max_connections: int = Field(default=16, ge=1, le=1_000)
    # Limits and abuse (hub/limits.py, hub/cors.py; README "Limits").
    socket_user_events_per_sec: float | None = Field(
        default=None, gt=0, description="per-user event rate; unset = 2 x socket_events_per_sec"
    )
    socket_user_burst: int | None = Field(
        default=None, ge=1, description="per-user burst; unset = 2 x socket_burst"
    )
    socket_max_subscriptions: int = Field(default=50, ge=1)
    socket_max_connections_per_ip: int = Field(default=1_000, ge=1)
    socket_ping_interval_secs: float = Field(default=25.0, gt=0)
    socket_ping_timeout_secs: float = Field(default=30.0, gt=0)
    cors_allowed_origins: list[str] | None = Field(
        default=None,
        description='JSON list of browser origins, ["*"] = any; unset = same origin only '
        "(plus http(s)://localhost|127.0.0.1|[::1]:<any port> on the embedded default)",
    )
    uvloop: bool = Field(default=True, description="seva serve runs on uvloop when installed")
    # Slow consumers of availability deltas (hub/broadcast.py; README "Slow consumers").
    socket_send_queue_max: int = Field(
        default=64, ge=1, description="packets waiting for one connection before it is behind"
    )
    socket_behind_resync_secs: float = Field(
        default=5.0, gt=0, description="how long a connection may stay behind before resync"
    )
    # Stream recovery and live streams (README "Live status, streams and notifications").
    stream_retention_secs: float = Field(
        default=86_400.0, gt=0, description="how long events stay replayable by since"
    )
    retention_prune_every_secs: float = Field(default=60.0, gt=0)
    viewer_tick_secs: float = Field(
        default=1.0, gt=0, description="at most one stream:viewers per stream per tick"
    )
    # Files: booking reports in S3 or, without a bucket, a local directory (README "Files").
    s3_bucket: str | None = Field(
        default=None, description="S3 bucket of uploaded files; unset = the local file store"
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="S3 API endpoint (MinIO, moto); unset = AWS for the region"
    )
    s3_region: str = "ap-south-1"
    s3_access_key_id: SecretStr | None = Field(
        default=None, description="unset = botocore's own chain (environment, instance role)"
    )
    s3_secret_access_key: SecretStr | None = None
    files_dir: Path | None = Field(
        default=None, description="local file store's directory; unset = data_dir/files"
    )
    files_public_url: str | None = Field(
        default=None,
        description="base URL of the local file store's signed links; unset = http://host:port",
    )
    files_upload_expiry_secs: int = Field(default=900, ge=60, le=7 * 86_400)
    files_download_expiry_secs: int = Field(default=300, ge=30, le=7 * 86_400)
    files_max_bytes: dict[str, int] = Field(
        default_factory=lambda: {
            "image/jpeg": 25 * 1024 * 1024,
            "image/png": 25 * 1024 * 1024,
            "video/mp4": 500 * 1024 * 1024,
            "application/pdf": 50 * 1024 * 1024,
        },
        description="allowed content types of uploads, each with its size limit in bytes",
    )
    # Notification channels (protocols/channels; README "Channels"). A channel is built only
    # when its settings are given: email with smtp_host and smtp_from, sms with msg91_auth_key,
    # whatsapp with whatsapp_token and whatsapp_phone_number_id.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: Literal["starttls", "implicit", "none"] = Field(
        default="starttls", description="starttls (587), implicit TLS (465), none (local only)"
    )
    smtp_from: str | None = Field(
        default=None, description='From header, e.g. "Seva Hub <noreply@example.in>"'
    )
    msg91_base_url: str = "https://control.msg91.com"
    msg91_auth_key: SecretStr | None = None
    msg91_sender_id: str | None = Field(
        default=None, description="DLT header overriding the templates' own (6 capitals)"
    )
    whatsapp_base_url: str = "https://graph.facebook.com/v21.0"
    whatsapp_token: SecretStr | None = None
    whatsapp_phone_number_id: str | None = None
    channel_timeout_secs: float = Field(
        default=10.0, gt=0, description="per-message deadline of each channel request"
    )
    # Deliveries over email/SMS/WhatsApp (README "Deliveries").
    delivery_max_attempts: int = Field(default=6, ge=1, description="then the delivery is dead")
    delivery_backoff_base_secs: float = Field(
        default=5.0, gt=0, description="first retry after ~this, doubling per attempt (jittered)"
    )
    delivery_backoff_max_secs: float = Field(default=1800.0, gt=0)
    delivery_lease_secs: float = Field(
        default=60.0, gt=0, description="a claimed delivery whose sender died is retried after"
    )
    delivery_poll_secs: float = Field(default=1.0, gt=0)
    # Scheduled messages (reminders; README "Reminders and rescheduling").
    reminder_poll_secs: float = Field(
        default=5.0, gt=0, description="longest sleep of each hub's reminder loop between rounds"
    )

    # Devotional platform (README "Devotional platform"): waiting-list offers and pandit
    # earnings, each a loop in every hub.
    waitlist_offer_ttl_secs: int = Field(
        default=900, ge=1, description="life of the hold offered to the first waiter"
    )
    waitlist_poll_secs: float = Field(
        default=1.0, gt=0, description="how often freed places are offered to waiters"
    )
    earnings_poll_secs: float = Field(
        default=2.0, gt=0, description="how often completed bookings are credited to pandits"
    )

    # Study library platform (README "Study library platform"): attendance scans.
    library_late_after_secs: int = Field(
        default=900, ge=0, description="a check-in this long after the booking's start is late"
    )
    library_check_in_early_secs: int = Field(
        default=3600, ge=0, description="how long before its start a booking may be checked in"
    )
    attendance_qr_ttl_secs: int = Field(
        default=60, ge=5, le=3600, description="life of a student's attendance QR token"
    )
    # Padel platform (README "Padel platform"): the split-payment sweeper.
    split_sweep_secs: float = Field(
        default=2.0, gt=0, description="how often expired or half-done split payments are settled"
    )
    # Observability (README "Observability").
    log_format: Literal["json", "text"] = Field(
        default="json", description="seva serve's log lines: masked JSON, or text for a terminal"
    )
    shard_resource: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$",
        description="a Ray custom resource only the shard nodes advertise (ray start "
        "--resources); shard actors then never land on a hub's own Ray node",
    )
    readyz_require_redis: bool = Field(
        default=False,
        description="a Redis outage makes /readyz 503 (default: 200 'degraded', since every hub "
        "shares Redis and keeps serving without it)",
    )

    def signing_keys(self) -> dict[str, str] | None:
        if self.jwt_keys:
            return {kid: key.get_secret_value() for kid, key in self.jwt_keys.items()}
        if self.jwt_secret:
            return {"k1": self.jwt_secret.get_secret_value()}
        return None
