"""SomaError and its subclasses: each docstring is the message an operator reads, with the fix."""

from __future__ import annotations


class SomaError(Exception):
    """Soma failed."""

    status_code = 500
    code = "internal"

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """The docstring, with the detail that names the offending value in front."""
        doc = (self.__doc__ or "").strip()
        return f"{self.detail} {doc}" if self.detail else doc


class SchemaBehind(SomaError):
    """The database schema is older than this version of Soma. Run `soma migrate`, then start again."""

    status_code = 503
    code = "schema_behind"


class DatabaseUnavailable(SomaError):
    """PostgreSQL did not answer or refused the connection. Check SOMA_DATABASE_URL (or the embedded server in SOMA_DATA_DIR), that the server runs and that it accepts this user."""

    status_code = 503
    code = "database_unavailable"

    def __init__(self, detail: str | None = None, retry_after: int | None = None) -> None:
        self.retry_after = retry_after  # seconds, sent as Retry-After when the gateway answers with this
        super().__init__(detail)


class EmbeddedPostgresFailed(SomaError):
    """The embedded PostgreSQL server could not start. Read its log in SOMA_DATA_DIR/postgres/log, or set SOMA_DATABASE_URL to use another server."""

    code = "embedded_postgres_failed"


class ChildKeepsFailing(SomaError):
    """It stopped before it was ready each time, so `soma up` stopped everything. Its last lines are printed above: fix what they name (a port in use, a setting), then run `soma up` again."""

    code = "child_keeps_failing"


class NotFound(SomaError):
    """Nothing exists at this id."""

    status_code = 404
    code = "not_found"


class SessionNotFound(NotFound):
    """No chat session has this id. List sessions with GET /v1/sessions, or create one with POST /v1/sessions."""


class DocumentNotFound(NotFound):
    """No knowledge document has this id. List documents with GET /v1/knowledge."""


class MemoryNotFound(NotFound):
    """No memory has this id. List memories with GET /v1/memories, or search them with GET /v1/memories?query=…."""


class MessageTooLarge(SomaError):
    """The message is longer than SOMA_MAX_MESSAGE_CHARS allows. Send a shorter message or raise that limit."""

    status_code = 413
    code = "message_too_large"


class LocalSLMUnavailable(SomaError):
    """The local SLM cannot start: install the extra with `pip install 'soma[local-slm]'` (`make run` does), or set SOMA_SLM_BASE_URL to an OpenAI-compatible server."""

    code = "local_slm_unavailable"


class LocalSLMFailed(SomaError):
    """The local SLM did not start: read the log the message names or the lines before it (a port in use, a damaged model file), or set SOMA_SLM_BASE_URL to an OpenAI-compatible server."""

    code = "local_slm_failed"


