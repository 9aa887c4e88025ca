"""Configuration, read from ``CHOSO_*`` environment variables (and an optional ``.env``)."""

from __future__ import annotations

import secrets
from functools import cached_property, lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("var")
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHOSO_", env_file=".env", extra="ignore")

    data_dir: Path = Field(DEFAULT_DATA_DIR, description="Where embedded mode keeps its files.")
    database_url: str = Field("", description="SQLAlchemy URL; empty means a SQLite file in data_dir.")
    redis_url: str | None = Field(
        None, description="Broker and result backend for Celery; unset means embedded (in-process) jobs."
    )
    task_queue: str = Field("choso", description="Celery queue the app publishes to and workers consume.")
    secret_key: str = Field("", description="Signs CSRF tokens; empty means a key generated into data_dir.")
    totp_key: str = Field(
        "", description="Encrypts users' TOTP secrets; empty means derived from the secret key."
    )
    default_locale: str = "vi"
    timezone: str = "Asia/Ho_Chi_Minh"

    # --- sessions, tokens, cookies (see the README's security section) ------------------------
    session_days: int = Field(7, ge=1, description="Absolute lifetime of a buyer's or producer's login.")
    session_hours_staff: int = Field(12, ge=1, description="Absolute lifetime of an operator's or officer's.")
    session_idle_minutes: int = Field(720, ge=1, description="Idle timeout of buyers and producers.")
    session_idle_minutes_staff: int = Field(30, ge=1, description="Idle timeout of operators and officers.")
    api_token_days: int = Field(30, ge=1, description="Absolute lifetime of a buyer's or producer's token.")
    api_token_idle_days: int = Field(7, ge=1, description="Idle timeout of buyers' and producers' tokens.")
    reauth_minutes: int = Field(
        10, ge=1, description="Sensitive actions need the password re-entered within this many minutes."
    )
    cookie_secure: bool | None = Field(
        None,
        description="Secure, __Host- cookies; unset decides from CHOSO_PUBLIC_URL (on unless it is "
        "http on localhost) and from the request's own scheme.",
    )
    trusted_proxies: str = Field(
        "",
        description="Addresses (comma-separated IPs or CIDRs, or *) whose X-Forwarded-For/-Proto are "
        "believed; empty believes nobody.",
    )
    max_body_bytes: int = Field(1024 * 1024, ge=1024, description="Largest request body (413 beyond).")

    # --- rate limits ---------------------------------------------------------------------------
    login_max_failures: int = Field(
        5, ge=1, description="Failed logins per (account, client address) in the window; then it is locked."
    )
    login_max_failures_per_ip: int = Field(
        100, ge=1, description="Failed logins per client address (any accounts) in the window."
    )
    login_window_seconds: int = Field(900, ge=1)
    registration_max_per_ip: int = Field(
        20, ge=1, description="Registrations tried per address in the window."
    )
    registration_window_seconds: int = Field(3600, ge=1)
    password_hash_concurrency: int = Field(
        2, ge=1, description="Password hashes computed at once per process (argon2 uses 19 MiB each)."
    )
    password_hash_queue: int = Field(
        16, ge=0, description="Requests that may wait for a password hash; more are answered 503."
    )

    outbox_relay_seconds: float = Field(
        30, gt=0, description="How often jobs left in the outbox (broker down at commit) are published."
    )
    run_scheduler: bool = Field(True, description="Embedded mode: run periodic jobs inside the app process.")
    embedded_job_threads: int = Field(2, ge=1)
    outbox_lease_seconds: float = Field(
        600, gt=0, description="A relay's claim on outbox rows it is publishing; then others may take them."
    )

    stripe_secret_key: str = ""
    stripe_publishable_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_api_base: str = Field("", description="Empty means Stripe itself; set it for a sandbox server.")
    stripe_js_url: str = Field(
        "", description="Stripe.js for the card form; empty: Stripe's, or the sandbox server's stand-in."
    )
    stripe_webhook_tolerance_seconds: int = Field(300, ge=1, description="Oldest Stripe event accepted (s).")
    stripe_timeout_seconds: float = Field(20, gt=0, description="Timeout of one call to Stripe.")
    stripe_max_network_retries: int = Field(
        2, ge=0, le=5, description="Retries of a call to Stripe that got no answer (same idempotency key)."
    )
    refund_retry_seconds: float = Field(
        30, gt=0, description="First wait before retrying a refund Stripe could not take; doubled each time."
    )
    refund_retry_max_seconds: float = Field(3600, gt=0, description="Longest wait between refund retries.")

    # --- payments -----------------------------------------------------------------------------
    sandbox: bool = Field(
        False, description="Sandbox install: simulated bank transfers, test cards, a banner on every page."
    )
    public_url: str = Field(
        "http://127.0.0.1:8000", description="Where people reach the site (links in receipts and QR codes)."
    )
    payment_request_minutes: int = Field(
        30, ge=1, le=60 * 24 * 90, description="How long a checkout's payment request stays open."
    )
    sepay_auth: str = Field("hmac", pattern="^(hmac|apikey)$", description="How SePay webhooks authenticate.")
    sepay_webhook_secret: str = Field("", description="SePay HMAC secret or API key; empty refuses SePay.")
    casso_webhook_secret: str = Field("", description="Casso v2 webhook secret; empty refuses Casso.")
    statement_inbox: Path | None = Field(
        None,
        description="Bank statements dropped in <inbox>/<bank account id>/ are imported; unset: "
        "data_dir/statements/inbox.",
    )

    # --- orders (market.orders, market.photos) -------------------------------------------------
    commission_bp: int = Field(
        0, ge=0, le=10_000, description="Platform commission on a completed order's goods, in basis points."
    )
    order_autocomplete_days: int = Field(
        7, ge=1, le=90, description="A delivered order completes by itself after this many days."
    )
    media_dir: Path | None = Field(None, description="Where product photos are kept; unset: data_dir/media.")

    # --- matching market (matching.market) ------------------------------------------------------
    matching_round_minutes: float = Field(
        60, gt=0, le=60 * 24 * 7, description="How often a clearing round runs on the schedule."
    )
    matching_accept_hours: float = Field(
        24, gt=0, le=24 * 30, description="How long both sides have to accept a proposal."
    )
    map_tiles_url: str = Field(
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        description="Map tiles of the location picker ({z}/{x}/{y}, optional {s}); empty: no tiles.",
    )
    map_tiles_attribution: str = Field("© OpenStreetMap contributors", max_length=200)

    # --- operations (choso.observability, web.metrics, operations.opendata) -------------------
    log_format: str = Field("text", pattern="^(text|json)$", description="Log lines as text or JSON.")
    metrics_token: str = Field(
        "", description="Bearer token for /metrics; empty: /metrics answers only loopback, unproxied."
    )
    open_data_per_minute: int = Field(
        60, ge=1, description="Open-data API requests per client address per minute (429 beyond)."
    )

    # --- e-mail (market.account_email): unset host = messages written to the log ---------------
    smtp_host: str = Field("", description="SMTP server; empty: e-mails are written to the log instead.")
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = Field("Chợ Số <no-reply@choso.vn>", max_length=200, description="The From header.")
    smtp_starttls: bool = Field(True, description="Upgrade the connection with STARTTLS.")
    smtp_ssl: bool = Field(False, description="Implicit TLS from the first byte (port 465).")
    smtp_timeout_seconds: float = Field(15, gt=0)
    smtp_retry_seconds: float = Field(
        30, gt=0, description="First wait before an e-mail the server did not take is tried again; doubled."
    )
    smtp_retry_max_seconds: float = Field(3600, gt=0, description="Longest wait between two tries.")
    smtp_max_attempts: int = Field(12, ge=1, le=50, description="Tries of one e-mail before it is given up.")
    password_reset_max_per_ip: int = Field(10, ge=1, description="Reset links asked per address per hour.")
    password_reset_max_per_email: int = Field(3, ge=1, description="Reset links asked per e-mail per hour.")

    @field_validator("database_url")
    @classmethod
    def _psycopg_driver(cls, url: str) -> str:
        # psycopg 3 is the driver we ship; plain postgresql:// would ask SQLAlchemy for psycopg2.
        for prefix in ("postgresql://", "postgres://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url[len(prefix) :]
        return url

    @property
    def cookies_secure_by_default(self) -> bool | None:
        """True/False when configuration decides whether cookies are Secure; None when only the
        request's own scheme can tell (a development run on localhost over http)."""
        if self.cookie_secure is not None:
            return self.cookie_secure
        url = urlsplit(self.public_url)
        if url.scheme == "https" or (url.hostname or "localhost") not in LOOPBACK_HOSTS:
            return True
        return None

    @property
    def embedded_jobs(self) -> bool:
        return not self.redis_url

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'choso.sqlite3').resolve()}"

    @cached_property
    def effective_secret_key(self) -> str:
        if self.secret_key:
            return self.secret_key
        # Embedded mode keeps one generated key so sessions and CSRF tokens survive a restart.
        key_file = self.data_dir / "secret.key"
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text(secrets.token_urlsafe(48))
            key_file.chmod(0o600)
        return key_file.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget cached settings (tests and the CLI change the environment)."""
    get_settings.cache_clear()
