"""Settings read once from SOMA_* environment variables and `.env`; the only reader of os.environ."""

from __future__ import annotations

import functools
import ipaddress
import os
from pathlib import Path
from typing import Any, Literal

import croniter
from dotenv import dotenv_values

from pydantic import Field, SecretStr, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

CRON_EXAMPLE = "5 fields in UTC: minute hour day-of-month month day-of-week, e.g. '0 3 * * *' for 03:00 every day"


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "soma"


def _default_sandbox_python() -> Path:
    """The checkout's .venv-sandbox (`make sandbox` builds it) when Soma runs from one, else the container image's."""
    checkout = Path(__file__).resolve().parents[2] / ".venv-sandbox" / "bin" / "python"
    return checkout if checkout.exists() else Path("/opt/soma-sandbox/bin/python")


def _default_backup_dir(data: dict[str, Any]) -> Path:
    return data.get("data_dir", _default_data_dir()) / "backups"


def cron_problem(expression: str) -> str | None:
    """What is wrong with a cron expression for SOMA_BACKUP_SCHEDULE, or None when it is fine."""
    fields = expression.split()
    if len(fields) != 5:  # croniter also takes seconds and years, and @daily: one spelling is enough
        return f"has {len(fields)} fields; give {CRON_EXAMPLE}"
    try:
        # A valid expression may still never fire ('0 3 31 2 *'); procrastinate would fail on it later.
        croniter.croniter(expression).get_next(float)
    except croniter.CroniterBadDateError:
        return f"never comes round; give {CRON_EXAMPLE}"
    except ValueError as exc:  # croniter's errors are ValueErrors: "[0 3 * * 8] is not acceptable, out of range"
        reason = str(exc).removeprefix(f"[{expression}] ").removeprefix("is not acceptable").strip(" ,")
        reason = reason or "a field that is not a number, name, range or step"
        return f"is not a cron schedule ({reason}); give {CRON_EXAMPLE}"
    return None


@functools.cache
def proxy_networks(spec: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """SOMA_TRUSTED_PROXIES parsed; ValueError naming a bad entry."""
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in spec.split(",") if part.strip())


# A worker counts as dead only after this many heartbeats past its drain: one slow write is not death.
HEARTBEATS_BEFORE_STALLED = 3


def _origin(value: str | None, schemes: tuple[str, ...], problem: str) -> str | None:
    """`scheme://host[:port]` without a trailing slash, or None for blank; PydanticCustomError(problem) for anything else."""
    if value is None or not value.strip():
        return None
    origin = value.strip().rstrip("/")
    scheme, _, rest = origin.partition("://")
    if scheme not in schemes or not rest or "/" in rest or "?" in rest or "#" in rest:
        raise PydanticCustomError("origin", problem)
    return origin


