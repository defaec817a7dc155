"""The Typer app and what every command shares: settings, logging, and turning SomaError into exit code 1."""

from __future__ import annotations

from typing import NoReturn

import typer

from soma import config, errors, logs
from soma.config import env_names

app = typer.Typer(help="Soma: a self-hosted AI agent platform.", no_args_is_help=True, add_completion=False)

DB_VARS = env_names("database_url", "data_dir")
SLM_VARS = env_names("slm_base_url", "slm_model", "slm_max_tokens", "slm_connect_timeout", "slm_read_timeout", "slm_max_attempts")
KEY_VARS = env_names(
    "vault_addr", "vault_token", "vault_token_file", "vault_k8s_role", "slm_key_vault_mount", "slm_key_vault_path",
    "slm_key_vault_field", "slm_api_key_file", "slm_api_key", "secret_sources", "secret_reload_seconds",
)  # fmt: skip
WORKER_VARS = env_names("worker_concurrency", "worker_drain_seconds", "worker_heartbeat_seconds", "worker_stalled_seconds")
GATEWAY_VARS = env_names("host", "port", "max_message_chars", "sse_keepalive_seconds")


def settings() -> config.Settings:
    """This process's settings, with logging set up from them."""
    current = config.get()
    logs.setup(current.log_level)
    return current


def fail(exc: errors.SomaError) -> NoReturn:
    """Print the error and its causes on stderr, exit 1."""
    typer.echo(f"error: {exc.message}", err=True)
    cause = exc.__cause__
    while cause is not None:
        typer.echo(f"  caused by: {type(cause).__name__}: {cause}", err=True)
        cause = cause.__cause__
    raise typer.Exit(1)
