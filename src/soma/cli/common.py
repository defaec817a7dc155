"""The Typer app and what every command shares: settings, logging, and turning SomaError into exit code 1."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import pydantic
import typer

from soma import config, errors, logs, startup
from soma.config import env_names

T = TypeVar("T")

# What commands read, for their --help; tests/test_docs.py checks every setting is in one.
LOG_VARS = env_names("log_level", "log_format")  # every command
DB_VARS = env_names("database_url", "data_dir", "embedded_postgres_user")
SLM_VARS = env_names(
    "slm_base_url", "slm_model", "slm_max_tokens", "slm_connect_timeout", "slm_read_timeout", "slm_max_attempts",
    "slm_backoff_seconds",
)  # fmt: skip
KEY_VARS = env_names(
    "vault_addr", "vault_token", "vault_token_file", "vault_k8s_role", "vault_k8s_mount", "vault_k8s_token_file",
    "vault_timeout", "slm_key_vault_mount", "slm_key_vault_path", "slm_key_vault_field", "slm_api_key_file", "slm_api_key",
    "secret_sources", "secret_reload_seconds",
)  # fmt: skip
WORKER_VARS = env_names(
    "worker_concurrency", "worker_drain_seconds", "worker_heartbeat_seconds", "worker_stalled_seconds",
    "worker_metrics_port", "worker_metrics_host", "history_messages", "backup_schedule", "backup_dir", "backup_keep",
    "sandbox_url", "sandbox_key",
)  # fmt: skip
SANDBOX_VARS = env_names("sandbox_host", "sandbox_port", "sandbox_key", "sandbox_python", "sandbox_max_runs")
GATEWAY_VARS = env_names(
    "host", "port", "max_message_chars", "sse_keepalive_seconds", "session_idle_seconds", "session_max_seconds",
    "bootstrap_admin_key", "bootstrap_admin_key_file", "metrics_require_key", "trusted_proxies", "tunnel_origin_host",
    "tunnel_origin_port", "mcp_ask_timeout_seconds",
)  # fmt: skip
SSO_VARS = env_names(
    "local_login", "oidc_issuer", "oidc_client_id", "oidc_client_secret", "oidc_client_secret_file", "oidc_client_secret_vault_path",
    "oidc_scopes", "oidc_name", "oidc_groups_claim", "oidc_admin_groups", "oidc_allowed_groups", "oidc_provisioning",
    "oidc_session_hours",
)  # fmt: skip
TUNNEL_VARS = env_names(
    "public_url", "cloudflared", "tunnel_token", "tunnel_token_file", "tunnel_token_vault_path", "tunnel_metrics_port",
    "tunnel_origin",
)  # fmt: skip

app = typer.Typer(
    help=f"Soma: a self-hosted AI agent platform. Every command reads {LOG_VARS}.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # plain text: rich markup would swallow the options' "[default: …]"
)


def settings() -> config.Settings:
    """This process's settings, with logging set up from them; a bad value stops the command naming its variable."""
    try:
        current = config.get()
    except pydantic.ValidationError as exc:
        fail(errors.BadSetting(_problems(exc)))
    logs.setup(current.log_level, current.log_format)
    return current


def _problems(exc: pydantic.ValidationError) -> str:
    """`SOMA_LOG_FORMAT='xml': Input should be 'text' or 'json'.` for each bad setting; secrets are not echoed."""
    found = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "?"
        field = config.Settings.model_fields.get(name)
        secret = field is not None and "SecretStr" in str(field.annotation)
        value = "" if secret or "input" not in error else f"={error['input']!r}"
        found.append(f"{config.ENV_PREFIX}{name.upper()}{value}: {error['msg']}.")
    return " ".join(found)


def fail(exc: errors.SomaError) -> NoReturn:
    """Print the error and its causes on stderr, one line each, and exit 1."""
    typer.echo(f"error: {exc.message}", err=True)
    cause = exc.__cause__
    while cause is not None:
        typer.echo(f"  caused by: {type(cause).__name__}: {_one_line(cause)}", err=True)
        cause = cause.__cause__
    raise typer.Exit(1)


def _one_line(cause: BaseException) -> str:
    """A driver's multi-line message (psycopg adds hints on indented lines) joined into one line."""
    return " ".join(line.strip() for line in str(cause).splitlines() if line.strip())


def on_database(work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work(engine)` on Soma's migrated database, opened as every command opens it; errors exit 1."""
    from soma.db import engine as db_engine
    from soma.db import location

    async def go(url: str) -> T:
        engine = db_engine.create(url, pool_size=1)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    try:
        database = location.open_migrated(settings())
        try:
            return asyncio.run(go(database.url))
        finally:
            database.stop()
    except errors.SomaError as exc:
        fail(exc)


def serve(run: Callable[[config.Settings, str], Awaitable[None]]) -> None:
    """Run a long-lived process, `run(settings, database_url)`, on the migrated database; errors exit 1."""
    from soma.db import location

    current = settings()
    try:
        database = location.open_migrated(current)
        try:
            startup.done()
            asyncio.run(run(current, database.url))
        finally:
            database.stop()
    except errors.SomaError as exc:
        fail(exc)
