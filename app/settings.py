"""One settings object, read from the environment (and `.env`), loaded once and injected."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent
VAR_DIR = ROOT / "var"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = f"sqlite+aiosqlite:///{VAR_DIR / 'app.db'}"
    # No production default: development and tests get a random key kept under var/.
    secret_key: str | None = Field(default=None, min_length=32)
    host: str = "127.0.0.1"
    port: int = 8000
    default_locale: Literal["vi", "en"] = "vi"
    province_code: int = 14  # Sơn La: the province this deployment serves first
    province_name: str = "Sơn La"
    login_max_failures: int = 5
    login_lockout_seconds: int = 15 * 60
    log_sql: bool = False
    # The site's public address (https://…), printed on certificates' QR codes and in the messages
    # that link to them. Unset: the address the request came to (fine behind no proxy).
    public_url: str | None = Field(default=None, pattern=r"^https?://[^/\s]+(/[^\s]*)?$")
    # E-mail (app/mail.py). Unset SMTP_HOST: messages go to the log (development, the demo), and in
    # production no password reset is offered (its link must reach only the account's owner).
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_timeout_seconds: float = Field(default=20, gt=0)
    mail_from: str = "no-reply@localhost"
    mail_from_name: str = "Thư viện cơ sở"
    # How long a password reset link works.
    password_reset_seconds: int = Field(default=3600, ge=1, le=7 * 24 * 3600)
    # Donations
    pledge_expiry_days: int = Field(default=7, ge=1, le=90)
    max_money_pledge: int = Field(default=2_000_000_000, ge=1)  # VND, one pledge
    # Where sponsors bring books and equipment pledged "to the province hub" (shown on the pledge page).
    hub_address: str = "Thư viện tỉnh Sơn La, số 2 đường Tô Hiệu, phường Tô Hiệu, tỉnh Sơn La"
    bank_bin: str = "970436"  # the receiving bank's NAPAS BIN (Vietcombank)
    # The bank's name as sponsors know it, shown beside the account for those who type the transfer
    # (a phone cannot scan the code on its own screen). Another BANK_BIN without a BANK_NAME shows
    # no name rather than the default bank's.
    bank_name: str = "Vietcombank"
    bank_account: str = "0011004455667"
    bank_account_name: str = "SO VAN HOA THE THAO VA DU LICH TINH SON LA"
    stripe_js_url: str = "https://js.stripe.com/v3/"
    # Deliveries: librarians' receipt photos (images only, at most this many bytes), kept here.
    upload_dir: Path = VAR_DIR / "uploads"
    receipt_photo_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    # Public pages (the needs board) are cached this long for anonymous visitors; 0 turns it off.
    public_cache_seconds: int = Field(default=15, ge=0, le=3600)
    # Stripe (card payments). No defaults for secrets: unset means card payments are off.
    stripe_secret_key: str | None = None
    stripe_publishable_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None  # None: Stripe's real API; tests point it at localstripe
    stripe_max_network_retries: int = Field(default=2, ge=0)

    @model_validator(mode="after")
    def _bank_name_of_the_bank(self) -> Settings:
        if "bank_bin" in self.model_fields_set and "bank_name" not in self.model_fields_set:
            self.bank_name = ""
        return self

    @model_validator(mode="after")
    def _secret_required_in_production(self) -> Settings:
        if self.environment == "production" and not self.secret_key:
            raise ValueError("SECRET_KEY must be set (32+ characters) in production")
        return self

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def password_reset_offered(self) -> bool:
        """A reset link is mailed only where it reaches the owner alone, at the site's own address:
        in production, that needs an SMTP server and PUBLIC_URL (a link built from the request's
        Host header could point anywhere); elsewhere the log stands in for the mailbox."""
        return not self.is_production or bool(self.smtp_host and self.public_url)

    def resolved_secret(self) -> str:
        """The configured secret, or (outside production) one generated once and kept in var/."""
        if self.secret_key:
            return self.secret_key
        VAR_DIR.mkdir(exist_ok=True)
        path = VAR_DIR / "secret_key"
        if not path.exists():
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
