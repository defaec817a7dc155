"""Workspaces: a chat's files, their paths and limits, and the files a message carries."""

from __future__ import annotations

from soma.errors.base import NotFound, SomaError


class InvalidPath(SomaError):
    """A file of a chat is named by a relative path with `/` between its parts: no leading `/`, no `.` or `..` part, no empty part, no control or bidi character, at most 255 bytes a part and 1024 bytes in all. Rename the file and try again."""

    status_code = 422
    code = "invalid_path"


class WorkspaceFileNotFound(NotFound):
    """The chat has no file at this path. List its files with GET /v1/sessions/{id}/files."""

    code = "workspace_file_not_found"


class WorkspaceFileChanged(SomaError):
    """The file was changed or deleted while it was being read, so it was not sent whole. Read it again."""

    status_code = 409
    code = "workspace_file_changed"


class WorkspaceFull(SomaError):
    """A chat's files may hold at most what the `workspace_max_mb` setting says. Delete files the chat no longer needs (DELETE /v1/sessions/{id}/files/{path}), or ask an admin to raise workspace_max_mb."""

    status_code = 413
    code = "workspace_full"


class WorkspaceFileTooLarge(SomaError):
    """One file of a chat holds at most 256 MiB. Split the file, or keep a smaller one in the chat."""

    status_code = 413
    code = "workspace_file_too_large"


class TooManyWorkspaceFiles(SomaError):
    """A chat holds at most 10,000 files. Delete files the chat no longer needs, or combine them (a zip, say)."""

    status_code = 413
    code = "too_many_workspace_files"


class AttachmentTooLarge(SomaError):
    """A file attached to a message holds at most 25 MiB. Attach a smaller file, or split it over several messages."""

    status_code = 413
    code = "attachment_too_large"


class AttachmentsTooLarge(SomaError):
    """The files attached to one message hold at most 50 MiB together. Attach fewer files, and send the rest with the next message."""

    status_code = 413
    code = "attachments_too_large"


class TooManyAttachments(SomaError):
    """One message carries at most 20 files. Attach fewer, and send the rest with the next message."""

    status_code = 413
    code = "too_many_attachments"


class DuplicateAttachment(SomaError):
    """Each file of a message lands in the chat's files under its own name. Rename one of the files, and send the message again."""

    status_code = 422
    code = "duplicate_attachment"
