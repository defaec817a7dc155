"""Knowledge file bytes in PostgreSQL: the files under SOMA_DATA_DIR/knowledge move into knowledge_blobs.

Each file is read in pieces (never whole), checked against its document's sha256 and written as
rows of knowledge_blob_pieces, in this migration's one transaction. A document whose file is
missing or altered stops the migration with KnowledgeFilesMissing before anything is written:
dropping an operator's document silently would lose data. The files are left on disk; once
`soma migrate` has succeeded SOMA_DATA_DIR/knowledge can be deleted. Downgrading writes the
files back to SOMA_DATA_DIR/knowledge before dropping the tables.

Revision ID: 0005
Revises: 0004
"""

import hashlib
import os
import tempfile
from pathlib import Path

import sqlalchemy as sa
from alembic import op

from soma import config, errors

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

PIECE_BYTES = 256 * 1024  # soma.knowledge.blobs.PIECE_BYTES when this migration was written
SHOWN = 10  # problems named in the error; the rest are counted


def upgrade() -> None:
    op.create_table(
        "knowledge_blobs",
        sa.Column("sha256", sa.Text, primary_key=True),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "knowledge_blob_pieces",
        sa.Column(
            "sha256", sa.Text, sa.ForeignKey("knowledge_blobs.sha256", ondelete="CASCADE", onupdate="CASCADE"), primary_key=True
        ),
        sa.Column("ordinal", sa.Integer, primary_key=True),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    bind = op.get_bind()
    documents = bind.execute(sa.text("SELECT id, filename, sha256 FROM knowledge_documents ORDER BY created_at, id")).all()
    if documents:
        _move_files(bind, _root(), documents)
    op.create_foreign_key("knowledge_documents_sha256_fkey", "knowledge_documents", "knowledge_blobs", ["sha256"], ["sha256"])


def downgrade() -> None:
    bind = op.get_bind()
    blobs = bind.execute(sa.text("SELECT sha256 FROM knowledge_blobs ORDER BY sha256")).scalars().all()
    if blobs:
        root = _root()
        for sha256 in blobs:
            _write_back(bind, root, sha256)
    op.drop_constraint("knowledge_documents_sha256_fkey", "knowledge_documents", type_="foreignkey")
    op.drop_table("knowledge_blob_pieces")
    op.drop_table("knowledge_blobs")


def _root() -> Path:
    """SOMA_DATA_DIR/knowledge, where Soma kept knowledge files before this revision."""
    return config.get().data_dir / "knowledge"


def _old_path(root: Path, sha256: str) -> Path:
    """Where Soma kept the file with this content before this revision."""
    return root / sha256[:2] / sha256


def _move_files(bind: sa.Connection, root: Path, documents: list[sa.Row]) -> None:
    """Copy every document's file into knowledge_blobs; KnowledgeFilesMissing, naming them, when any is not there intact."""
    def named(d: sa.Row) -> str:
        return f"{_old_path(root, d.sha256)} ({d.filename}, document {d.id})"

    problems = [f"{named(d)}: missing" for d in documents if not _old_path(root, d.sha256).is_file()]
    if not problems:  # the whole list first, so one run names every missing file
        for d in documents:
            if (found := _copy(bind, _old_path(root, d.sha256), d.sha256)) != d.sha256:
                problems.append(f"{named(d)}: altered, its sha256 is now {found}")
    if problems:
        shown = "; ".join(problems[:SHOWN]) + (f"; and {len(problems) - SHOWN} more" if len(problems) > SHOWN else "")
        raise errors.KnowledgeFilesMissing(f"{len(problems)} of {len(documents)} knowledge files cannot be moved: {shown}.")


def _copy(bind: sa.Connection, path: Path, sha256: str) -> str:
    """Write the file at path as the blob `sha256`, piece by piece; returns the sha256 of what was read."""
    digest = hashlib.sha256()
    size = 0
    bind.execute(sa.text("INSERT INTO knowledge_blobs (sha256, size_bytes) VALUES (:sha256, 0)"), {"sha256": sha256})
    insert = sa.text("INSERT INTO knowledge_blob_pieces (sha256, ordinal, data) VALUES (:sha256, :ordinal, :data)")
    with path.open("rb") as file:
        for ordinal, piece in enumerate(iter(lambda: file.read(PIECE_BYTES), b"")):
            digest.update(piece)
            size += len(piece)
            bind.execute(insert, {"sha256": sha256, "ordinal": ordinal, "data": piece})
    bind.execute(sa.text("UPDATE knowledge_blobs SET size_bytes = :size WHERE sha256 = :sha256"), {"size": size, "sha256": sha256})
    return digest.hexdigest()


def _write_back(bind: sa.Connection, root: Path, sha256: str) -> None:
    """Write the blob `sha256` to its old place under root, through a temporary file renamed into place."""
    target = _old_path(root, sha256)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=target.parent, prefix="restore-")
    query = sa.text("SELECT data FROM knowledge_blob_pieces WHERE sha256 = :sha256 ORDER BY ordinal").execution_options(yield_per=1)
    pieces = bind.execute(query, {"sha256": sha256})
    with os.fdopen(fd, "wb") as file:
        for (data,) in pieces:
            file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(name, target)
