"""The one settings object, read once from the environment (see the table in README.md)."""

from __future__ import annotations

import os
from pathlib import Path

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

    def signing_keys(self) -> dict[str, str] | None:
        if self.jwt_keys:
            return {kid: key.get_secret_value() for kid, key in self.jwt_keys.items()}
        if self.jwt_secret:
            return {"k1": self.jwt_secret.get_secret_value()}
        return None
