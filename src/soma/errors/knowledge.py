"""Knowledge files: uploads, their types and sizes, parsing."""

from __future__ import annotations

from soma.errors.base import NotFound, SomaError


class DocumentNotFound(NotFound):
    """No knowledge document has this id. List documents with GET /v1/knowledge."""


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