class Settings(BaseSettings):
    """Process settings. Agent behaviour (system prompt, …) lives in the database, not here."""

    model_config = SettingsConfigDict(
        env_prefix="SOMA_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str | None = Field(
        None, description="PostgreSQL URL; without it Soma runs an embedded server in SOMA_DATA_DIR."
    )
    data_dir: Path = Field(default_factory=_default_data_dir, description="Where Soma keeps its files.")
    # Right after data_dir: pydantic skips a factory that reads validated data once any field before
    # it failed, so placed lower a bad SOMA_PORT would come with a puzzling error about this one.
    backup_dir: Path = Field(
        default_factory=_default_backup_dir,
        description="Where scheduled backups are written [default: SOMA_DATA_DIR/backups].",
    )
    embedded_postgres_user: str = Field(
        "embedded_postgres",
        pattern=r"^[a-z_][a-z0-9_-]{0,31}$",
        description="The system user the embedded PostgreSQL runs as when Soma runs as root; created on first start.",
    )
    backup_schedule: str | None = Field(
        None, description="When the worker makes a backup, in cron syntax (UTC), e.g. `0 3 * * *`; unset makes none."
    )
    backup_keep: int = Field(7, ge=1, description="How many scheduled backups are kept; older ones are deleted.")

    host: str = Field("127.0.0.1", description="Address the gateway listens on.")
    port: int = Field(8080, ge=0, le=65535, description="Port the gateway listens on.")

    slm_base_url: str | None = Field(
        None, description="OpenAI-compatible base URL including /v1; `soma up` starts the local SLM without it."
    )
    slm_model: str = Field("gemma-3-270m", description="Model name sent to the SLM.")
    slm_api_key: SecretStr | None = Field(
        None, description="API key sent to the SLM as a Bearer token, when neither Vault nor a key file gives one."
    )
    slm_api_key_file: Path | None = Field(
        None, description="File holding the SLM key, e.g. a mounted Kubernetes Secret; re-read when it changes."
    )
    slm_max_tokens: int = Field(512, ge=1, description="Longest answer, in tokens, asked of the SLM.")
    slm_connect_timeout: float = Field(5.0, gt=0, description="Seconds to open a connection to the SLM.")
    slm_read_timeout: float = Field(30.0, gt=0, description="Seconds the SLM may stay silent mid-answer.")
    slm_max_attempts: int = Field(4, ge=1, le=10, description="Attempts per turn on 429, 5xx or a dropped stream.")
    slm_backoff_seconds: float = Field(0.5, ge=0, description="First retry delay; doubles each attempt.")

    worker_concurrency: int = Field(64, ge=1, description="Turns one worker runs at once (different sessions).")
    worker_drain_seconds: float = Field(
        25.0, ge=0, description="On SIGTERM, how long running turns may take to finish."
    )
    worker_heartbeat_seconds: float = Field(2.0, gt=0, description="How often a worker proves it is alive.")
    worker_stalled_seconds: float | None = Field(
        None,
        gt=0,
        description="A worker silent this long is dead; its turns are run again [default and least: "
        "SOMA_WORKER_DRAIN_SECONDS plus 3 heartbeats].",
    )
    worker_metrics_port: int = Field(
        9090, ge=0, le=65535, description="Port of the worker's /metrics and /health; 0 serves none."
    )
    worker_metrics_host: str | None = Field(
        None, description="Address the worker's metrics listen on [default: SOMA_HOST, itself 127.0.0.1]."
    )

    secret_sources: str = Field(
        "vault,file,env", description="Where secrets are looked up, in order: any of vault, file, env."
    )
    secret_reload_seconds: float = Field(
        5.0, gt=0, description="How often gateway and worker look for a new SLM key version."
    )
    vault_addr: str | None = Field(None, description="Vault (or OpenBao) address; the SLM key is read from Vault when set.")
    vault_token: SecretStr | None = Field(None, description="Vault token.")
    vault_token_file: Path | None = Field(None, description="File holding the Vault token (re-read at each login).")
    vault_k8s_role: str | None = Field(None, description="Vault Kubernetes auth role; logs in with the pod's service account.")
    vault_k8s_mount: str = Field("kubernetes", description="Mount path of Vault's Kubernetes auth method.")
    vault_k8s_token_file: Path = Field(
        Path("/var/run/secrets/kubernetes.io/serviceaccount/token"),
        description="The service account token presented for Kubernetes auth.",
    )
    vault_timeout: float = Field(5.0, gt=0, description="Seconds to wait for Vault.")
    slm_key_vault_mount: str = Field("kv", description="KV v2 mount holding the SLM key.")
    slm_key_vault_path: str = Field("slm/api-key", description="Path of the SLM key in that mount.")
    slm_key_vault_field: str = Field("value", description="Field of that secret holding the key.")

    cloudflared: str = Field("cloudflared", description="The cloudflared binary `soma tunnel run` starts: a name on PATH or a path.")
    public_url: str | None = Field(
        None, description="The https origin the tunnel serves, e.g. `https://soma.example.org`; the tunnel stays shut without it."
    )
    tunnel_token: SecretStr | None = Field(
        None, description="The Cloudflare tunnel token, when neither Vault nor a token file gives one."
    )
    tunnel_token_file: Path | None = Field(
        None, description="File holding the tunnel token, e.g. a mounted Kubernetes Secret; re-read when it changes."
    )
    tunnel_token_vault_path: str = Field(
        "cloudflare/tunnel-token", description="Path of the tunnel token (field `value`) in the SLM key's KV v2 mount."
    )
    tunnel_metrics_port: int = Field(
        9091, ge=0, le=65535, description="Port of `soma tunnel run`'s /metrics and /health on SOMA_HOST; 0 serves none."
    )
    tunnel_origin_host: str = Field(
        "127.0.0.1", description="Address of the gateway's tunnel door, the listener only cloudflared is pointed at."
    )
    tunnel_origin_port: int = Field(
        8081, ge=0, le=65535,
        description="Port of the gateway's tunnel door: requests there are public, counted per Cloudflare visitor; 0 serves none.",
    )  # fmt: skip
    tunnel_origin: str | None = Field(
        None,
        description="Where `soma tunnel run` points cloudflared: the gateway's tunnel door, e.g. `http://gateway:8081`"
        " [default: http://SOMA_TUNNEL_ORIGIN_HOST:SOMA_TUNNEL_ORIGIN_PORT, 127.0.0.1 for 0.0.0.0].",
    )

    sandbox_url: str | None = Field(
        None, description="Where the worker finds `soma sandbox`, e.g. `http://sandbox:8790`; `soma up` starts one and sets it."
    )
    sandbox_key: SecretStr | None = Field(
        None, description="The sandbox service's key (at least 32 characters): `soma sandbox` requires it, the worker sends it."
    )
    sandbox_host: str = Field("127.0.0.1", description="Address `soma sandbox` listens on.")
    sandbox_port: int = Field(8790, ge=0, le=65535, description="Port `soma sandbox` listens on.")
    sandbox_python: Path = Field(
        default_factory=_default_sandbox_python,
        description="The Python the agent's code runs with, with numpy, pandas and matplotlib [default: the checkout's"
        " .venv-sandbox/bin/python when there is one, else /opt/soma-sandbox/bin/python].",
    )
    sandbox_max_runs: int = Field(8, ge=1, le=1000, description="Runs `soma sandbox` jails at once; more wait their turn.")

    session_idle_seconds: float = Field(8 * 3600, gt=0, description="A login session unused this long ends.")
    session_max_seconds: float = Field(7 * 86400, gt=0, description="A login session ends this long after login, used or not.")
    local_login: bool = Field(
        True, description="Offer the password form; false refuses POST /v1/auth/login to all but break-glass admins (`soma users create --break-glass`)."
    )
    oidc_issuer: str | None = Field(
        None, description="The OpenID Connect issuer, e.g. `https://id.example.org/realms/staff`; single sign-on is off without it."
    )
    oidc_client_id: str | None = Field(None, description="Soma's client id at the identity provider.")
    oidc_client_secret: SecretStr | None = Field(
        None, description="Soma's client secret at the identity provider, when neither Vault nor a secret file gives one."
    )
    oidc_client_secret_file: Path | None = Field(
        None, description="File holding the client secret, e.g. a mounted Kubernetes Secret; read at each login."
    )
    oidc_client_secret_vault_path: str = Field(
        "oidc/client-secret", description="Path of the client secret (field `value`) in the SLM key's KV v2 mount."
    )
    oidc_scopes: str = Field("openid email profile", description="Scopes asked of the provider; `openid` is always sent.")
    oidc_name: str = Field("SSO", min_length=1, max_length=60, description="The provider's name on the login page's button: Sign in with NAME.")
    oidc_groups_claim: str = Field("groups", min_length=1, description="The ID token claim listing the person's groups.")
    oidc_admin_groups: str = Field("", description="Comma-separated groups whose members are admins; re-evaluated at every login.")
    oidc_allowed_groups: str = Field(
        "", description="Comma-separated groups, one of which a person must be in to sign in at all; empty allows everyone the provider signs in."
    )
    oidc_provisioning: Literal["auto", "invite"] = Field(
        "auto", description="`auto` creates a member at the first login; `invite` only binds an account an admin created with the person's verified e-mail."
    )
    oidc_session_hours: float = Field(8.0, gt=0, description="An SSO login session ends this many hours after login, used or not.")
    bootstrap_admin_key: SecretStr | None = Field(
        None, description="An admin API key provisioned at gateway start, for automation (at least 32 characters)."
    )
    bootstrap_admin_key_file: Path | None = Field(None, description="File holding SOMA_BOOTSTRAP_ADMIN_KEY (a Kubernetes Secret).")
    trusted_proxies: str = Field(
        "",
        description="Comma-separated addresses or CIDRs of proxies (e.g. cloudflared's) whose X-Forwarded-For names the client"
        " for rate limits and the audit log; none by default, so the peer address counts.",
    )
    metrics_require_key: bool = Field(False, description="Make /metrics need a key with the metrics (or admin) scope.")
    api_key: SecretStr | None = Field(None, description="The key `soma smoke` sends to the gateway.")

    max_message_chars: int = Field(16000, ge=1, description="Longest user message accepted (413 beyond).")
    history_messages: int = Field(40, ge=1, description="How many earlier messages go into the prompt.")
    sse_keepalive_seconds: float = Field(15.0, gt=0, description="Idle SSE streams get a comment this often.")
    mcp_ask_timeout_seconds: float = Field(
        300.0, gt=0, description="How long /mcp's `ask` waits for the agent's answer; then it returns an error and the turn goes on."
    )
    log_level: str = Field("INFO", description="Python log level.")
    log_format: Literal["text", "json"] = Field("text", description="Log lines as `text`, or `json`: one object per line.")

    @field_validator("public_url")
    @classmethod
    def _public_origin(cls, value: str | None) -> str | None:
        """An https origin (scheme and host, no path), given without a trailing slash; blank is unset."""
        return _origin(value, ("https",), "give the https origin the tunnel serves, like https://soma.example.org (no path)")

    @field_validator("tunnel_origin")
    @classmethod
    def _door_origin(cls, value: str | None) -> str | None:
        """An http(s) origin of the gateway's tunnel door, given without a trailing slash; blank is unset."""
        return _origin(value, ("http", "https"), "give the URL of the gateway's tunnel door, like http://gateway:8081 (no path)")

    @field_validator("sandbox_url")
    @classmethod
    def _sandbox_origin(cls, value: str | None) -> str | None:
        """An http(s) origin of the sandbox service, given without a trailing slash; blank is unset."""
        return _origin(value, ("http", "https"), "give the sandbox service's URL, like http://127.0.0.1:8790 (no path)")

    @field_validator("oidc_issuer")
    @classmethod
    def _issuer(cls, value: str | None) -> str | None:
        """An https URL (http only on loopback, for a provider on this machine); kept exactly, as ID tokens must name it."""
        if value is None or not value.strip():
            return None
        issuer = value.strip()
        scheme, _, rest = issuer.partition("://")
        host = rest.split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
        if not rest or "?" in rest or "#" in rest or not (scheme == "https" or (scheme == "http" and host in ("127.0.0.1", "localhost", "::1"))):
            raise PydanticCustomError("issuer", "give the provider's https issuer URL, like https://id.example.org/realms/staff")
        return issuer

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        """Refuse an entry that is not an address or CIDR, naming it."""
        try:
            proxy_networks(value)
        except ValueError as exc:
            raise PydanticCustomError("proxies", "{problem}; give addresses or CIDRs, like 127.0.0.1,10.0.0.0/8", {"problem": str(exc)})
        return value

    @field_validator("backup_schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        """A blank schedule is none (charts render unset values as ''); a bad one is refused saying why."""
        if value is None or not value.strip():
            return None
        problem = cron_problem(value.strip())
        if problem:
            raise PydanticCustomError("cron", problem)  # a custom error: no "Value error, " in front
        return value.strip()

    @property
    def embedded(self) -> bool:
        """True when Soma must run its own PostgreSQL under data_dir."""
        return not self.database_url

    @property
    def worker_stalled_threshold(self) -> float:
        """Seconds of silence after which a worker is dead and its jobs run again elsewhere.

        SOMA_WORKER_STALLED_SECONDS, raised to the drain plus HEARTBEATS_BEFORE_STALLED heartbeats when
        lower (and that when unset), so a threshold never undercuts a drain: a draining worker keeps its
        heartbeat (worker/drain.py), and this bound still holds for one that cannot write it meanwhile,
        or runs a version that stops it (procrastinate's own shutdown does).
        """
        least = self.worker_drain_seconds + HEARTBEATS_BEFORE_STALLED * self.worker_heartbeat_seconds
        return max(self.worker_stalled_seconds or 0.0, least)


ENV_PREFIX = "SOMA_"


def env_names(*fields: str) -> str:
    """The environment variable names of some settings, for `--help` texts."""
    return ", ".join(ENV_PREFIX + f.upper() for f in fields)


@functools.cache
def get() -> Settings:
    """The settings of this process, read once."""
    return Settings()


def child_environment(**overrides: str) -> dict[str, str]:
    """The environment for a child process of Soma's, with SOMA_* overrides."""
    env = dict(os.environ)
    env.update({ENV_PREFIX + k.upper(): v for k, v in overrides.items()})
    return env


def fresh_env_value(name: str) -> tuple[str | None, str]:
    """A variable as it is now: the environment wins over `.env`, which is re-read. Returns (value, where)."""
    if os.environ.get(name):
        return os.environ[name].strip(), "environment"
    value = dotenv_values(".env").get(name) if Path(".env").is_file() else None
    return (value.strip() if value else None), ".env"


# What a child process of Soma's that must not see Soma's settings (an MCP tool server) takes from
# this process's environment: enough to find programs, write caches and read text, nothing secret.
TOOL_SERVER_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")


# What `soma sandbox` under `soma up` takes from this process's environment besides those basics: its
# own settings and where Python finds Soma. No database URL, no SLM key, no Vault token.
SANDBOX_SERVICE_ENVIRONMENT = ("PYTHONPATH", "SOMA_SANDBOX_PYTHON", "SOMA_SANDBOX_MAX_RUNS", "SOMA_LOG_LEVEL", "SOMA_LOG_FORMAT")


def sandbox_service_environment(key: str, port: int) -> dict[str, str]:
    """The whole environment of the `soma sandbox` that `soma up` starts, listening on 127.0.0.1:port with `key`."""
    env = tool_server_environment()
    env.update({name: os.environ[name] for name in SANDBOX_SERVICE_ENVIRONMENT if name in os.environ})
    env.update(SOMA_SANDBOX_KEY=key, SOMA_SANDBOX_HOST="127.0.0.1", SOMA_SANDBOX_PORT=str(port))
    return env


def tool_server_environment() -> dict[str, str]:
    """The TOOL_SERVER_ENVIRONMENT variables this process has: the base of an MCP stdio server's environment.

    Not child_environment, which hands Soma's own children (gateway, worker, cloudflared) everything.
    """
    return {name: os.environ[name] for name in TOOL_SERVER_ENVIRONMENT if name in os.environ}
