"""The error catalogue, one module per capability; each docstring is the message an operator reads, with the fix.

Every error is named here as `errors.Name`, so a call site reads `raise errors.SessionNotFound()`
wherever the class is declared. Only `soma.cli` and `soma.gateway.error_shape` turn them into exit codes
and HTTP responses.
"""

from soma.errors.base import (  # noqa: F401
    NotFound, SomaError,
)
from soma.errors.database import (  # noqa: F401
    DatabaseUnavailable, EmbeddedPostgresFailed, SchemaBehind,
)
from soma.errors.processes import (  # noqa: F401
    ChildKeepsFailing,
)
from soma.errors.conversations import (  # noqa: F401
    ApprovalDecided, ApprovalNotWaiting, ChatRequestInvalid, MessageNotEditable, MessageNotFound, MessageTooLarge, ModelNotFound, NothingToRegenerate,
    SessionNotFound, TurnFailed, TurnInProgress, TurnRateLimited,
)
from soma.errors.slm import (  # noqa: F401
    BadKeyInput, LocalSLMFailed, LocalSLMUnavailable, NewKeyRejected, RotationConflict, RotationNeedsVault,
    SLMAuthFailed, SLMBadRequest, SLMError, SLMNotConfigured, SLMRateLimited, SLMTimeout, SLMUnavailable,
    SmokeFailed,
)
from soma.errors.secrets import (  # noqa: F401
    InvalidSecretSources, VaultAuthFailed, VaultSecretInvalid, VaultUnreachable,
)
from soma.errors.auth import (  # noqa: F401
    BootstrapKeyInvalid, CSRFRejected, Forbidden, InvalidApiKey, InvalidUser, KeyNotFound, KeysHaveNoPassword,
    LoginFailed, OwnAccountLocked, PasswordTooLong, PasswordsDiffer, RevokeNeedsOneTarget, SetupDone,
    SetupLinkInvalid, TooManyLoginAttempts, Unauthenticated, UserNotFound, UsernameTaken, WeakPassword,
    WrongPassword,
)
from soma.errors.oidc import (  # noqa: F401
    LocalLoginOff, OIDCEmailUnverified, OIDCNotAllowed, OIDCNotConfigured, OIDCNotInvited, OIDCProviderRefused,
    OIDCProviderUnreachable, OIDCSecretMissing, OIDCSettingsInvalid, OIDCStateInvalid, OIDCTokenInvalid,
)
from soma.errors.settings import (  # noqa: F401
    BadSetting, InvalidSettings,
)
from soma.errors.tools import (  # noqa: F401
    InvalidToolChoice, InvalidToolServer, ToolNotFound, ToolServerNotFound,
)
from soma.errors.agents import (  # noqa: F401
    InvalidProfile, InvalidTask, ProfileExists, ProfileInUse, ProfileNotFound, SubordinateChat, TaskNotFound, UnknownProfile,
)
from soma.errors.embeddings import (  # noqa: F401
    EmbeddingModelMissing,
)
from soma.errors.memory import (  # noqa: F401
    InvalidMemory, MemoryNotFound, MemoryTooLarge,
)
from soma.errors.knowledge import (  # noqa: F401
    DocumentNotFound, FileTooLarge, KnowledgeFilesMissing, ParseError, UnsupportedFileType, UploadCutOff,
)
from soma.errors.workspaces import (  # noqa: F401
    AttachmentTooLarge, AttachmentsTooLarge, DuplicateAttachment, InvalidPath, TooManyAttachments, TooManyWorkspaceFiles,
    WorkspaceFileChanged, WorkspaceFileNotFound, WorkspaceFileTooLarge, WorkspaceFull,
)
from soma.errors.emergency import (  # noqa: F401
    EmergencyNotConfirmed, EmergencyStepFailed, Lockdown, SLMKeyNotInVault,
)
from soma.errors.tunnel import (  # noqa: F401
    TunnelDoorUnavailable, TunnelRefused,
)
from soma.errors.requests import (  # noqa: F401
    RequestTooLarge,
)
from soma.errors.mcp_server import (  # noqa: F401
    McpAnswerTimedOut, McpArgumentInvalid, McpChatNotFound, McpNeedsKey,
)
from soma.errors.backup import (  # noqa: F401
    AgentZeroArchiveBroken, AgentZeroArchiveRefused, AgentZeroPickleRefused, BackupBlobsMismatch,
    BackupChecksumMismatch, BackupCountsWrong, BackupDataInvalid, BackupDirUnusable, BackupEntryUnexpected,
    BackupEntryUnsafe, BackupFileUnusable, BackupFormatNewer, BackupInvalid, BackupSchemaNewer, BackupTooLarge,
    BackupTruncated, NotABackup, RestoreBusy, RestoreInProgress, RestoreNeedsYes, RestoreNotFound, RestoreNotStaged,
    RestoreStale,
)
from soma.errors.sandbox import (  # noqa: F401
    RunRequestInvalid, RunRequestTooLarge, SandboxBroken, SandboxKeyRejected, SandboxKeyUnusable, SandboxUnauthorized,
    SandboxUnavailable,
)
