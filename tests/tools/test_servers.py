"""A tool server's configuration: the mcpServers entry checked whole, secrets only as references, Soma's own out of reach."""

from __future__ import annotations

from pathlib import Path

import pytest

from soma import config, errors
from soma.tools import servers

SETTINGS = config.Settings(
    _env_file=None, slm_api_key_file=Path("/run/secrets/slm-key"), vault_token_file=Path("/run/secrets/vault-token")
)


def refusal(name: str, entry: object) -> str:
    with pytest.raises(errors.InvalidToolServer) as caught:
        servers.parse(name, entry, SETTINGS)
    return caught.value.message


def test_a_claude_desktop_document_is_exported_exactly_as_it_was_imported() -> None:
    document = {
        "mcpServers": {
            "github": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"],
                       "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "vault:kv/mcp/github#token", "LOG_LEVEL": "info"}},
            "remote": {"url": "https://mcp.example.com/mcp", "headers": {"Authorization": "Bearer env:REMOTE_MCP_TOKEN"}},
            "typed": {"type": "http", "url": "http://tools.internal:8080/mcp", "call_timeout": 600, "disabled": True},
        }
    }  # fmt: skip
    parsed = servers.parse_all(document["mcpServers"], SETTINGS)
    assert servers.export(parsed) == document
    assert [(s.name, s.transport, s.disabled, s.call_timeout) for s in parsed] == [
        ("github", "stdio", False, 120.0), ("remote", "streamable-http", False, 120.0), ("typed", "streamable-http", True, 600.0),
    ]  # fmt: skip


def test_the_apis_transport_spelling_and_the_defaults() -> None:
    server = servers.parse("time", {"transport": "stdio", "command": "uvx", "args": ["mcp-server-time"]}, SETTINGS)
    assert (server.transport, server.command, server.args, server.init_timeout, server.call_timeout, server.output_cap) == (
        "stdio", "uvx", ("mcp-server-time",), 10.0, 120.0, 65536,
    )  # fmt: skip


def test_a_literal_secret_in_a_secret_named_variable_or_header_is_refused_naming_the_key() -> None:
    message = refusal("github", {"command": "npx", "env": {"GITHUB_TOKEN": "ghp_0123456789abcdef", "LOG_LEVEL": "info"}})
    assert message == (
        "Tool server 'github': 'env.GITHUB_TOKEN' holds a plain value under a secret's name: store the secret in Vault and "
        "write a reference such as \"vault:kv/mcp/github#github_token\" (or env:NAME, file:/path) instead. "
        "No tool server was changed. Fix the named entry (docs/runbooks/add-a-tool-server.md shows each field), then send it again."
    )
    message = refusal("remote", {"url": "https://x.example/mcp", "headers": {"Authorization": "Bearer abc123def456"}})
    assert "'headers.Authorization' holds a plain value under a secret's name" in message
    assert "abc123def456" not in message


def test_a_reference_to_one_of_somas_own_secrets_is_refused() -> None:
    own = {
        "A": "env:SOMA_DATABASE_URL", "B": "env:soma_vault_token", "C": "vault:kv/slm/api-key",
        "D": "vault:kv/cloudflare/tunnel-token#value", "E": "file:/run/secrets/slm-key", "F": "file:/run/secrets/../secrets/vault-token",
    }  # fmt: skip
    message = refusal("sneaky", {"command": "x", "env": own})
    assert message.count("names one of Soma's own settings") == 2
    assert message.count("is one of Soma's own secrets in Vault") == 2
    assert message.count("is one of Soma's own secret files") == 2


def test_a_url_with_credentials_a_secret_query_or_a_link_local_address_is_refused() -> None:
    assert "must not hold a user or password" in refusal("a", {"url": "https://user:pw@mcp.example.com/mcp"})
    assert "must not carry a secret in its query" in refusal("a", {"url": "https://mcp.example.com/mcp?api_key=123456"})
    assert "link-local or unspecified address" in refusal("a", {"url": "http://169.254.169.254/latest/meta-data"})
    assert "link-local or unspecified address" in refusal("a", {"url": "http://[fe80::1]/mcp"})
    assert "must be an http:// or https:// URL" in refusal("a", {"url": "file:///etc/passwd"})
    assert "the SSE transport is not supported" in refusal("a", {"type": "sse", "url": "https://mcp.example.com/sse"})
    servers.parse("lan", {"url": "http://10.0.0.7:8080/mcp"}, SETTINGS)  # private addresses are in-cluster servers: allowed


def test_every_problem_of_an_entry_is_named_at_once() -> None:
    message = refusal("bad name!", {"command": "", "args": "x", "init_timeout": 0, "call_timeout": 1e9, "output_cap": 1.5, "cwd": "/"})
    assert message.startswith("Tool server 'bad name!': the name 'bad name!' must be 1-32 letters, digits, '_' or '-' (no '__'); ")
    for part in (
        "'cwd' is not a stdio server's key (allowed: args, call_timeout, command, disabled, env, init_timeout, output_cap, transport, type)",
        "'init_timeout' must be a number of seconds above 0 and at most 600 (got 0)",
        "'call_timeout' must be a number of seconds above 0 and at most 86400 (got 1000000000.0)",
        "'output_cap' must be a whole number of bytes above 0 and at most 1048576 (got 1.5)",
        "'command' must be non-empty text",
        "'args' must be a list of at most 128 texts",
    ):
        assert part in message


def test_a_name_clashing_with_the_built_ins_or_a_server_with_both_transports_is_refused() -> None:
    assert "the built-in tools' own" in refusal("soma", {"command": "x"})
    assert "no 'url'" in refusal("both", {"command": "x", "url": "https://a.example/mcp"})
    assert "needs a 'command' (stdio) or a 'url'" in refusal("none", {})


def test_any_positive_timeout_within_the_bounds_is_taken() -> None:
    server = servers.parse("slow", {"command": "x", "init_timeout": 0.25, "call_timeout": 3600, "output_cap": 1}, SETTINGS)
    assert (server.init_timeout, server.call_timeout, server.output_cap) == (0.25, 3600.0, 1)
