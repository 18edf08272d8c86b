"""Settings, read once from the environment (prefix ONETHING_)."""

from __future__ import annotations

from functools import cache
from ipaddress import ip_address
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, Field, IPvAnyNetwork, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_DIR = Path(__file__).resolve().parent.parent
# Installed from a wheel, there is no checkout around the packages: the process definitions are
# the copy the build put into this package (setup.py), and the data directory defaults to
# ./data in the working directory rather than beside the installed code.
IN_CHECKOUT = (PROJECT_DIR / "pyproject.toml").is_file()
PACKAGED_BPMN_DIR = Path(__file__).resolve().parent / "bpmn"


def checked_public_address(value: str) -> str:
    """ONETHING_PUBLIC_BASE_URL as certificates print it (no trailing slash); ValueError when it
    is not an absolute http(s) address of a host, without user, query or fragment."""
    parts = urlsplit(value.strip())
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:  # a port out of range or not a number
        port_ok = False
    if (
        not port_ok
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.query
        or parts.fragment
        or "?" in value
        or "#" in value
    ):
        raise ValueError(
            "ONETHING_PUBLIC_BASE_URL must be the absolute http:// or https:// address "
            f"citizens reach, without query or fragment, e.g. https://onething.example.gov.cn "
            f"(got {value!r})"
        )
    return urlunsplit(parts._replace(path=parts.path.rstrip("/")))


class PublicAddressError(ValueError):
    """ONETHING_PUBLIC_BASE_URL names this very server at another address than it serves."""


LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}
WILDCARD_HOSTS = {"0.0.0.0", "::", ""}


def _loopback(host: str) -> bool:
    host = host.strip("[]").lower()
    if host in LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def served_address(host: str, port: int) -> str:
    """The address `onething serve --host host --port port` answers at, as a URL; for all
    interfaces (0.0.0.0, ::), the loopback address."""
    host = host.strip("[]")
    if host in WILDCARD_HOSTS:
        host = "::1" if host == "::" else "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def public_address(settings: Settings, *, host: str, port: int) -> tuple[str, str | None]:
    """The public address certificates of a server started on `host`:`port` print, and a
    warning to show (or None). Unset, it is the served address (a warning when that is every
    interface: another device, a citizen's phone, cannot reach the loopback address printed).
    Set to an address of this very host (a loopback name, or the host served on) with no proxy
    in front (ONETHING_TRUSTED_PROXIES empty), it must be the served address: a development
    server whose QR codes point to another port or scheme raises PublicAddressError."""
    served = served_address(host, port)
    if "public_base_url" not in settings.model_fields_set:
        if host.strip("[]") in WILDCARD_HOSTS:
            return served, (
                f"serving on every interface, certificates' QR codes point to {served}, which "
                "a citizen's phone cannot reach: set ONETHING_PUBLIC_BASE_URL to the address "
                "citizens use"
            )
        return served, None
    configured = settings.public_base_url
    parts = urlsplit(configured)
    hostname = parts.hostname or ""
    this_host = _loopback(hostname) or hostname == host.strip("[]").lower()
    if this_host and not settings.trusted_proxies:
        port_of = parts.port or (443 if parts.scheme == "https" else 80)
        if parts.scheme != "http" or port_of != port:
            raise PublicAddressError(
                f"ONETHING_PUBLIC_BASE_URL is {configured}, but this server serves {served}: "
                f"certificates' QR codes and verify links would point elsewhere; set it to "
                f"{served} or leave it unset"
            )
    return configured, None