class SLMError(SomaError):
    """The SLM call failed."""

    code = "slm_error"
    retryable = False

    def __init__(self, detail: str | None = None, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(detail)


class SLMAuthFailed(SLMError):
    """The SLM API key is missing or was refused. Put a key the SLM accepts where `soma secrets status` says the key is read from (Vault kv/slm/api-key, SOMA_SLM_API_KEY_FILE or SOMA_SLM_API_KEY), then run `soma slm check`."""

    code = "slm_auth"


class SLMRateLimited(SLMError):
    """The SLM kept answering 429 Too Many Requests. Wait, or raise the provider's rate limit."""

    code = "slm_rate_limited"
    retryable = True


class SLMUnavailable(SLMError):
    """The SLM did not answer properly. Check that SOMA_SLM_BASE_URL points at a running OpenAI-compatible server."""

    code = "slm_unavailable"
    retryable = True


class SLMTimeout(SLMError):
    """The SLM stopped sending within SOMA_SLM_READ_TIMEOUT seconds. Check the SLM server's load, or raise that timeout."""

    code = "slm_timeout"
    retryable = True


class SLMBadRequest(SLMError):
    """The SLM rejected the request. Check SOMA_SLM_MODEL names a model the SLM serves."""

    code = "slm_bad_request"


class BadSetting(SomaError):
    """Fix the value in the environment or in .env, then start again; `soma COMMAND --help` names each command's settings."""

    code = "bad_setting"


class SLMNotConfigured(SomaError):
    """No SLM is configured for the worker. Set SOMA_SLM_BASE_URL (with /v1) and SOMA_SLM_API_KEY, or run `soma up`, which starts the local SLM."""

    code = "slm_not_configured"


class VaultUnreachable(SomaError):
    """Vault did not answer. Check SOMA_VAULT_ADDR and that Vault runs and is unsealed, or unset SOMA_VAULT_ADDR to read the SLM key from SOMA_SLM_API_KEY_FILE or SOMA_SLM_API_KEY."""

    status_code = 503
    code = "vault_unreachable"


class VaultAuthFailed(SomaError):
    """Soma cannot log in to Vault. Set SOMA_VAULT_TOKEN or SOMA_VAULT_TOKEN_FILE to a valid token, or SOMA_VAULT_K8S_ROLE to a Kubernetes auth role bound to this service account."""

    code = "vault_auth"


class VaultSecretInvalid(SomaError):
    """The Vault secret does not hold the SLM key where Soma looks. Write the key with `soma slm rotate-key`, or set SOMA_SLM_KEY_VAULT_FIELD to the field that holds it."""

    code = "vault_secret_invalid"


class InvalidSecretSources(SomaError):
    """SOMA_SECRET_SOURCES must list one or more of vault, file, env, comma-separated (default vault,file,env)."""

    code = "invalid_secret_sources"


class RotationNeedsVault(SomaError):
    """`soma slm rotate-key` writes the key to Vault: set SOMA_VAULT_ADDR and a Vault credential. Without Vault, follow docs/runbooks/rotate-slm-key.md (.env in dev, the Helm secret in prod)."""

    code = "rotation_needs_vault"


class RotationConflict(SomaError):
    """Someone else wrote the key meanwhile; nothing was written. Check `soma secrets status`, then rotate again."""

    code = "rotation_conflict"


class NewKeyRejected(SomaError):
    """The new key did not work against the SLM, so it was not stored and the current key stays in use. Check the key (and SOMA_SLM_BASE_URL), then rotate again."""

    code = "new_key_rejected"


class BadKeyInput(SomaError):
    """Give the new key alone on standard input or in the file named by --from-file: one line, no spaces."""

    code = "bad_key_input"


class SmokeFailed(SomaError):
    """The smoke test failed. Check the gateway (`/ready`), the worker's log and `soma slm check`."""

    code = "smoke_failed"


class Unauthenticated(SomaError):
    """Sign in first: log in on the web UI, or send `Authorization: Bearer <key>` with a key from `soma keys create`."""

    status_code = 401
    code = "unauthenticated"


class Forbidden(SomaError):
    """Your account or key is not allowed to do this. Ask an admin, or use a key with the needed scope."""

    status_code = 403
    code = "forbidden"


class KeysHaveNoPassword(Forbidden):
    """An API key has no password to change. Log in on the web UI to change your own; an admin resets another user's with `soma users reset-password`."""


class OwnAccountLocked(Forbidden):
    """Admins cannot disable or demote their own account, so an admin always remains. Ask another admin to do it."""


class CSRFRejected(SomaError):
    """A state-changing request made with the session cookie needs the X-CSRF-Token header from GET /v1/auth/me. Reload the page and try again."""

    status_code = 403
    code = "csrf"


class LoginFailed(SomaError):
    """Wrong username or password, or the account is disabled."""

    status_code = 401
    code = "login_failed"


class TooManyLoginAttempts(SomaError):
    """Too many failed logins. Wait and try again, or ask an admin to reset the password (`soma users reset-password`)."""

    status_code = 429
    code = "too_many_logins"

    def __init__(self, detail: str | None = None, retry_after: int = 60) -> None:
        self.retry_after = retry_after
        super().__init__(detail)


class SetupLinkInvalid(SomaError):
    """This setup link is used up or expired. Run `soma up` again for a new one, or create the admin with `soma users create --role admin`."""

    status_code = 410
    code = "setup_link_invalid"


class SetupDone(SomaError):
    """An account exists already, so setup links no longer work. Log in, or ask an admin to create your account."""

    status_code = 409
    code = "setup_done"


class WeakPassword(SomaError):
    """Choose a longer password."""

    status_code = 422
    code = "weak_password"


class PasswordTooLong(SomaError):
    """Choose a shorter password."""

    status_code = 422
    code = "password_too_long"


class PasswordsDiffer(SomaError):
    """The two passwords typed differ, so nothing changed. Type the same password twice."""

    status_code = 422
    code = "passwords_differ"


class InvalidUser(SomaError):
    """Fix the user's name or role and try again."""

    status_code = 422
    code = "invalid_user"


class UsernameTaken(SomaError):
    """Choose another username, or reset that user's password with `soma users reset-password`."""

    status_code = 409
    code = "username_taken"


class UserNotFound(SomaError):
    """List users with `soma users list` or GET /v1/users."""

    status_code = 404
    code = "user_not_found"


class KeyNotFound(SomaError):
    """List keys with `soma keys list` or GET /v1/keys."""

    status_code = 404
    code = "key_not_found"


class InvalidApiKey(SomaError):
    """Fix the key's name, scopes or expiry and try again."""

    status_code = 422
    code = "invalid_api_key"


class RevokeNeedsOneTarget(SomaError):
    """Give `soma keys revoke` one key id (from `soma keys list`), or --all to revoke every key."""

    status_code = 422
    code = "revoke_needs_one_target"


class BootstrapKeyInvalid(SomaError):
    """Put a long random key (e.g. from `openssl rand -hex 32`) in SOMA_BOOTSTRAP_ADMIN_KEY or in the file SOMA_BOOTSTRAP_ADMIN_KEY_FILE names, or unset both; docs/security.md explains the bootstrap key."""

    code = "bootstrap_key_invalid"


class WrongPassword(SomaError):
    """The current password is wrong, so nothing changed. Type it again, or ask an admin to reset it (`soma users reset-password`)."""

    status_code = 403
    code = "wrong_password"


class InvalidSettings(SomaError):
    """The settings were not changed. Send only known keys with valid values; GET /v1/settings shows them all."""

    status_code = 422
    code = "invalid_settings"


class MemoryTooLarge(SomaError):
    """A memory holds at most 4000 characters. Store a shorter fact, or split it into several memories."""

    status_code = 413
    code = "memory_too_large"


class InvalidMemory(SomaError):
    """The memory request is not valid. Send {"content": "the fact"} with some text; search with ?query=…, which returns one page."""

    status_code = 422
    code = "invalid_memory"


class UnsupportedFileType(SomaError):
    """Soma reads text (.txt), Markdown (.md), HTML (.html), PDF (.pdf), CSV (.csv) and JSON (.json) files. Convert the file to one of these types and upload it again."""

    status_code = 415
    code = "unsupported_file_type"


class FileTooLarge(SomaError):
    """Upload a smaller file, or raise the `upload_max_bytes` setting with PUT /v1/settings."""

    status_code = 413
    code = "file_too_large"


class UploadCutOff(SomaError):
    """The upload stopped before the whole file arrived, so nothing of it was stored. Upload the file again."""

    status_code = 400
    code = "upload_cut_off"


class ParseError(SomaError):
    """Delete this document, fix or convert the file, and upload it again."""

    code = "parse_failed"


class KnowledgeFilesMissing(SomaError):
    """`soma migrate` moves knowledge files from SOMA_DATA_DIR/knowledge into the database and changed nothing, since these are missing or altered. Set SOMA_DATA_DIR to the folder the gateway stored uploads in (with the soma-stack chart, set migrations.knowledgeClaim to the claim that held /data) and run `soma migrate` again; for a file that is lost, delete its document with the Soma version still running (DELETE /v1/knowledge/{id}) first."""

    code = "knowledge_files_missing"


class Lockdown(SomaError):
    """Soma is in emergency lockdown: an operator ran `soma emergency-stop`, and nothing but /health, /ready and /metrics is served. Only `soma emergency-stop --lift --reason TEXT` ends it; see docs/runbooks/emergency-shutdown.md."""

    status_code = 503
    code = "lockdown"


class EmergencyNotConfirmed(SomaError):
    """The emergency stop was not run: type STOP in `confirm` to revoke every key, end every session and lock Soma down."""

    status_code = 422
    code = "confirmation_required"


class EmergencyStepFailed(SomaError):
    """The rest of the emergency stop was carried out. Run the command again (it is safe to repeat), or do the failed step by hand following docs/runbooks/emergency-shutdown.md."""

    code = "emergency_step_failed"


class SLMKeyNotInVault(SomaError):
    """SOMA_VAULT_ADDR is not set, so the SLM key is not in Vault and Soma cannot delete it. Revoke the key at the SLM provider instead."""

    code = "slm_key_not_in_vault"


class TunnelRefused(SomaError):
    """The tunnel stays shut: opening it now would put an unprotected Soma on the internet. Fix what is named, then switch it on again (docs/architecture.md, "Public access")."""

    status_code = 409
    code = "tunnel_refused"


class MessageNotFound(NotFound):
    """No message of this chat has this id. List the chat's messages with GET /v1/sessions/{id}/messages."""


class MessageNotEditable(SomaError):
    """Only the chat's last user message can be edited. Send a new message instead, or regenerate the last answer with POST /v1/sessions/{id}/regenerate."""

    status_code = 409
    code = "message_not_editable"


class NothingToRegenerate(SomaError):
    """There is no answer to regenerate. Send a message with POST /v1/sessions/{id}/messages first."""

    status_code = 409
    code = "nothing_to_regenerate"


class TurnInProgress(SomaError):
    """Wait until it ends, or stop it with POST /v1/sessions/{id}/stop, then try again."""

    status_code = 409
    code = "turn_in_progress"


class ModelNotFound(NotFound):
    """Soma serves the model `soma` only. List the models with GET /v1/models and send one of their ids as `model`."""

    code = "model_not_found"


class ChatRequestInvalid(SomaError):
    """The chat completion request cannot become a turn. Send `messages` ending with a user message of text (docs/openai-api.md)."""

    status_code = 400
    code = "invalid_request"


class TurnFailed(SomaError):
    """The agent could not answer: its SLM failed (the reason is in front). Check the SLM with `soma slm check`, then send the request again; the chat keeps the question."""

    status_code = 503
    code = "turn_failed"


class TurnRateLimited(TurnFailed):
    """The agent's SLM kept refusing with 429 Too Many Requests. Wait, then send the request again; the chat keeps the question."""

    status_code = 429
    code = "rate_limit_exceeded"


# The backup and restore errors, by their own module: a name each, as `errors.BackupInvalid` etc.
from soma.errors.backup import *  # noqa: E402, F403  (after SomaError and NotFound, which they extend)


# The gateway's doors (issue 24): the body limit, and the tunnel's own listener.
class RequestTooLarge(SomaError):
    """Send a shorter message, or raise SOMA_MAX_MESSAGE_CHARS."""

    status_code = 413
    code = "request_too_large"


class TunnelDoorUnavailable(SomaError):
    """The gateway cannot serve the tunnel's door, so it does not start: cloudflared would reach nothing, or whatever else holds that port. Set SOMA_TUNNEL_ORIGIN_PORT (and SOMA_TUNNEL_ORIGIN_HOST) to a free address, the same for `soma tunnel run`, or SOMA_TUNNEL_ORIGIN_PORT=0 for a gateway the tunnel does not reach."""

    code = "tunnel_door_unavailable"
