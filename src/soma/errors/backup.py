"""Backups, restores and Agent Zero imports: what a refused archive, a staged restore or a backup file says to the operator."""

from __future__ import annotations

from soma.errors.base import NotFound, SomaError


class BackupInvalid(SomaError):
    """This backup cannot be used, so nothing was changed. Make a new one with `soma backup create`; docs/backup-format.md lists what a backup must hold."""

    status_code = 422
    code = "backup_invalid"


class NotABackup(BackupInvalid):
    """This file is not a Soma backup. Give a file made by `soma backup create` or GET /v1/backup."""

    code = "backup_not_soma"


class BackupTruncated(BackupInvalid):
    """The backup ends early: it was cut off while being written or copied. Copy it again, or make a new one with `soma backup create`."""

    code = "backup_truncated"


class BackupEntryUnsafe(BackupInvalid):
    """A Soma backup holds only regular files under soma-backup/, so this archive was refused. Use a backup made by `soma backup create`, not one rebuilt by hand."""

    code = "backup_entry_unsafe"


class BackupEntryUnexpected(BackupInvalid):
    """A Soma backup holds a fixed list of entries in a fixed order (docs/backup-format.md). Use a backup made by `soma backup create`, not one rebuilt by hand."""

    code = "backup_entry_unexpected"


class BackupTooLarge(BackupInvalid):
    """The backup is over a size limit of docs/backup-format.md, so it was not read further. Use a backup made by `soma backup create`."""

    code = "backup_too_large"


class BackupChecksumMismatch(BackupInvalid):
    """The backup was altered or damaged after it was made. Copy it again from where it was stored, or make a new one with `soma backup create`."""

    code = "backup_checksum_mismatch"


class BackupFormatNewer(BackupInvalid):
    """A newer Soma made this backup. Upgrade Soma to that version or later, then try again."""

    code = "backup_format_newer"


class BackupSchemaNewer(BackupInvalid):
    """A newer Soma made this backup, from a database schema this version does not know. Upgrade Soma to that version or later, then try again."""

    code = "backup_schema_newer"


class BackupCountsWrong(BackupInvalid):
    """The backup's manifest does not match what the backup holds, so it was altered or damaged. Make a new one with `soma backup create`."""

    code = "backup_counts_wrong"


class BackupDataInvalid(BackupInvalid):
    """A record in the backup is not what this version of Soma writes, so it was altered or damaged. Make a new one with `soma backup create`."""

    code = "backup_data_invalid"


class BackupBlobsMismatch(BackupInvalid):
    """The backup's knowledge files do not match its documents, so it was altered or damaged. Make a new one with `soma backup create`."""

    code = "backup_blobs_mismatch"


class BackupFileUnusable(SomaError):
    """Check the path and its permissions (and the free space where a backup is written), then run the command again."""

    code = "backup_file_unusable"


class BackupDirUnusable(SomaError):
    """The scheduled backup failed and the next one tries again. Check that SOMA_BACKUP_DIR exists or can be created, that the worker's user may write to it, and the free space on its disk."""

    code = "backup_dir_unusable"


class RestoreInProgress(SomaError):
    """A backup is being restored, so chats, memory, knowledge and settings cannot change right now. Try again in a few seconds."""

    status_code = 503
    code = "restore_in_progress"

    def __init__(self, detail: str | None = None, retry_after: int = 5) -> None:
        self.retry_after = retry_after
        super().__init__(detail)


class RestoreNotFound(NotFound):
    """No staged restore has this id. Upload the backup again with POST /v1/restores (or `soma backup restore FILE`)."""

    code = "restore_not_found"


class RestoreNotStaged(SomaError):
    """Only a staged restore can be applied or discarded. Upload the backup again to restore it once more."""

    status_code = 409
    code = "restore_not_staged"


class RestoreStale(SomaError):
    """The database schema changed (`soma migrate` ran) after this backup was staged. Discard it and upload the backup again."""

    status_code = 409
    code = "restore_stale"


class RestoreNeedsYes(SomaError):
    """Add --yes to restore without being asked, after reading the preview of `soma backup inspect FILE`."""

    code = "restore_needs_yes"


class AgentZeroArchiveRefused(BackupInvalid):
    """This Agent Zero backup holds an entry no backup made by Agent Zero holds (named above), so nothing was read from it. Make a new backup in Agent Zero (Settings → Backup & Restore) and give that file; docs/runbooks/migrate-from-agent-zero.md says what is checked."""

    code = "agent_zero_archive_refused"


class AgentZeroArchiveBroken(BackupInvalid):
    """This Agent Zero backup cannot be read: it is cut off or damaged. Download or copy it again from Agent Zero, or make a new one there (Settings → Backup & Restore)."""

    code = "agent_zero_archive_broken"


class AgentZeroPickleRefused(BackupInvalid):
    """Agent Zero's memory index (index.pkl) asks to load code that a memory index never holds, so it was not read. Make a new backup in Agent Zero, or restore without its memories; docs/runbooks/migrate-from-agent-zero.md explains the check."""

    code = "agent_zero_pickle_refused"


class RestoreBusy(SomaError):
    """The database was busy, so the restore was not applied and nothing changed; it stays staged. Apply it again in a few seconds, or when fewer chats are being written to."""

    status_code = 503
    code = "restore_busy"
    retry_after = 5  # seconds