class WebhookTarget(BaseModel):
    """Where a department wants its pushes, and the secret that signs them."""

    url: str
    secret: str


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ONETHING_")

    data_dir: Path = Field(
        default_factory=lambda: PROJECT_DIR / "data" if IN_CHECKOUT else Path.cwd() / "data"
    )
    database_url: str | None = None
    # Each process's PostgreSQL connection pool: kept open, and opened beyond that under load.
    # max_connections must cover hosts x workers x (db_pool_size + db_max_overflow).
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_max_overflow: int = Field(default=20, ge=0, le=200)
    # Admission control of each worker process (web/admission.py): requests run at once, how
    # many may wait for their turn and how long; past that a request is answered 503 with
    # Retry-After before anything of it is done.
    max_active_requests: int = Field(default=16, ge=1, le=1000)
    max_queued_requests: int = Field(default=64, ge=0, le=100_000)
    queue_wait_ms: int = Field(default=1000, ge=0, le=60_000)
    bpmn_dir: Path = PACKAGED_BPMN_DIR if PACKAGED_BPMN_DIR.is_dir() else PROJECT_DIR / "bpmn"
    registry_people: int = 20000
    session_hours: int = 8
    secure_cookies: bool = False
    upload_limit_bytes: int = 10 * 1024 * 1024
    # How long a citizen's saved, unfinished application (保存草稿: the answers and the files
    # chosen) is kept for them to resume, from the last save; expired ones are removed by the
    # daily maintenance run, and a draft goes as soon as its application is submitted.
    draft_days: int = Field(default=30, ge=1, le=365)
    # The data-exchange platform; unset: the embedded demo registry in the data directory.
    exchange_url: str | None = None
    exchange_client_id: str = ""
    exchange_client_secret: SecretStr = SecretStr("")
    exchange_timeout: float = 2.0
    # Where uploaded files live (services/storage.py): "database" or "directory". Unset: the
    # database with PostgreSQL, `shared_dir` if set, else (SQLite, one host) data_dir/uploads.
    file_store: Literal["database", "directory"] | None = None
    # A directory the operator declares shared: every host mounts it at this path.
    shared_dir: Path | None = None
    # Results: the certificate signing keys live in the database (services/certificates/keys.py);
    # a key file of an earlier version is imported from `certificate_key_path` at start, and the
    # passphrase (if set) encrypts the private keys stored. The public address in the QR codes.
    certificate_key_path: Path | None = None
    certificate_key_passphrase: SecretStr = SecretStr("")
    public_base_url: str = "http://127.0.0.1:8000"
    # The CJK TrueType font (.ttf/.ttc with TrueType outlines) embedded in certificates; unset:
    # the first one installed of services/certificates/fonts.py's FONT_FILES (fonts-wqy-zenhei).
    certificate_font: Path | None = None
    # Seconds between runs of the deadline-timer scheduler (0: off, e.g. for a web-only process)
    deadline_interval: float = 30.0
    # Retention: the personal data of a case closed (completed) more than this many days ago
    # is purged once a day (answers, names, uploads, certificate PDFs, process data, inbox
    # texts), keeping the anonymised rows the dashboard counts (services/maintenance). Three
    # years by default: longer than the periods to seek a review or to sue over a decision, and
    # the results themselves stay with the citizen and the departments' own registers. 0: never
    # purge (an operator whose records schedule keeps cases longer, or who archives elsewhere).
    retention_days: int = Field(default=1095, ge=0)
    # Seconds between checks for due maintenance jobs (claimed once across hosts: the purge);
    # 0: this process runs none (another host does them).
    maintenance_interval: float = Field(default=60.0, ge=0)
    # Tests and demos only: this process's clock runs that many days ahead of the real time, so
    # a served process sees deadlines pass without waiting (see `engine.clock`); 0 in production.
    clock_offset_days: float = 0.0
    # Departments that want pushes, as JSON: {"police": {"url": "...", "secret": "..."}}
    webhooks: dict[str, WebhookTarget] = {}
    # Reverse proxies whose X-Forwarded-For names the client (web/client_address.py), as
    # addresses or networks separated by commas ("10.0.0.5,10.1.0.0/16"). Empty: the socket's
    # peer is the client and X-Forwarded-For is ignored, so clients cannot choose their address.
    trusted_proxies: Annotated[list[IPvAnyNetwork], NoDecode] = []
    # How `onething serve` writes its log (standard error): "json", one object per line for a
    # log collector (services/observability.py), or "text" for a terminal.
    log_format: Literal["json", "text"] = "json"
    # Who may scrape /metrics (web/metrics.py): the client addresses or networks allowed, by
    # the same rule as above (behind a trusted proxy, the forwarded client), separated by
    # commas; empty: nobody. And, when set, the bearer token the scraper must also send.
    metrics_allow: Annotated[list[IPvAnyNetwork], NoDecode] = ["127.0.0.1/32", "::1/128"]
    metrics_token: SecretStr = SecretStr("")

    @field_validator("public_base_url")
    @classmethod
    def _public_address(cls, value: str) -> str:
        return checked_public_address(value)

    @field_validator("trusted_proxies", "metrics_allow", mode="before")
    @classmethod
    def _split_addresses(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'onething.sqlite'}"

    @property
    def registry_path(self) -> Path:
        return self.data_dir / "registry.sqlite"

    @property
    def signing_key_path(self) -> Path:
        return self.certificate_key_path or self.data_dir / "keys" / "certificate-ed25519.pem"

    @property
    def upload_dir(self) -> Path:
        return self.data_dir / "uploads"


@cache
def get_settings() -> Settings:
    return Settings()
