"""SQLAlchemy Core tables; the migrations in db/migrations create them.

tests/db/test_tables.py compares the two. Triggers and their functions (session_events' NOTIFY,
the append-only guards) live only in the migrations: SQLAlchemy Core has no place for them.
"""

from __future__ import annotations

import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects.postgresql import ARRAY, JSON, JSONB, UUID

metadata = sa.MetaData()

chat_sessions = sa.Table(
    "chat_sessions",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    # Last event id handed out; bumping it row-locks the session so events commit in id order.
    sa.Column("last_event_id", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("owner", sa.Text),  # "user:<id>" or "key:<id>"; None for chats from before access control
    sa.Column("profile", sa.Text),  # the agent_profiles name chosen at creation; None: the settings alone (chats from before 0014)
    # A subordinate chat made by the `delegate` tool: its parent chat, the parent's tool call, and how
    # deep below a top chat it is (top chats 0). Unique per parent call: a resumed parent finds its child.
    sa.Column("parent_session_id", UUID(as_uuid=True), sa.ForeignKey("chat_sessions.id", ondelete="CASCADE")),
    sa.Column("parent_call_id", sa.Text),
    sa.Column("depth", sa.Integer, nullable=False, server_default="0"),
    sa.UniqueConstraint("parent_session_id", "parent_call_id", name="chat_sessions_parent_call"),
    sa.Index("chat_sessions_recent", sa.text("updated_at DESC")),
    sa.Index("chat_sessions_owner", "owner", sa.text("updated_at DESC")),
)

messages = sa.Table(
    "messages",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("session_id", UUID(as_uuid=True), sa.ForeignKey("chat_sessions.id", ondelete="CASCADE"), nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    # The user message an assistant message answers: unique, so a turn run twice answers once.
    sa.Column("reply_to", sa.BigInteger, sa.ForeignKey("messages.id", ondelete="CASCADE"), unique=True),
    sa.Column("meta", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    # What the message said before it was regenerated or edited: [{content, meta, created_at}], oldest first.
    sa.Column("versions", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.CheckConstraint("role IN ('user', 'assistant')", name="messages_role_check"),
    sa.Index("messages_session_order", "session_id", "id"),
    # Equality on content (migration 0009): the OpenAI-compatible API finds the chat a client's history continues.
    sa.Index("messages_content_hash", "content", postgresql_using="hash"),
)

# Full-text search over titles and messages. Queries must use these very expressions, so the GIN
# indexes below (migration 0008) serve them: 'simple' neither stems nor drops stop words (any
# language), and only a message's first SEARCHED_CHARS count, since a tsvector holds at most 1 MB.
SEARCH_CONFIG = sa.literal_column("'simple'::regconfig")
SEARCHED_CHARS = 100_000
TITLE_WORDS = sa.func.to_tsvector(SEARCH_CONFIG, chat_sessions.c.title)
CONTENT_WORDS = sa.func.to_tsvector(SEARCH_CONFIG, sa.func.left(messages.c.content, sa.literal_column(str(SEARCHED_CHARS))))
chat_sessions.append_constraint(
    sa.Index("chat_sessions_title_search", sa.text("to_tsvector('simple'::regconfig, title)"), postgresql_using="gin")
)
messages.append_constraint(
    sa.Index(
        "messages_content_search",
        sa.text(f"to_tsvector('simple'::regconfig, left(content, {SEARCHED_CHARS}))"),
        postgresql_using="gin",
    )
)

session_events = sa.Table(
    "session_events",
    metadata,
    sa.Column("session_id", UUID(as_uuid=True), sa.ForeignKey("chat_sessions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("data", JSONB, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

agent_settings = sa.Table(
    "agent_settings",
    metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True, server_default="1"),
    sa.Column("data", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("id = 1", name="agent_settings_single_row"),
)

procrastinate_migrations = sa.Table(
    "soma_procrastinate_migrations",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

EMBEDDING_DIMENSIONS = 384  # all-MiniLM-L6-v2; a new model gets a migration and a re-embed
# How the HNSW indexes over embeddings are built (migration 0011): a denser graph than pgvector's
# default ef_construction 64, so searches reach the same recall at less depth (soma.db.hnsw).
HNSW_GRAPH = {"m": 16, "ef_construction": 128}

memories = sa.Table(
    "memories",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("embedding", Vector(EMBEDDING_DIMENSIONS), nullable=False),
    sa.Column("embedding_model", sa.Text, nullable=False),
    sa.Column("embedding_runtime", sa.Text, nullable=False),  # with embedding_model: the embedder that made the vector (0016)
    sa.Column("source", sa.Text, nullable=False),  # 'user' (API/UI) or 'agent' (remember tool, "remember that …")
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("source IN ('user', 'agent')", name="memories_source_check"),
    sa.Index("memories_embedding_hnsw", "embedding", postgresql_using="hnsw", postgresql_ops={"embedding": "vector_cosine_ops"}, postgresql_with=HNSW_GRAPH),
    sa.Index("memories_recent", sa.text("id DESC")),
)

# Knowledge file bytes, one blob per distinct content. While an upload's transaction is open its
# blob is keyed `incoming:<uuid>`; it is renamed to the content's sha256 before it commits.
knowledge_blobs = sa.Table(
    "knowledge_blobs",
    metadata,
    sa.Column("sha256", sa.Text, primary_key=True),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
)

knowledge_blob_pieces = sa.Table(
    "knowledge_blob_pieces",
    metadata,
    sa.Column(
        "sha256", sa.Text, sa.ForeignKey("knowledge_blobs.sha256", ondelete="CASCADE", onupdate="CASCADE"), primary_key=True
    ),
    sa.Column("ordinal", sa.Integer, primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),  # knowledge.blobs.PIECE_BYTES each, the last one shorter
)

knowledge_documents = sa.Table(
    "knowledge_documents",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
    sa.Column("filename", sa.Text, nullable=False),
    sa.Column("content_type", sa.Text, nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.Text, sa.ForeignKey("knowledge_blobs.sha256"), nullable=False, unique=True),
    sa.Column("state", sa.Text, nullable=False, server_default="pending"),
    sa.Column("error", sa.Text),
    sa.Column("chunk_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("state IN ('pending', 'indexing', 'ready', 'failed')", name="knowledge_documents_state_check"),
)

knowledge_chunks = sa.Table(
    "knowledge_chunks",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("document_id", UUID(as_uuid=True), sa.ForeignKey("knowledge_documents.id", ondelete="CASCADE"), nullable=False),
    sa.Column("ordinal", sa.Integer, nullable=False),
    sa.Column("content", sa.Text, nullable=False),
    sa.Column("embedding", Vector(EMBEDDING_DIMENSIONS), nullable=False),
    sa.Column("embedding_model", sa.Text, nullable=False),
    sa.Column("embedding_runtime", sa.Text, nullable=False),
    sa.UniqueConstraint("document_id", "ordinal", name="knowledge_chunks_document_ordinal"),
    sa.Index("knowledge_chunks_document", "document_id"),
    sa.Index("knowledge_chunks_embedding_hnsw", "embedding", postgresql_using="hnsw", postgresql_ops={"embedding": "vector_cosine_ops"}, postgresql_with=HNSW_GRAPH),
)

# The re-embedding under way or last done (soma.embeddings.reembed); one row.
reembedding = sa.Table(
    "reembedding",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("runtime", sa.Text, nullable=False),
    sa.Column("done", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("total", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("after", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),  # per table, the last id passed
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("id = 1", name="reembedding_single_row"),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("target", sa.Text, nullable=False, server_default=""),
    sa.Column("client_address", sa.Text),
    sa.Column("details", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Index("audit_log_action_at", "action", "at"),
    sa.Index("audit_log_at", "at"),
    sa.Index("audit_log_client_at", "client_address", "at"),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("username", sa.Text, nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("role", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("password_changed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("disabled_at", sa.DateTime(timezone=True)),
    sa.Column("oidc_issuer", sa.Text),  # with oidc_subject: who the person is at the identity provider (0015)
    sa.Column("oidc_subject", sa.Text),
    sa.Column("email", sa.Text),  # invited by this e-mail, or as the provider last said
    sa.Column("break_glass", sa.Boolean, nullable=False, server_default=sa.false()),  # a password that works with local login off
    sa.CheckConstraint("role IN ('admin', 'member')", name="users_role_check"),
    sa.CheckConstraint("(oidc_issuer IS NULL) = (oidc_subject IS NULL)", name="users_oidc_pair_check"),
    sa.Index("users_username_key", sa.text("lower(username)"), unique=True),  # one account per name, whatever its case
    sa.Index("users_oidc_identity", "oidc_issuer", "oidc_subject", unique=True),
    sa.Index("users_invited_email", sa.text("lower(email)"), unique=True,
             postgresql_where=sa.text("oidc_subject IS NULL AND email IS NOT NULL")),  # fmt: skip
)

login_sessions = sa.Table(
    "login_sessions",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),
    sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("csrf_token", sa.Text, nullable=False),
    sa.Column("client_address", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ended_at", sa.DateTime(timezone=True)),
    sa.Column("method", sa.Text, nullable=False, server_default="password"),  # password, break_glass or oidc
    sa.CheckConstraint("method IN ('password', 'break_glass', 'oidc')", name="login_sessions_method_check"),
    sa.Index("login_sessions_user", "user_id"),
)

oidc_logins = sa.Table(
    "oidc_logins",
    metadata,
    sa.Column("state_hash", sa.Text, primary_key=True),
    sa.Column("browser_hash", sa.Text, nullable=False),
    sa.Column("nonce", sa.Text, nullable=False),
    sa.Column("code_verifier", sa.Text, nullable=False),
    sa.Column("next_path", sa.Text, nullable=False),
    sa.Column("client_address", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("oidc_logins_expires", "expires_at"),
    sa.Index("oidc_logins_client", "client_address"),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),
    sa.Column("prefix", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("scopes", ARRAY(sa.Text), nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("last_used_at", sa.DateTime(timezone=True)),
    sa.Column("expires_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("scopes <@ ARRAY['admin', 'chat', 'metrics']::text[] AND cardinality(scopes) > 0", name="api_keys_scopes_check"),
)

setup_tokens = sa.Table(
    "setup_tokens",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("token_hash", sa.Text, nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("used_at", sa.DateTime(timezone=True)),
)

# A backup uploaded for restore, staged and verified, until it is applied or discarded (soma.backup.staging).
restores = sa.Table(
    "restores",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
    sa.Column("state", sa.Text, nullable=False, server_default="staged"),
    sa.Column("filename", sa.Text, nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("schema_revision", sa.Text, nullable=False),  # the schema its staged records are shaped for
    sa.Column("manifest", JSONB, nullable=False),
    sa.Column("settings", JSONB, nullable=False),  # the backup's settings.json
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("finished_at", sa.DateTime(timezone=True)),  # applied or discarded
    sa.Column("finished_by", sa.Text),
    sa.Column("mode", sa.Text),
    sa.CheckConstraint("state IN ('staged', 'applied', 'discarded')", name="restores_state_check"),
    sa.CheckConstraint("mode IN ('overwrite', 'preserve_settings')", name="restores_mode_check"),
)

# One segment of a table from the backup: a JSON array of records (json keeps pgvector's text exact).
restore_segments = sa.Table(
    "restore_segments",
    metadata,
    sa.Column("restore_id", UUID(as_uuid=True), sa.ForeignKey("restores.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("records", JSON, nullable=False),
)

# The knowledge files a staged restore holds, so no document delete removes their bytes meanwhile.
restore_blobs = sa.Table(
    "restore_blobs",
    metadata,
    sa.Column("restore_id", UUID(as_uuid=True), sa.ForeignKey("restores.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("sha256", sa.Text, sa.ForeignKey("knowledge_blobs.sha256", onupdate="CASCADE"), primary_key=True),
    sa.Index("restore_blobs_sha256", "sha256"),
)

# The public tunnel: `enabled`/`mode` as an admin set them, `state`/`public_url`/`last_error` as the
# one supervisor running cloudflared last reported them (migration 0007).
tunnel_state = sa.Table(
    "tunnel_state",
    metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True, server_default="1"),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("mode", sa.Text, nullable=False, server_default="token"),
    sa.Column("changed_at", sa.DateTime(timezone=True)),
    sa.Column("changed_by", sa.Text),
    sa.Column("state", sa.Text, nullable=False, server_default="off"),
    sa.Column("public_url", sa.Text),
    sa.Column("last_error", sa.Text),
    sa.Column("reported_at", sa.DateTime(timezone=True)),
    sa.CheckConstraint("id = 1", name="tunnel_state_single_row"),
    sa.CheckConstraint("mode IN ('token', 'quick')", name="tunnel_state_mode_check"),
    sa.CheckConstraint("state IN ('off', 'starting', 'connected', 'failed')", name="tunnel_state_state_check"),
)

# Running turn jobs asked to stop (POST /v1/sessions/{id}/stop); the worker polls for its job's row
# and deletes it when the turn ends. No foreign keys: restores TRUNCATE the chat tables.
turn_stops = sa.Table(
    "turn_stops",
    metadata,
    sa.Column("job_id", sa.BigInteger, primary_key=True),
    sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

# The emergency lockdown (`soma emergency-stop`): while `active`, every process refuses work.
lockdown = sa.Table(
    "lockdown",
    metadata,
    sa.Column("id", sa.SmallInteger, primary_key=True, server_default="1"),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("reason", sa.Text),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("started_by", sa.Text),
    sa.Column("lifted_at", sa.DateTime(timezone=True)),
    sa.Column("lifted_by", sa.Text),
    sa.CheckConstraint("id = 1", name="lockdown_single_row"),
)

# MCP tool servers an admin configured (PUT /v1/tools/servers/{name}). `config` is the server's
# entry as the mcpServers JSON has it ({"command", "args", "env"} or {"url", "headers"}, with
# "transport"); a secret in env or headers is a reference (vault:, env:, file:), never a value.
tool_servers = sa.Table(
    "tool_servers",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("config", sa.JSON, nullable=False),  # json, not jsonb: keeps the entry's key order for the export
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("init_timeout", sa.Float, nullable=False, server_default="10"),
    sa.Column("call_timeout", sa.Float, nullable=False, server_default="120"),
    sa.Column("output_cap", sa.Integer, nullable=False, server_default="65536"),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

# What the last connection to each server found: its state, error and tools (name, description,
# input_schema, annotations), written by whichever process connected (gateway probe or worker).
tool_catalogue = sa.Table(
    "tool_catalogue",
    metadata,
    sa.Column("server", sa.Text, primary_key=True),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("tools", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("state IN ('connected', 'failed', 'disabled')", name="tool_catalogue_state_check"),
)

# An admin's choice for one tool (PATCH /v1/tools/{server}/{tool}); a tool without a row is enabled
# and runs without asking. Built-in tools have server 'soma'.
tool_settings = sa.Table(
    "tool_settings",
    metadata,
    sa.Column("server", sa.Text, primary_key=True),
    sa.Column("tool", sa.Text, primary_key=True),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("approval", sa.Text, nullable=False, server_default="auto"),
    sa.CheckConstraint("approval IN ('auto', 'ask')", name="tool_settings_approval_check"),
)

# A user's answer to a `tool.approval` (POST /v1/sessions/{id}/approvals/{call_id}); the turn
# waiting for it polls. No foreign key: a restore TRUNCATEs the chat tables.
tool_approvals = sa.Table(
    "tool_approvals",
    metadata,
    sa.Column("session_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("call_id", sa.Text, primary_key=True),
    sa.Column("allow", sa.Boolean, nullable=False),
    sa.Column("decided_by", sa.Text),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
)

# A chat's workspace (soma.workspaces): its files whole, one row a file, deleted with the chat. The
# bytes are kept uncompressed out of line (migration 0013: STORAGE EXTERNAL), so substring() reads a
# piece of a large file without the rest: downloads and backups stream it.
workspace_files = sa.Table(
    "workspace_files",
    metadata,
    sa.Column("session_id", UUID(as_uuid=True), sa.ForeignKey("chat_sessions.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("path", sa.Text, primary_key=True),  # workspaces.paths.clean's form: relative, POSIX, no `..`
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),  # bytes
    sa.Column("sha256", sa.Text, nullable=False),
    sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("size = octet_length(data)", name="workspace_files_size_check"),
    sa.Index("workspace_files_sha256", "sha256"),  # a backup writes each content once, in sha256 order
)

# The workspace file bytes a staged restore holds, by content, in pieces as the archive streamed them;
# the apply joins each file's pieces into its workspace_files row.
restore_file_pieces = sa.Table(
    "restore_file_pieces",
    metadata,
    sa.Column("restore_id", UUID(as_uuid=True), sa.ForeignKey("restores.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("sha256", sa.Text, primary_key=True),
    sa.Column("ordinal", sa.Integer, primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

# Agent profiles (soma.profiles): what a chat's agent is. `system_prompt` follows the settings' own;
# `model`, `tools` (function names; None: every enabled tool) and `max_tool_steps` None fall back to the settings.
agent_profiles = sa.Table(
    "agent_profiles",
    metadata,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("system_prompt", sa.Text, nullable=False, server_default=""),
    sa.Column("model", sa.Text),
    sa.Column("tools", JSONB),
    sa.Column("max_tool_steps", sa.Integer),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("max_tool_steps BETWEEN 1 AND 50", name="agent_profiles_steps_check"),
)

# Scheduled tasks (soma.schedules): a prompt run as a turn at each due time. `schedule` is one of
# {"cron", "timezone"}, {"every_seconds"}, {"at": [iso datetimes]}; `next_run_at` None: no run left.
scheduled_tasks = sa.Table(
    "scheduled_tasks",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True, server_default=sa.text("gen_random_uuid()")),
    sa.Column("owner", sa.Text, nullable=False),  # "user:<id>" or "key:<id>", as chat_sessions.owner
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("prompt", sa.Text, nullable=False),
    sa.Column("profile", sa.Text, sa.ForeignKey("agent_profiles.name", onupdate="CASCADE", ondelete="RESTRICT")),
    sa.Column("schedule", JSONB, nullable=False),
    sa.Column("target", sa.Text, nullable=False, server_default="new_chat"),  # new_chat | same_chat
    sa.Column("session_id", UUID(as_uuid=True)),  # same_chat's chat; no foreign key: a restore TRUNCATEs the chat tables
    sa.Column("missed", sa.Text, nullable=False, server_default="skip"),  # skip | run_once: due times missed while down
    sa.Column("paused", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("webhook_url", sa.Text),
    sa.Column("webhook_secret", sa.Text),  # HMAC-SHA256 key of the webhook's signature
    sa.Column("next_run_at", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint("target IN ('new_chat', 'same_chat')", name="scheduled_tasks_target_check"),
    sa.CheckConstraint("missed IN ('skip', 'run_once')", name="scheduled_tasks_missed_check"),
    sa.Index("scheduled_tasks_due", "next_run_at", postgresql_where=sa.text("NOT paused AND next_run_at IS NOT NULL")),
    sa.Index("scheduled_tasks_owner", "owner"),
)

# One row per task and due time (unique: a due time becomes one turn across every worker), newest last.
task_runs = sa.Table(
    "task_runs",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("task_id", UUID(as_uuid=True), sa.ForeignKey("scheduled_tasks.id", ondelete="CASCADE"), nullable=False),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("manual", sa.Boolean, nullable=False, server_default=sa.false()),  # POST /v1/tasks/{id}/run
    sa.Column("late", sa.Boolean, nullable=False, server_default=sa.false()),  # run after downtime (missed: run_once)
    sa.Column("outcome", sa.Text, nullable=False, server_default="running"),  # running | answered | failed | skipped
    sa.Column("reason", sa.Text),  # why failed or skipped, in words
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("session_id", UUID(as_uuid=True)),  # no foreign keys to the chat tables: a restore TRUNCATEs them
    sa.Column("message_id", sa.BigInteger),  # the prompt as posted
    sa.Column("webhook", JSONB),  # the delivery: {attempts, status, error, delivered_at}
    sa.Column("read_at", sa.DateTime(timezone=True)),  # None on a finished run: unread
    sa.UniqueConstraint("task_id", "due_at", name="task_runs_once_per_due_time"),
    sa.CheckConstraint("outcome IN ('running', 'answered', 'failed', 'skipped')", name="task_runs_outcome_check"),
    sa.Index("task_runs_newest", "task_id", sa.text("id DESC")),
    sa.Index("task_runs_message", "message_id"),
)
