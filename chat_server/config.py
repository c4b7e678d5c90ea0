"""One frozen Settings object, built from the environment once and passed explicitly."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chat_server.roster.rules import parse_targets
from yizhan_errors import YizhanError


class SettingsError(YizhanError):
    """A bad configuration value; `variable` names the environment variable at fault."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None = None
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("var")
    # Key ring: a file path (development default under data_dir) or JSON text (production).
    key_file: Path | None = None
    key_ring_json: str | None = field(default=None, repr=False)
    timezone: str = "Asia/Shanghai"
    open_time: dt.time = dt.time(10, 0)
    # None means midnight at the end of the day: 10:00–24:00.
    close_time: dt.time | None = None
    closed_days: tuple[dt.date, ...] = ()
    allowed_origins: tuple[str, ...] = ("http://127.0.0.1:8000", "http://localhost:8000")
    max_text_chars: int = 2000
    max_frame_bytes: int = 16 * 1024
    messages_per_minute: int = 60
    default_capacity: int = 2
    presence_ttl_s: int = 15
    # A waiting worker unseen this long is stepped over by the matcher (the place is kept)...
    worker_grace_s: int = 60
    # ...and after this long loses it; an active conversation's seat is released then.
    worker_keep_s: int = 600
    counselor_grace_s: int = 60
    session_ttl_s: int = 12 * 3600
    worker_session_ttl_s: int = 24 * 3600
    card_rule: str = "16-19,luhn"
    consent_version: str = "2026-11"
    ack_deadline_s: int = 60
    ack_deadline_imminent_s: int = 15
    signin_per_minute_per_ip: int = 20
    # An active conversation in which nobody wrote for this long is ended (0: never).
    silent_end_s: int = 3600
    # Behind TLS: every cookie Secure even if the proxy does not say https (docs/OPERATIONS.md).
    secure_cookies: bool = False
    # Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (the reverse proxy).
    trusted_proxies: tuple[str, ...] = ("127.0.0.1",)
    log_json: bool = False
    dev: bool = False
    # Roster: going on duty needs a scheduled shift (or a supervisor's approval).
    duty_requires_roster: bool = True
    # After a conversation ends the seat stays taken until the case note is saved, or this.
    wrapup_s: int = 300
    # How early before a shift a counselor may go on duty.
    duty_lead_minutes: int = 15
    # Coverage targets per hour, default 2 counselors + 1 supervisor; e.g. "20-24=3/1".
    coverage_targets: str = ""
    # ---- operations (docs/OPERATIONS.md) ----
    # `yizhan migrate` connects with this owner role's URL; nodes use DATABASE_URL.
    migrate_database_url: str | None = field(default=None, repr=False)
    # How long start-up retries PostgreSQL and Redis before giving up, in seconds.
    startup_wait_s: int = 60
    # /metrics on its own listener (not the app port) when set; else local requests only.
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    log_level: str = "INFO"
    # Conversations and notes older than this are crypto-shredded by the daily job
    # (three years: the NHC hotline guideline's minimum keeping time).
    retention_days: int = 3 * 365

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def key_path(self) -> Path:
        return self.key_file or self.data_dir / "keys.json"

    def replace(self, **changes: object) -> Settings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build settings from an environment mapping; raises SettingsError naming the variable."""
        r = _Reader(environ)
        port = r.integer("PORT", 8000, low=0, high=65535)
        host = r.text("HOST", "127.0.0.1")
        default_origins = (f"http://127.0.0.1:{port}", f"http://localhost:{port}")
        return cls(
            database_url=r.url("DATABASE_URL", ("postgres://", "postgresql://")),
            redis_url=r.url("REDIS_URL", ("redis://", "rediss://", "unix://")),
            host=host,
            port=port,
            data_dir=Path(r.text("YIZHAN_DATA_DIR", "var")),
            key_file=Path(p) if (p := r.optional("YIZHAN_KEY_FILE")) else None,
            key_ring_json=r.optional("YIZHAN_KEY_RING"),
            timezone=r.zone("YIZHAN_TIMEZONE", "Asia/Shanghai"),
            open_time=r.clock("YIZHAN_OPEN_TIME", "10:00") or dt.time(10, 0),
            close_time=r.clock("YIZHAN_CLOSE_TIME", "24:00"),
            closed_days=r.dates("YIZHAN_CLOSED_DAYS"),
            allowed_origins=r.origins("YIZHAN_ALLOWED_ORIGINS", default_origins),
            max_text_chars=r.integer("YIZHAN_MAX_TEXT_CHARS", 2000, low=1, high=20000),
            max_frame_bytes=r.integer("YIZHAN_MAX_FRAME_BYTES", 16384, low=1024, high=1 << 20),
            messages_per_minute=r.integer("YIZHAN_MESSAGES_PER_MINUTE", 60, low=1, high=100000),
            default_capacity=r.integer("YIZHAN_DEFAULT_CAPACITY", 2, low=1, high=10),
            presence_ttl_s=r.integer("YIZHAN_PRESENCE_TTL", 15, low=2, high=300),
            worker_grace_s=r.integer("YIZHAN_WORKER_GRACE", 60, low=1, high=3600),
            worker_keep_s=r.integer("YIZHAN_WORKER_KEEP", 600, low=1, high=86400),
            counselor_grace_s=r.integer("YIZHAN_COUNSELOR_GRACE", 60, low=1, high=3600),
            session_ttl_s=r.integer("YIZHAN_SESSION_TTL", 12 * 3600, low=60, high=30 * 86400),
            worker_session_ttl_s=r.integer(
                "YIZHAN_WORKER_SESSION_TTL", 24 * 3600, low=60, high=30 * 86400
            ),
            card_rule=r.text("YIZHAN_CARD_RULE", "16-19,luhn"),
            consent_version=r.text("YIZHAN_CONSENT_VERSION", "2026-11"),
            ack_deadline_s=r.integer("YIZHAN_ACK_DEADLINE", 60, low=1, high=3600),
            ack_deadline_imminent_s=r.integer("YIZHAN_ACK_DEADLINE_IMMINENT", 15, low=1, high=3600),
            signin_per_minute_per_ip=r.integer("YIZHAN_SIGNIN_PER_MINUTE", 20, low=1, high=100000),
            silent_end_s=r.integer("YIZHAN_SILENT_END", 3600, low=0, high=7 * 86400),
            secure_cookies=r.boolean("YIZHAN_SECURE_COOKIES", False),
            trusted_proxies=r.proxies("YIZHAN_TRUSTED_PROXIES", ("127.0.0.1",)),
            log_json=r.boolean("YIZHAN_LOG_JSON", False),
            duty_requires_roster=r.boolean("YIZHAN_DUTY_REQUIRES_ROSTER", True),
            wrapup_s=r.integer("YIZHAN_WRAPUP", 300, low=0, high=3600),
            duty_lead_minutes=r.integer("YIZHAN_DUTY_LEAD_MINUTES", 15, low=0, high=240),
            coverage_targets=r.targets("YIZHAN_COVERAGE_TARGETS"),
            migrate_database_url=r.url(
                "YIZHAN_MIGRATE_DATABASE_URL", ("postgres://", "postgresql://")
            ),
            startup_wait_s=r.integer("YIZHAN_STARTUP_WAIT", 60, low=0, high=3600),
            metrics_port=(
                r.integer("YIZHAN_METRICS_PORT", 0, low=1, high=65535)
                if r.optional("YIZHAN_METRICS_PORT") else None
            ),
            metrics_host=r.text("YIZHAN_METRICS_HOST", "127.0.0.1"),
            log_level=r.choice("YIZHAN_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
            retention_days=r.integer("YIZHAN_RETENTION_DAYS", 3 * 365, low=30, high=36500),
        )


class _Reader:
    """Parses one variable at a time so every error names its variable."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.env = environ

    def optional(self, name: str) -> str | None:
        value = self.env.get(name, "").strip()
        return value or None

    def text(self, name: str, default: str) -> str:
        return self.optional(name) or default

    def integer(self, name: str, default: int, *, low: int, high: int) -> int:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(name, f"must be a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise SettingsError(name, f"must be between {low} and {high}, got {value}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.optional(name)
        if raw is None:
            return default
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise SettingsError(name, f"must be true or false, got {raw!r}")

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        raw = self.text(name, default).upper()
        if raw not in allowed:
            raise SettingsError(name, f"must be one of {', '.join(allowed)}, got {raw!r}")
        return raw

    def url(self, name: str, schemes: tuple[str, ...]) -> str | None:
        raw = self.optional(name)
        if raw is None:
            return None
        if not raw.startswith(schemes):
            # The URL may hold a password: name the variable, never echo the value.
            raise SettingsError(name, f"must start with one of {', '.join(schemes)}")
        return raw

    def zone(self, name: str, default: str) -> str:
        raw = self.text(name, default)
        try:
            ZoneInfo(raw)
        except (ZoneInfoNotFoundError, ValueError):
            raise SettingsError(name, f"unknown time zone {raw!r}") from None
        return raw

    def clock(self, name: str, default: str) -> dt.time | None:
        raw = self.text(name, default)
        if raw == "24:00":
            return None
        try:
            hours, minutes = raw.split(":")
            return dt.time(int(hours), int(minutes))
        except ValueError:
            raise SettingsError(name, f"must be HH:MM (00:00–24:00), got {raw!r}") from None

    def dates(self, name: str) -> tuple[dt.date, ...]:
        raw = self.optional(name)
        if raw is None:
            return ()
        try:
            return tuple(sorted(dt.date.fromisoformat(p.strip()) for p in raw.split(",") if p))
        except ValueError:
            raise SettingsError(name, "must be comma-separated dates like 2026-02-17") from None

    def targets(self, name: str) -> str:
        raw = self.optional(name) or ""
        try:
            parse_targets(raw)
        except ValueError as exc:
            raise SettingsError(name, str(exc)) from None
        return raw

    def proxies(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        """Addresses or networks, comma-separated; "none" trusts no proxy."""
        import ipaddress

        raw = self.optional(name)
        if raw is None:
            return default
        if raw.lower() == "none":
            return ()
        values = tuple(v.strip() for v in raw.split(",") if v.strip())
        for value in values:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise SettingsError(name, f"not an address or network: {value!r}") from None
        return values

    def origins(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        raw = self.optional(name)
        if raw is None:
            return default
        values = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
        for origin in values:
            if not origin.startswith(("http://", "https://")):
                raise SettingsError(name, f"each origin must start with http(s)://: {origin!r}")
        return values
