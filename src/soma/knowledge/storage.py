"""Knowledge files on disk: SOMA_DATA_DIR/knowledge/<sha256[:2]>/<sha256>, one file per distinct content."""

from __future__ import annotations

import hashlib
import os
import tempfile
import unicodedata
from pathlib import Path, PurePosixPath, PureWindowsPath
from types import TracebackType

from soma import errors

FILENAME_CHARS = 255  # characters kept of an uploaded file's name


def root(data_dir: Path) -> Path:
    """The folder that holds every knowledge file."""
    return data_dir / "knowledge"


def path_for(data_dir: Path, sha256: str) -> Path:
    """Where the file with this content lives."""
    return root(data_dir) / sha256[:2] / sha256


def existing_path(data_dir: Path, sha256: str) -> Path:
    """Where the file with this content lives; FileMissing when it is not there."""
    path = path_for(data_dir, sha256)
    if not path.is_file():
        raise errors.FileMissing(f"No file at {path}.")
    return path


def remove(data_dir: Path, sha256: str) -> None:
    """Delete the file with this content, if it is there."""
    path_for(data_dir, sha256).unlink(missing_ok=True)


def clean_filename(raw: str) -> str:
    """The name an upload is listed under: its last path component, without control characters."""
    name = PureWindowsPath(PurePosixPath(raw).name).name  # browsers and curl may send a whole path
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    return name[:FILENAME_CHARS] or "upload"


class Upload:
    """A file being received: written to a temporary file beside its final place, hashed and counted.

    Used as a context manager: a file not kept by the end of the block is deleted.
    """

    def __init__(self, data_dir: Path, max_bytes: int) -> None:
        self.data_dir = data_dir
        self.max_bytes = max_bytes
        self.size = 0
        self._hash = hashlib.sha256()
        # In the same tree as the final place, so moving it there is one atomic rename.
        incoming = root(data_dir) / "incoming"
        incoming.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=incoming, prefix="upload-")
        self._temp = Path(name)
        self._file = os.fdopen(fd, "wb")
        self._kept = False

    def __enter__(self) -> Upload:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if not self._file.closed:
            self._file.close()
        if not self._kept:
            self._temp.unlink(missing_ok=True)

    @property
    def kept(self) -> bool:
        """True once the file has been moved to its place."""
        return self._kept

    @property
    def sha256(self) -> str:
        """The hex SHA-256 of the bytes written so far."""
        return self._hash.hexdigest()

    def write(self, data: bytes) -> None:
        """Append data; FileTooLarge, before writing it, when it takes the file past max_bytes."""
        if self.size + len(data) > self.max_bytes:
            raise errors.FileTooLarge(f"The file is over the {self.max_bytes}-byte limit set by upload_max_bytes.")
        self.size += len(data)
        self._hash.update(data)
        self._file.write(data)

    def finish(self) -> None:
        """Flush the whole file to disk; call once every byte is written."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    def keep(self) -> Path:
        """Move the finished file to its place by content (replacing an identical one); returns that place."""
        target = path_for(self.data_dir, self.sha256)
        target.parent.mkdir(exist_ok=True)
        os.replace(self._temp, target)
        self._kept = True
        return target
